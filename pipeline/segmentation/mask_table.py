"""A CSV of run-length masks as Kaggle ships them, read into each image's mask per class: one row per image (Carvana's
`img,rle_mask`, TGS Salt's `id,rle_mask` with empty cells for empty masks), or one row per image and class (Severstal's
`ImageId,ClassId,EncodedPixels`, listing only the masks there are; its older `ImageId_ClassId,EncodedPixels`, the class
joined to the image's id); or one row per region of an image (SIIM-ACR Pneumothorax's `ImageId, EncodedPixels`, an
image with several regions on several rows), whose mask is their union. Every cell is checked as it is read: a bad
run-length string, a class that is none of the competition's and an empty id are refused naming the file, the line
and the column; so is an (image, class) listed twice, unless the competition says that its rows are regions of one
mask (`union`): a CSV of one mask per row that lists a mask twice was appended to or mixes two annotations, which a
union would hide.

The cells kept are absolute run-length strings (rle.py), as written where the CSV writes them so and once alone on
their image and class; a relative cell, or the union of several, is written over as absolute."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.segmentation.rle import RleError, is_empty, runs, union


@dataclass
class MaskRows:
    """The images of a mask CSV in the order they first appear and, for each, every class's (line, cell): the CSV line
    of its row (0: none, an image or class the CSV does not list) and its run-length cell ("" for an empty mask)."""

    classes: int
    ids: list[str] = field(default_factory=list)
    cells: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    merged: int = 0  # rows joined to an earlier row of their image and class (union_rows)
    # union_rows: each (image, class)'s non-empty cells as its rows hold them, apart (touching ships' contact map)
    parts: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def add(self, key: str, klass: int | None = None, line: int = 0, cell: str = "") -> None:
        """Image `key`, with class `klass`'s cell from `line` (None: the image alone, every class empty)."""
        if key not in self.cells:
            self.ids.append(key)
            self.cells[key] = [(0, "")] * self.classes
        if klass is not None:
            self.cells[key][klass] = (line, cell)


def split_joined(key: str, joined: str) -> tuple[str, str]:
    """An id that joins an image and a class ("0002cc93b.jpg_1" with "_") -> (image, class); the class after the last
    separator, ("key", "") when there is none."""
    image, sep, klass = key.rpartition(joined)
    return (image, klass) if sep else (key, "")


def class_index(value: str, classes: tuple[str, ...], where: str, line: int, column: str) -> int:
    """The index of a class as written in `classes`, or an error naming the line and the column."""
    if value in classes:
        return classes.index(value)
    raise ContractError(
        f"{where} line {line}, column {column}: class {value!r} is not one of the competition's classes "
        f"({listed(list(classes), 10)}: FILES.classes)."
    )


def checked_cell(
    cell: object, where: str, line: int, column: str, size: int | None = None, encoding: str = "absolute"
) -> str:
    """A run-length cell in `encoding`, stripped ("" for an empty one), once its runs are well formed (and, given the
    image's pixel count `size`, inside it), as an absolute one (as written where it is one); else an error naming the
    line and the column."""
    if is_empty(cell):
        return ""
    text = str(cell).strip()
    try:
        runs(text, size, encoding)
    except RleError as e:
        raise ContractError(f"{where} line {line}, column {column}: {e} ({encoding} runs).") from None
    return text if encoding == "absolute" else union([text], encoding)


def read_mask_rows(
    frame: pd.DataFrame,
    where: str,
    id_column: str,
    rle_column: str,
    classes: tuple[str, ...],
    class_column: str | None = None,
    joined: str | None = None,
    encoding: str = "absolute",
    union_rows: bool = False,
) -> MaskRows:
    """Each image's cells from the CSV `where` (read as text): the class of a row in `class_column`, else after the
    separator `joined` in its id (several classes), else the one class; in `encoding`; several rows of one image and
    class their union where `union_rows`; refused as the module docstring says."""
    out = MaskRows(len(classes))
    split = class_column is None and joined is not None and len(classes) > 1
    if class_column is None and not split and len(classes) > 1:
        raise ContractError(f"{where}: {len(classes)} classes, but no class column and no joined ids name a row's.")
    first: dict[tuple[str, int], int] = {}
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2
        key = str(row[id_column]).strip()
        if not key:
            raise ContractError(f"{where} line {line}, column {id_column}: empty; every row names its image.")
        if class_column is not None:
            klass = class_index(str(row[class_column]).strip(), classes, where, line, class_column)
        elif split:
            key, value = split_joined(key, joined or "")
            klass = class_index(value, classes, where, line, id_column)
        else:
            klass = 0
        cell = checked_cell(row[rle_column], where, line, rle_column, None, encoding)
        if union_rows and cell:
            out.parts.setdefault((key, klass), []).append(cell)
        if (key, klass) in first:
            if not union_rows:
                what = f"{key} class {classes[klass]}" if len(classes) > 1 else key
                raise ContractError(
                    f"{where} line {line}: {what} is listed twice (first on line {first[key, klass]}); a mask CSV of "
                    "this layout holds one mask per image and class (where its rows are regions of one mask, a "
                    "competition's CsvMasks(union_rows=True) takes their union)."
                )
            cell = union([out.cells[key][klass][1], cell])
            out.merged += 1
        first.setdefault((key, klass), line)
        out.add(key, klass, first[key, klass], cell)
    return out
