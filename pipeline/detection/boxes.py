"""Boxes as numbers: every image is one row of K slots [x_min, y_min, width, height, score, class], NaN-padded.

Detection predictions and ground truth travel through the runner (folds, OOF/test .npy files, resume, blending) as
plain float arrays of shape (images, K * 6), so nothing in the runner needs to know about boxes. Coordinates are
pixels of the original image (COCO's [x, y, w, h]); `class` is a 0-based class index; ground truth has score 1, or
CROWD for a crowd region (COCO's iscrowd=1: one box around many objects), which is no training target and which the
metric ignores, as COCO does: a detection inside it is neither a true nor a false positive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SLOT = 6  # x, y, w, h, score, class
CROWD = -1.0  # the score of a ground-truth crowd region (no prediction scores below 0)


def pack(
    boxes: Sequence[np.ndarray], scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], k: int | None = None
) -> np.ndarray:
    """Per-image xywh boxes, scores and class indices -> (n, k*6) float64; the k best scores kept per image."""
    counts = [len(b) for b in boxes]
    k = max(counts, default=0) if k is None else k
    out = np.full((len(boxes), max(k, 1) * SLOT), np.nan)
    for i, (b, s, c) in enumerate(zip(boxes, scores, labels, strict=True)):
        b, s, c = np.asarray(b, float).reshape(-1, 4), np.asarray(s, float).reshape(-1), np.asarray(c).reshape(-1)
        order = np.argsort(-s, kind="stable")[:k]
        rows = np.column_stack([b[order], s[order], c[order].astype(float)])
        out[i, : rows.size] = rows.ravel()
    return out


def unpack(row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One packed row -> (xywh boxes (m, 4), scores (m,), integer classes (m,)), padding dropped."""
    slots = np.asarray(row, float).reshape(-1, SLOT)
    slots = slots[np.isfinite(slots).all(1)]
    return slots[:, :4], slots[:, 4], slots[:, 5].astype(np.int64)


def unpack_all(arr: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """unpack() for every row."""
    return [unpack(r) for r in np.atleast_2d(arr)]


def drop_below(arr: np.ndarray, low: float) -> np.ndarray:
    """Packed boxes less those scored below `low` (none dropped when `low` <= 0: the same array); the width kept."""
    arr = np.atleast_2d(np.asarray(arr, float))
    if low <= 0:
        return arr
    boxes, scores, classes = [], [], []
    for b, s, c in unpack_all(arr):
        keep = s >= low
        boxes.append(b[keep])
        scores.append(s[keep])
        classes.append(c[keep])
    return pack(boxes, scores, classes, k=max(arr.shape[1] // SLOT, 1))


def count(arr: np.ndarray) -> np.ndarray:
    """Boxes per image."""
    slots = np.asarray(arr, float).reshape(len(arr), -1, SLOT)
    return np.isfinite(slots).all(2).sum(1)


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """[x, y, w, h] -> [x1, y1, x2, y2]."""
    b = np.asarray(b, float).reshape(-1, 4)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]])


def xyxy_to_xywh(b: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] -> [x, y, w, h]."""
    b = np.asarray(b, float).reshape(-1, 4)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def clip_xywh(b: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip xywh boxes to the image; boxes may come out with zero size (callers drop them)."""
    xyxy = xywh_to_xyxy(b)
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
    return xyxy_to_xywh(xyxy)
