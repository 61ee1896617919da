"""Mean Dice as Kaggle's segmentation competitions score it (Carvana, Severstal, TGS Salt, HuBMAP): the Dice of each
(image, class) pair, 2 |truth & predicted| / (|truth| + |predicted|), with an empty truth and an empty prediction
scoring 1, averaged over every pair.

Masks travel flat, class-major at the grid: a row of `classes * gh * gw` values (`row.reshape(classes, gh, gw)`),
truths 0/1, predictions per-pixel probabilities. A prediction is cut first: a pixel is in above `threshold`, and a
class's mask on an image with fewer than `min_pixels` pixels in is dropped (Severstal's trick against false
positives). `pair_dice` gives each pair's Dice, which a search of the cut per class reuses: the mean of a class's
column at each candidate cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CHUNK = 256  # images cut and scored at a time: Severstal's 12,568 x 4 masks at the grid would take gigabytes at once


def _per_class(value: float | Sequence[float] | np.ndarray, classes: int, name: str) -> np.ndarray:
    """A cut setting as one value per class (a single value for every class)."""
    out = np.broadcast_to(np.asarray(value, float), (classes,)) if np.ndim(value) == 0 else np.asarray(value, float)
    if out.shape != (classes,):
        raise ValueError(f"{name}: one value or one per class ({classes}); got {len(out)}.")
    return out


def as_masks(flat: np.ndarray, classes: int) -> np.ndarray:
    """Rows of `classes * gh * gw` values -> (n, classes, gh * gw), refusing a row that does not divide evenly."""
    flat = np.asarray(flat)
    if flat.ndim != 2 or classes < 1 or flat.shape[1] % classes:
        raise ValueError(f"masks: rows of {classes} classes x grid pixels expected; got shape {flat.shape}.")
    return flat.reshape(len(flat), classes, -1)


def cut(
    pred: np.ndarray,
    classes: int,
    threshold: float | Sequence[float] = 0.5,
    min_pixels: float | Sequence[float] = 0,
) -> np.ndarray:
    """Probabilities (n, classes * P) -> bool masks (n, classes, P): in above `threshold`, a class's mask with fewer
    than `min_pixels` pixels in emptied. Each setting is one value or one per class."""
    probs = as_masks(pred, classes)
    t = _per_class(threshold, classes, "threshold")
    m = _per_class(min_pixels, classes, "min_pixels")
    masks = probs > t[None, :, None]
    small = masks.sum(axis=2) < m[None, :]
    masks[small] = False
    return masks


def pair_dice(
    y_true: np.ndarray,
    pred: np.ndarray,
    classes: int,
    threshold: float | Sequence[float] = 0.5,
    min_pixels: float | Sequence[float] = 0,
) -> np.ndarray:
    """The Dice of every (image, class) pair, (n, classes): 1 where truth and cut prediction are both empty."""
    truth = as_masks(y_true, classes)
    if np.shape(pred) != np.shape(y_true):
        raise ValueError(f"dice: predictions of shape {np.shape(pred)} against truths of shape {np.shape(y_true)}.")
    out = np.empty(truth.shape[:2], float)
    for start in range(0, len(truth), CHUNK):
        rows = slice(start, start + CHUNK)
        t = truth[rows] > 0.5
        p = cut(np.asarray(pred)[rows], classes, threshold, min_pixels)
        both = (t & p).sum(axis=2)
        total = t.sum(axis=2) + p.sum(axis=2)
        out[rows] = np.where(total == 0, 1.0, 2.0 * both / np.maximum(total, 1))
    return out


def mean_dice(
    y_true: np.ndarray,
    pred: np.ndarray,
    classes: int,
    threshold: float | Sequence[float] = 0.5,
    min_pixels: float | Sequence[float] = 0,
) -> float:
    """Kaggle's mean Dice: the mean of `pair_dice` over every image and class (NaN for no images)."""
    pairs = pair_dice(y_true, pred, classes, threshold, min_pixels)
    return float(pairs.mean()) if pairs.size else float("nan")


def class_dice(
    y_true: np.ndarray,
    pred: np.ndarray,
    classes: int,
    threshold: float | Sequence[float] = 0.5,
    min_pixels: float | Sequence[float] = 0,
) -> list[float]:
    """Each class's mean Dice over the images (the run's report): their mean is `mean_dice`."""
    pairs = pair_dice(y_true, pred, classes, threshold, min_pixels)
    return [float(v) for v in pairs.mean(axis=0)] if len(pairs) else [float("nan")] * classes
