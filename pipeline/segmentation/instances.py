"""Object instances of a semantic mask, and the F2 score over IoU thresholds that Airbus Ship Detection scores them by.

A submission of instances (Airbus's one row per ship) cuts each image's mask into its connected components (8-way
neighbours: a ship's diagonal pixels stay one ship), a component smaller than min_area pixels dropped, one row each.

Kaggle's metric (`image_f2`): at each IoU threshold t of THRESHOLDS (0.5, 0.55, ... 0.95) a predicted object whose
IoU with a true object is above t is a true positive (above 0.5, an object matches at most one other), a true object
none matches a false negative, a predicted object matching none a false positive; F2(t) = 5 TP / (5 TP + 4 FN + FP).
An image's score is the mean of F2(t) over the thresholds; one with no true and no predicted object scores 1, one
with none true and some predicted 0. The competition's score is the mean over the images (`mean_f2_iou`).

Out of fold, both sides are instances of the masks at the grid: the predicted mask cut at the threshold and cut into
components, the true objects the components of the union of an image's ships (ships that touch are one object
there, as the training target, the union, cannot tell them apart).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5, 0.55, ... 0.95
EIGHT_WAY = np.ones((3, 3), bool)  # a pixel's 8 neighbours join its component


def components(mask: np.ndarray, min_pixels: float = 0) -> list[np.ndarray]:
    """A 2-D mask's connected components (8-way), each a bool mask of its shape, in scan order; a component with
    fewer than `min_pixels` pixels dropped."""
    labels, n = ndimage.label(np.asarray(mask) > 0, structure=EIGHT_WAY)
    if not n:
        return []
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    return [labels == k for k in range(1, n + 1) if sizes[k] >= max(min_pixels, 1)]


def iou_matrix(truth: list[np.ndarray], pred: list[np.ndarray]) -> np.ndarray:
    """The IoU of every (true, predicted) pair of object masks of one image, (len(truth), len(pred))."""
    if not truth or not pred:
        return np.zeros((len(truth), len(pred)))
    t = np.stack([np.asarray(m, bool).ravel() for m in truth]).astype(np.float64)
    p = np.stack([np.asarray(m, bool).ravel() for m in pred]).astype(np.float64)
    inter = t @ p.T
    union = t.sum(axis=1)[:, None] + p.sum(axis=1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def image_f2(truth: list[np.ndarray], pred: list[np.ndarray]) -> float:
    """One image's F2 averaged over THRESHOLDS (the module docstring): 1 with no object on either side."""
    return f2_of_iou(iou_matrix(truth, pred))


def f2_of_iou(iou: np.ndarray) -> float:
    """One image's F2 averaged over THRESHOLDS from the IoU of its (true, predicted) objects, (true, predicted)."""
    if not iou.size:
        return 1.0 if not any(iou.shape) else 0.0  # none on either side: 1; some on one side only: 0
    scores = []
    for t in THRESHOLDS:
        hits = iou > t
        tp = int(hits.any(axis=1).sum())  # above 0.5 a true object matches one predicted object at most
        fn, fp = iou.shape[0] - tp, iou.shape[1] - int(hits.any(axis=0).sum())
        scores.append(5 * tp / (5 * tp + 4 * fn + fp))
    return float(np.mean(scores))


def mean_f2_iou(
    y_true: np.ndarray, pred: np.ndarray, grid: tuple[int, int], threshold: float = 0.5, min_pixels: float = 0
) -> float:
    """Airbus's score of masks at the grid (rows of gh * gw: truths 0/1, predictions probabilities): each image's
    true objects the components of its truth, its predicted ones the components of its prediction above `threshold`
    with at least `min_pixels` pixels; the mean of `image_f2` over the images (NaN for none)."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    if y_true.shape != pred.shape or y_true.ndim != 2 or y_true.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"f2_iou: predictions {pred.shape} and truths {y_true.shape} are not rows of a {grid} grid.")
    scores = [
        image_f2(components(t.reshape(grid) > 0.5), components(p.reshape(grid) > threshold, min_pixels))
        for t, p in zip(y_true, pred, strict=True)
    ]
    return float(np.mean(scores)) if scores else float("nan")
