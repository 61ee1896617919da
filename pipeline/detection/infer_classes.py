"""What `python -m pipeline new` infers of the classes of a CSV of boxes with several (VinBigData Chest X-ray
Abnormalities Detection: `class_name` and `class_id` beside each box, a "No finding" row of empty box cells for an
image with nothing, a sample submission whose every cell is "14 1 0 0 1 1"): the class column, each class and the
token the submission writes for it (the ids where there are ids, as the sample writes them), the boxes of each, and
an image-level "nothing here" class when the sample's default prediction names a class no box has.

A download of one class (Global Wheat, RSNA Pneumonia) is read as before, by infer.py's one-class rule: `one_class`
here says whether it is one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.detection.box_table import cell_error
from pipeline.listing import listed

NAME_WORDS = ("class_name", "class", "label", "category", "category_name", "label_name")
ID_WORDS = ("class_id", "category_id", "label_id")


@dataclass
class Classes:
    """The classes of the boxes: the class column read, each of its values -> the token written, boxes per class."""

    column: str
    tokens: dict[str, str]
    counts: dict[str, int]
    nothing: str | None = None  # the token of the image-level "nothing here" class
    nothing_name: str | None = None


def class_columns(header: list[str]) -> tuple[str | None, str | None]:
    """The column of class names and the column of class ids of a header (None where it has none)."""
    low = {c.lower().strip(): c for c in header}
    name = next((low[w] for w in NAME_WORDS if w in low), None)
    ids = next((low[w] for w in ID_WORDS if w in low), None)
    return name, ids


def sample_groups(cells: pd.Series) -> tuple[int | None, list[str]]:
    """How many numbers a group of the sample's default PredictionString holds (6: "class conf box", 5: "conf box",
    None: no default to tell), and the first token of each of its groups."""
    filled = cells[cells.str.strip() != ""]
    if filled.empty:
        return None, []
    tokens = str(filled.value_counts().index[0]).split()
    n = 6 if len(tokens) % 6 == 0 and len(tokens) % 5 else 5 if len(tokens) % 5 == 0 else None
    return n, tokens[::6] if n == 6 else []


def one_class(frame: pd.DataFrame, boxed: pd.Series, groups: int | None) -> bool:
    """Whether the boxes are of one class written without it: no class column, or one holding one value on the
    rows with a box, and a sample that writes no class first."""
    name, ids = class_columns([str(c) for c in frame.columns])
    column = name or ids
    if column is None:
        return True
    return groups != 6 and len(set(frame.loc[boxed, column]) - {""}) <= 1


def _pairs(frame: pd.DataFrame, where: str, name: str, ids: str) -> dict[str, str]:
    """Each class name -> its id, the same on every row; a name of two ids, or an id of two names, refused."""
    seen: dict[str, tuple[str, int]] = {}
    back: dict[str, tuple[str, int]] = {}
    for i, (n, k) in enumerate(zip(frame[name].str.strip(), frame[ids].str.strip(), strict=True)):
        if not n or not k:  # a row with a box and no class is refused as the boxes are read
            continue
        for table, key, value, column in ((seen, n, k, ids), (back, k, n, name)):
            first = table.setdefault(key, (value, i + 2))
            if first[0] != value:
                raise ContractError(
                    f"{where} line {i + 2}: {key!r} has {column} {value!r}, but {first[0]!r} on line {first[1]}; "
                    f"each class has one {name} and one {ids}."
                )
    return {n: k for n, (k, _) in seen.items()}


def _order(tokens: dict[str, str]) -> list[str]:
    """The classes in the order of their tokens: numerically where every token is an integer, else by text."""
    if all(t.lstrip("-").isdigit() for t in tokens.values()):
        return sorted(tokens, key=lambda c: int(tokens[c]))
    return sorted(tokens, key=lambda c: tokens[c])


def read_classes(
    frame: pd.DataFrame, where: str, boxed: pd.Series, sample: str, groups: tuple[int | None, list[str]]
) -> Classes:
    """The classes of the boxes of CSV `where` (`boxed`: its rows with a box) and how the sample `sample` writes
    them (`groups`: sample_groups'); a sample that writes no class for boxes of several, or names no column of
    classes, is refused."""
    name, ids = class_columns([str(c) for c in frame.columns])
    column = name or ids
    size, firsts = groups
    if column is None:
        raise ContractError(f"{sample}: its PredictionString writes a class first, but {where} has no class column.")
    on_boxes = frame.loc[boxed, column].str.strip()
    if (on_boxes == "").any():
        line = int(np.flatnonzero(boxed.to_numpy() & (frame[column].str.strip() == "").to_numpy())[0]) + 2
        raise cell_error(where, line, column, "", "is no class, on a row with a box")  # read_box_rows' words
    counts = on_boxes.value_counts()
    if size == 5:
        shown = listed([f"{c} ({counts[c]})" for c in sorted(counts.index)], 6)
        raise ContractError(
            f"{sample}: its PredictionString writes groups of five (conf x y w h), no class, but {where}'s column "
            f"{column} holds {len(counts)} classes of boxes ({shown}); write the class first in a copy of the sample "
            '("class conf x y w h"), or keep the rows of one class in a copy of the CSV.'
        )
    pairs = _pairs(frame, where, name, ids) if name and ids else {c: c for c in frame[column].str.strip() if c}
    names_written = bool(firsts) and all(t in pairs for t in firsts) and not all(t in pairs.values() for t in firsts)
    tokens = {c: (c if names_written else pairs[c]) for c in counts.index}
    spaced = [t for t in tokens.values() if " " in t]
    if spaced:
        raise ContractError(
            f"{where}'s column {column}: the class {spaced[0]!r} is no one word a PredictionString can hold; give the "
            "classes ids of one word (a class_id column) in a copy of the CSV."
        )
    ordered = _order(tokens)
    found = Classes(column, {c: tokens[c] for c in ordered}, {c: int(counts[c]) for c in ordered})
    unseen = [t for t in firsts if t not in found.tokens.values()]
    if unseen:
        found.nothing = unseen[0]
        found.nothing_name = next((n for n, k in pairs.items() if k == unseen[0] or n == unseen[0]), unseen[0])
    return found
