"""A CSV of run-length masks as Kaggle ships them, read into each image's mask per class: one row per image (Carvana's
`img,rle_mask`, TGS Salt's `id,rle_mask` with empty cells for empty masks), or one row per image and class (Severstal's
`ImageId,ClassId,EncodedPixels`, listing only the masks there are; its older `ImageId_ClassId,EncodedPixels`, the class
joined to the image's id). Every cell is checked as it is read: a bad run-length string, a class that is none of the
competition's, an (image, class) listed twice and an empty id are refused naming the file, the line and the column."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.segmentation.rle import RleError, is_empty, runs


@dataclass
class MaskRows:
    """The images of a mask CSV in the order they first appear and, for each, every class's (line, cell): the CSV line
    of its row (0: none, an image or class the CSV does not list) and its run-length cell ("" for an empty mask)."""

    classes: int
    ids: list[str] = field(default_factory=list)
    cells: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

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


def checked_cell(cell: object, where: str, line: int, column: str, size: int | None = None) -> str:
    """A run-length cell as written, stripped ("" for an empty one), once its runs are well formed (and, given the
    image's pixel count `size`, inside it); else an error naming the line and the column."""
    if is_empty(cell):
        return ""
    text = str(cell).strip()
    try:
        runs(text, size)
    except RleError as e:
        raise ContractError(f"{where} line {line}, column {column}: {e}.") from None
    return text


def read_mask_rows(
    frame: pd.DataFrame,
    where: str,
    id_column: str,
    rle_column: str,
    classes: tuple[str, ...],
    class_column: str | None = None,
    joined: str | None = None,
) -> MaskRows:
    """Each image's cells from the CSV `where` (read as text): the class of a row in `class_column`, else after the
    separator `joined` in its id (several classes), else the one class; refused as the module docstring says."""
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
        if (key, klass) in first:
            what = f"{key} class {classes[klass]}" if len(classes) > 1 else key
            raise ContractError(
                f"{where} line {line}: {what} is listed twice (first on line {first[key, klass]}); a mask CSV holds "
                "one mask per image and class (instances of one class are one mask: merge their runs)."
            )
        first[key, klass] = line
        out.add(key, klass, line, checked_cell(row[rle_column], where, line, rle_column))
    return out
