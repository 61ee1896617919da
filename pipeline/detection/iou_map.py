"""Kaggle's box metric of Global Wheat Detection and RSNA Pneumonia Detection, on packed box arrays (boxes.py).

Per image and per IoU threshold t, the predictions are taken in order of confidence, highest first; each is a true
positive when its IoU with a ground-truth box not matched yet is greater than t (the one of highest IoU is matched),
else a false positive; ground-truth boxes left unmatched are false negatives. The image's precision at t is
TP / (TP + FP + FN), its score the mean over the thresholds, and the metric the mean over the images:

- `iou_map`: thresholds 0.5, 0.55, ... 0.75 (Global Wheat Detection);
- `iou_map40`: thresholds 0.4, 0.45, ... 0.75 (RSNA Pneumonia Detection).

Empty images, as both evaluation pages state: an image with no ground-truth box and any prediction scores 0 (every
prediction a false positive); one with boxes and no prediction scores 0; one with neither box nor prediction is left
out of the mean (RSNA's host confirmed it; 0 / 0 is no precision). A set of images none of which counts has no score
(NaN). Confidences only order the predictions: every box submitted counts, so a low-confidence box costs as much as
a confident one: a cut decides what is submitted (the Config's min_score, or the cut fitted out of fold,
box_cut.py, which `cut_scores` scores at every candidate at once). IoU is of continuous boxes: [x, x + w). Crowd
regions (boxes.CROWD) are no box here: a CSV of boxes has none.
"""

from __future__ import annotations

import numpy as np

from pipeline.detection.boxes import CROWD, unpack, xywh_to_xyxy

THRESHOLDS: dict[str, tuple[float, ...]] = {
    "iou_map": tuple(round(0.5 + 0.05 * i, 2) for i in range(6)),
    "iou_map40": tuple(round(0.4 + 0.05 * i, 2) for i in range(8)),
}


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xywh box of `a` (rows) with every one of `b` (columns)."""
    a, b = xywh_to_xyxy(a), xywh_to_xyxy(b)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _hits(iou: np.ndarray, t: float) -> np.ndarray:
    """Which predictions (the rows of `iou`, most confident first) are true positives at IoU threshold t: each takes
    the ground-truth box (column) not matched yet of highest IoU above t."""
    free = np.ones(iou.shape[1], dtype=bool)
    hit = np.zeros(len(iou), dtype=bool)
    for i, row in enumerate(iou):
        found = np.flatnonzero(free & (row > t))
        if len(found):
            free[found[np.argmax(row[found])]] = False
            hit[i] = True
    return hit


def image_score(truth: np.ndarray, pred: np.ndarray, scores: np.ndarray, thresholds: tuple[float, ...]) -> float | None:
    """One image's mean over `thresholds` of TP / (TP + FP + FN) (the module docstring); None when it has neither a
    ground-truth box nor a prediction (left out of the mean)."""
    truth, pred = np.asarray(truth, float).reshape(-1, 4), np.asarray(pred, float).reshape(-1, 4)
    if not len(truth) and not len(pred):
        return None
    if not len(truth) or not len(pred):
        return 0.0
    iou = pairwise_iou(pred[np.argsort(-np.asarray(scores, float), kind="stable")], truth)
    total = 0.0
    for t in thresholds:
        tp = int(_hits(iou, t).sum())
        total += tp / (len(pred) + len(truth) - tp)  # TP + FP + FN
    return total / len(thresholds)


def cut_scores(
    y_true: np.ndarray, pred: np.ndarray, cuts: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS["iou_map"]
) -> np.ndarray:
    """Each image's image_score with its predictions cut at each of `cuts` (those scored below a cut dropped, as
    boxes.drop_below drops them): (images, cuts), NaN where the image is left out of the mean. The boxes kept at a
    cut are the most confident ones, and the matching takes predictions most confident first, so one matching of all
    of them gives every cut's true positives (a prefix of it): the cost of one iou_map, whatever the cuts."""
    y_true, pred = np.atleast_2d(np.asarray(y_true, float)), np.atleast_2d(np.asarray(pred, float))
    if len(y_true) != len(pred):
        raise ValueError(f"cut_scores: {len(y_true)} ground-truth rows but {len(pred)} prediction rows.")
    cuts = np.asarray(cuts, float).reshape(-1)
    out = np.zeros((len(y_true), len(cuts)))
    for i, (t_row, p_row) in enumerate(zip(y_true, pred, strict=True)):
        truth, t_scores, _ = unpack(t_row)
        truth = truth[t_scores != CROWD]
        boxes, scores, _ = unpack(p_row)
        order = np.argsort(-scores, kind="stable")
        kept = (scores[order][:, None] >= cuts[None, :]).sum(axis=0)  # predictions kept at each cut
        if not len(truth):
            out[i] = np.where(kept == 0, np.nan, 0.0)
            continue
        if not len(boxes):
            continue  # boxes and no prediction: 0 at every cut
        iou = pairwise_iou(boxes[order], truth)
        tp = np.stack([np.concatenate([[0], np.cumsum(_hits(iou, t))]) for t in thresholds])[:, kept]
        found = tp / np.maximum(kept + len(truth) - tp, 1)  # thresholds x cuts; kept 0: tp 0, so 0
        out[i] = found.mean(axis=0)
    return out


def iou_map(y_true: np.ndarray, pred: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS["iou_map"]) -> float:
    """The mean of image_score over the images (rows of packed boxes) that count; NaN when none does."""
    y_true, pred = np.atleast_2d(np.asarray(y_true, float)), np.atleast_2d(np.asarray(pred, float))
    if len(y_true) != len(pred):
        raise ValueError(f"iou_map: {len(y_true)} ground-truth rows but {len(pred)} prediction rows.")
    found = []
    for t_row, p_row in zip(y_true, pred, strict=True):
        truth, t_scores, _ = unpack(t_row)
        boxes, scores, _ = unpack(p_row)
        score = image_score(truth[t_scores != CROWD], boxes, scores, thresholds)
        if score is not None:
            found.append(score)
    return float(np.mean(found)) if found else float("nan")
