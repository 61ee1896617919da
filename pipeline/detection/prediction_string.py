"""Kaggle's PredictionString submission of boxes (Global Wheat Detection, RSNA Pneumonia Detection): one row per
image of the sample submission, in its order, `id,PredictionString` with "conf x y w h conf x y w h ..." (pixels of
the original image, x and y the top-left corner), an empty cell for an image with no box. Written from packed boxes
(boxes.py) and validated before anything reaches submissions/.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import write_text
from pipeline.detection.boxes import unpack, xywh_to_xyxy
from pipeline.submission import SubmissionError, read_against_sample

TOLERANCE = 0.01  # pixels a written box may reach past the border (its corners are rounded to 0.1 px)


def _number(value: float) -> str:
    """A coordinate as written: a tenth of a pixel at most, no trailing zeros (834, 12.5)."""
    return f"{round(float(value), 1):g}"


def prediction_string(boxes: np.ndarray, scores: np.ndarray, width: float, height: float) -> str:
    """One image's cell: its xywh boxes clipped to the width x height image (boxes left with no area dropped),
    highest confidence first, each "conf x y w h" with the confidence in [0, 1] to 4 decimals."""
    xyxy = xywh_to_xyxy(boxes)
    xyxy[:, [0, 2]] = np.round(xyxy[:, [0, 2]].clip(0, width), 1)
    xyxy[:, [1, 3]] = np.round(xyxy[:, [1, 3]].clip(0, height), 1)
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    xyxy, scores = xyxy[keep], np.clip(np.asarray(scores, float)[keep], 0.0, 1.0)
    parts = []
    for i in np.argsort(-scores, kind="stable"):
        x1, y1, x2, y2 = xyxy[i]
        parts.append(f"{scores[i]:.4f} {_number(x1)} {_number(y1)} {_number(x2 - x1)} {_number(y2 - y1)}")
    return " ".join(parts)


def write(path: Path, ids: Sequence[str], pred: np.ndarray, sizes: np.ndarray, columns: tuple[str, str]) -> None:
    """The submission of packed test boxes `pred` (one row per id, in the sample's order), each image's boxes clipped to
    its (width, height) in `sizes`; `columns`: the sample's header (id, PredictionString). Written atomically."""
    pred = np.atleast_2d(np.asarray(pred, float))
    if len(pred) != len(ids):
        raise SubmissionError(f"{len(pred)} prediction rows for {len(ids)} images to predict.")
    cells = []
    for row, (w, h) in zip(pred, sizes, strict=True):
        boxes, scores, _ = unpack(row)
        cells.append(prediction_string(boxes, scores, float(w), float(h)))
    frame = pd.DataFrame({columns[0]: list(ids), columns[1]: cells})
    write_text(path, frame.to_csv(index=False))


def cell_problem(cell: str, width: float, height: float) -> str | None:
    """What is wrong with one PredictionString cell of a width x height image (None: nothing)."""
    tokens = cell.split()
    if len(tokens) % 5:
        return f"{len(tokens)} numbers, not groups of five (conf x y w h)"
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        return f"{bad!r} is no number"
    for k in range(0, len(values), 5):
        conf, x, y, w, h = values[k : k + 5]
        box = " ".join(tokens[k : k + 5])
        if not all(math.isfinite(v) for v in values[k : k + 5]):
            return f"box {k // 5 + 1} ({box}) holds a value that is not finite"
        if not 0.0 <= conf <= 1.0:
            return f"box {k // 5 + 1} ({box}): confidence {conf:g} is not in [0, 1]"
        if w <= 0 or h <= 0:
            return f"box {k // 5 + 1} ({box}) has no area"
        if x < -TOLERANCE or y < -TOLERANCE or x + w > width + TOLERANCE or y + h > height + TOLERANCE:
            return f"box {k // 5 + 1} ({box}) reaches past the {width:g}x{height:g} image"
    return None


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def validate(path: Path, sample: Path, sizes: dict[str, tuple[float, float]]) -> int:
    """Check a submission against the sample: its header, its ids (each once, in the sample's order) and every
    PredictionString (groups of five numbers, confidences in [0, 1], boxes with area inside their image; empty for no
    box); `sizes`: each id's (width, height). Returns the number of boxes."""
    path = Path(path)
    _, sub = read_against_sample(path, sample)
    id_col, col = str(sub.columns[0]), str(sub.columns[1])
    boxes = 0
    for i, (key, cell) in enumerate(zip(sub[id_col], sub[col].fillna(""), strict=True)):
        w, h = sizes[str(key).strip()]
        if (problem := cell_problem(str(cell), w, h)) is not None:
            raise SubmissionError(f"{path.name} line {i + 2} ({id_col} {key}), column {col}: {problem}.")
        boxes += len(str(cell).split()) // 5
    return boxes
