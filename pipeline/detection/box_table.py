"""A CSV of boxes as Kaggle ships them, one row per box: Global Wheat's train.csv (`image_id,width,height,bbox,source`,
bbox "[834.0, 222.0, 56.0, 36.0]"), RSNA Pneumonia's stage_2_train_labels.csv (`patientId,x,y,width,height,Target`,
a Target 0 row an image with no box, its box cells empty) or VinBigData's train.csv
(`image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max`, corners, a class a box, a "No finding" row of empty
box cells an image with no box). Read into each image's boxes (x, y, width, height) and their classes, every cell
checked: a cell that is no box is refused naming the file, the line and the column."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.contract import ContractError
from pipeline.imagefiles import is_image

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
BBOX = re.compile(rf"^\s*\[\s*({NUMBER})\s*,\s*({NUMBER})\s*,\s*({NUMBER})\s*,\s*({NUMBER})\s*\]\s*$")
BBOX_TEXT = "[x, y, width, height]"


@dataclass
class BoxRows:
    """The images of a box CSV in the order they first appear, each image's boxes with the CSV line of each, and
    their classes and readers as written (the class column's and the reader column's, "" without one), in the same
    order."""

    ids: list[str] = field(default_factory=list)
    boxes: dict[str, list[tuple[int, tuple[float, float, float, float]]]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    readers: dict[str, list[str]] = field(default_factory=dict)

    def add(
        self, key: str, line: int, box: tuple[float, float, float, float] | None, label: str = "", reader: str = ""
    ) -> None:
        """Image `key` (listed on `line`), with `box` (of class `label`, drawn by `reader`) or with none."""
        if key not in self.boxes:
            self.ids.append(key)
            self.boxes[key] = []
            self.labels[key] = []
            self.readers[key] = []
        if box is not None:
            self.boxes[key].append((line, box))
            self.labels[key].append(label)
            self.readers[key].append(reader)


def parse_bbox(cell: str) -> tuple[float, float, float, float] | None:
    """A "[x, y, w, h]" cell as four numbers; None when it is not one."""
    found = BBOX.match(cell)
    return None if found is None else tuple(float(v) for v in found.groups())  # type: ignore[return-value]


def cell_error(where: str, line: int, column: str, cell: str, why: str) -> ContractError:
    """The refusal of one cell of a box CSV, naming the file, its line and column, and the cell as written."""
    return ContractError(f"{where} line {line}, column {column}: {cell!r} {why}.")


def _row_box(
    row: dict[str, str], where: str, line: int, bbox: str | None, xywh: tuple[str, ...], xyxy: bool = False
) -> tuple[float, float, float, float] | None:
    """The box of one row as x, y, width, height (None: the row lists its image with no box: empty cells), checked;
    `xyxy`: the four columns are the corners x_min, y_min, x_max, y_max."""
    if bbox is not None:
        cell = str(row[bbox])
        if not cell.strip():
            return None
        box = parse_bbox(cell)
        if box is None:
            raise cell_error(where, line, bbox, cell, f"is not a box {BBOX_TEXT} of four numbers")
        column = bbox
    else:
        cells = [str(row[c]).strip() for c in xywh]
        if not any(cells):
            return None
        values = []
        for c, cell in zip(xywh, cells, strict=True):
            try:
                values.append(float(cell))
            except ValueError:
                raise cell_error(where, line, c, cell, "is no number (the box's other cells are filled)") from None
        box, column = (values[0], values[1], values[2], values[3]), "/".join(xywh)
        if xyxy:
            if not all(math.isfinite(v) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
                why = f"is no box: {xywh[2]} and {xywh[3]} must be above {xywh[0]} and {xywh[1]}"
                raise cell_error(where, line, column, str(list(box)), why)
            box = (box[0], box[1], box[2] - box[0], box[3] - box[1])
    if not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
        why = "is no box: its width and height must be positive numbers"
        raise cell_error(where, line, column, str(list(box)), why)
    return box


def read_box_rows(
    frame: pd.DataFrame,
    where: str,
    id_column: str,
    bbox: str | None,
    xywh: tuple[str, ...],
    target: str | None,
    xyxy: bool = False,
    class_column: str | None = None,
    reader_column: str | None = None,
) -> BoxRows:
    """Each image's boxes from the CSV `where` (read as text, every cell as written): its box in column `bbox`
    ("[x, y, w, h]") or in the four columns `xywh` (`xyxy`: the corners x_min, y_min, x_max, y_max); a row of empty
    box cells lists its image with no box. `target` (RSNA's Target): 1 on a row with a box, 0 on a row without.
    `class_column`: each box's class, a row with a box and an empty class refused (a row without one: any class).
    `reader_column`: who drew each box (readers.py), as written (an empty cell: a reader of its own)."""
    out = BoxRows()
    for i, cells in enumerate(frame.to_dict("records")):
        line = i + 2
        key = str(cells[id_column]).strip()
        if not key:
            raise ContractError(f"{where} line {line}: empty {id_column}; every row names its image.")
        box = _row_box(cells, where, line, bbox, xywh, xyxy)
        label = str(cells[class_column]).strip() if class_column is not None else ""
        if class_column is not None and box is not None and not label:
            raise cell_error(where, line, class_column, label, "is no class, on a row with a box")
        if target is not None:
            flag = str(cells[target]).strip()
            if flag not in ("0", "1"):
                raise cell_error(where, line, target, flag, "is neither 1 (a box) nor 0 (no box)")
            if (flag == "1") != (box is not None):
                has = "no box" if box is None else "a box"
                raise cell_error(where, line, target, flag, f"disagrees with the row, which holds {has}")
        reader = str(cells[reader_column]).strip() if reader_column is not None else ""
        out.add(key, line, box, label, reader)
    return out


def unlisted_images(data_dir: Path, pattern: str | tuple[str, ...], listed: set[str]) -> list[str]:
    """The ids of the images in the folder of the first `pattern` ("train/{}.jpg") with its suffix that the CSV does
    not list (Global Wheat's train/ holds images with no box, which train.csv leaves out), sorted."""
    first = pattern if isinstance(pattern, str) else pattern[0]
    folder, _, suffix = first.partition("{}")
    root = Path(data_dir) / folder
    if not folder or "/" in suffix or not root.is_dir():  # "{}": an id is a path, of no one folder
        return []
    names = [p.name for p in root.iterdir() if p.is_file() and is_image(p.name) and p.name.endswith(suffix)]
    found = (name[: len(name) - len(suffix)] for name in names)
    return sorted(k for k in found if k and k not in listed and not k.startswith("."))
