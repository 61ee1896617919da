"""Kaggle's PredictionString submission of boxes: one row per image of the sample submission, in its order,
`id,PredictionString`, the boxes in pixels of the original image. Global Wheat Detection and RSNA Pneumonia Detection
write "conf x y w h conf x y w h ..." (x and y the top-left corner), an empty cell for an image with no box;
VinBigData writes the class first and the corners, "class conf x_min y_min x_max y_max ..." (a Layout), with an
image-level "nothing here" class predicted as a 1x1 box at the corner ("14 1 0 0 1 1"). Written from packed boxes
(boxes.py) and validated before anything reaches submissions/.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import write_text
from pipeline.detection.boxes import unpack, xywh_to_xyxy
from pipeline.submission import SubmissionError, is_number, read_against_sample

TOLERANCE = 0.01  # pixels a written box may reach past the border (its corners are rounded to 0.1 px)


@dataclass(frozen=True)
class Layout:
    """A cell's groups: with `classes` (the token written for each class index) "class conf box", else "conf box";
    the box as corners x_min y_min x_max y_max (`xyxy`) or x y w h; `nothing`, the token of an image-level "nothing
    here" class (voc_map.with_nothing) written on every image as a NOTHING_BOX at voc_map.nothing_score."""

    classes: tuple[str, ...] | None = None
    xyxy: bool = False
    nothing: str | None = None

    @property
    def size(self) -> int:
        """Numbers a group (class, confidence and four coordinates, or five without the class)."""
        return 5 if self.classes is None else 6

    def known(self) -> set[str]:
        """The class tokens a cell may hold."""
        return {*(self.classes or ()), *([self.nothing] if self.nothing is not None else [])}

    def text(self) -> str:
        """The group as the submission writes it ("class conf x_min y_min x_max y_max")."""
        box = "x_min y_min x_max y_max" if self.xyxy else "x y w h"
        return ("" if self.classes is None else "class ") + f"conf {box}"


def _number(value: float) -> str:
    """A coordinate as written: a tenth of a pixel at most, no trailing zeros (834, 12.5)."""
    return f"{round(float(value), 1):g}"


def _clipped(boxes: np.ndarray, width: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """xywh boxes as corners clipped to the width x height image and rounded to 0.1 px, and which keep an area."""
    xyxy = xywh_to_xyxy(boxes)
    xyxy[:, [0, 2]] = np.round(xyxy[:, [0, 2]].clip(0, width), 1)
    xyxy[:, [1, 3]] = np.round(xyxy[:, [1, 3]].clip(0, height), 1)
    return xyxy, (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])


def prediction_string(boxes: np.ndarray, scores: np.ndarray, width: float, height: float) -> str:
    """One image's cell: its xywh boxes clipped to the width x height image (boxes left with no area dropped),
    highest confidence first, each "conf x y w h" with the confidence in [0, 1] to 4 decimals."""
    xyxy, keep = _clipped(boxes, width, height)
    xyxy, scores = xyxy[keep], np.clip(np.asarray(scores, float)[keep], 0.0, 1.0)
    parts = []
    for i in np.argsort(-scores, kind="stable"):
        x1, y1, x2, y2 = xyxy[i]
        parts.append(f"{scores[i]:.4f} {_number(x1)} {_number(y1)} {_number(x2 - x1)} {_number(y2 - y1)}")
    return " ".join(parts)


def class_string(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, width: float, height: float, layout: Layout
) -> str:
    """One image's cell in a Layout with classes: each box (clipped as prediction_string clips it) as "class conf
    x_min y_min x_max y_max" (or "class conf x y w h"), and the "nothing here" box, highest confidence first: at the
    confidence of the box of its class index (len(classes)) where one was predicted (pipeline/detection/nothing.py),
    else at nothing_score."""
    from pipeline.detection.voc_map import NOTHING_BOX, nothing_score

    assert layout.classes is not None
    labels, scores = np.asarray(labels), np.asarray(scores, float)
    given = labels == len(layout.classes)
    nothing = float(scores[given][0]) if given.any() else nothing_score(scores)
    boxes, scores, labels = np.asarray(boxes, float).reshape(-1, 4)[~given], scores[~given], labels[~given]
    xyxy, keep = _clipped(boxes, width, height)
    tokens = [layout.classes[int(c)] for c in labels[keep]]
    xyxy, kept = xyxy[keep], np.clip(scores[keep], 0.0, 1.0)
    if layout.nothing is not None:
        x, y, w, h = NOTHING_BOX
        xyxy = np.vstack([xyxy, [x, y, x + w, y + h]])
        kept, tokens = np.append(kept, np.clip(nothing, 0.0, 1.0)), [*tokens, layout.nothing]
    parts = []
    for i in np.argsort(-kept, kind="stable"):
        x1, y1, x2, y2 = xyxy[i]
        box = (x1, y1, x2, y2) if layout.xyxy else (x1, y1, x2 - x1, y2 - y1)
        parts.append(f"{tokens[i]} {kept[i]:.4f} " + " ".join(_number(v) for v in box))
    return " ".join(parts)


def write(
    path: Path,
    ids: Sequence[str],
    pred: np.ndarray,
    sizes: np.ndarray,
    columns: tuple[str, str],
    layout: Layout | None = None,
) -> None:
    """The submission of packed test boxes `pred` (one row per id, in the sample's order), each image's boxes clipped to
    its (width, height) in `sizes`; `columns`: the sample's header (id, PredictionString); `layout`: the cell's groups
    (None: "conf x y w h"). Written atomically."""
    pred = np.atleast_2d(np.asarray(pred, float))
    if len(pred) != len(ids):
        raise SubmissionError(f"{len(pred)} prediction rows for {len(ids)} images to predict.")
    cells = []
    for row, (w, h) in zip(pred, sizes, strict=True):
        boxes, scores, labels = unpack(row)
        if layout is not None and layout.classes is not None:
            cells.append(class_string(boxes, scores, labels, float(w), float(h), layout))
        else:
            cells.append(prediction_string(boxes, scores, float(w), float(h)))
    frame = pd.DataFrame({columns[0]: list(ids), columns[1]: cells})
    write_text(path, frame.to_csv(index=False))


def cell_problem(cell: str, width: float, height: float, layout: Layout | None = None) -> str | None:
    """What is wrong with one PredictionString cell of a width x height image (None: nothing); `layout`: the cell's
    groups (None: "conf x y w h")."""
    layout = layout or Layout()
    tokens, n = cell.split(), layout.size
    if len(tokens) % n:
        words = "five" if n == 5 else "six"
        return f"{len(tokens)} numbers, not groups of {words} ({layout.text()})"
    for k in range(0, len(tokens), n):
        group = tokens[k : k + n]
        if n == 6 and group[0] not in layout.known():
            return f"box {k // n + 1} ({' '.join(group)}): class {group[0]!r} is not one of {_known(layout)}"
        if (problem := _group_problem(group[n - 5 :], width, height, layout.xyxy)) is not None:
            return f"box {k // n + 1} ({' '.join(group)}){problem}"
    return None


def _known(layout: Layout) -> str:
    known = sorted(layout.known())
    return ", ".join(known[:20]) + (f" ... ({len(known)} classes)" if len(known) > 20 else "")


def _group_problem(tokens: list[str], width: float, height: float, xyxy: bool) -> str | None:
    """What is wrong with one group's "conf x y w h" (or corners): the text after the box's number, None if nothing."""
    bad = next((t for t in tokens if not is_number(t)), None)
    if bad is not None:
        return f": {bad!r} is no number"
    conf, x, y, w, h = (float(t) for t in tokens)
    if xyxy:
        w, h = w - x, h - y
    if not all(math.isfinite(v) for v in (conf, x, y, w, h)):
        return " holds a value that is not finite"
    if not 0.0 <= conf <= 1.0:
        return f": confidence {conf:g} is not in [0, 1]"
    if w <= 0 or h <= 0:
        return " has no area"
    if x < -TOLERANCE or y < -TOLERANCE or x + w > width + TOLERANCE or y + h > height + TOLERANCE:
        return f" reaches past the {width:g}x{height:g} image"
    return None


def validate(path: Path, sample: Path, sizes: dict[str, tuple[float, float]], layout: Layout | None = None) -> int:
    """Check a submission against the sample: its header, its ids (each once, in the sample's order) and every
    PredictionString (groups of five numbers, or of six with a known class first in a `layout` of classes;
    confidences in [0, 1], boxes with area inside their image; empty for no box); `sizes`: each id's (width,
    height). Returns the number of boxes."""
    path = Path(path)
    _, sub = read_against_sample(path, sample)
    id_col, col = str(sub.columns[0]), str(sub.columns[1])
    boxes = 0
    for i, (key, cell) in enumerate(zip(sub[id_col], sub[col].fillna(""), strict=True)):
        w, h = sizes[str(key).strip()]
        if (problem := cell_problem(str(cell), w, h, layout)) is not None:
            raise SubmissionError(f"{path.name} line {i + 2} ({id_col} {key}), column {col}: {problem}.")
        boxes += len(str(cell).split()) // (layout or Layout()).size
    return boxes
