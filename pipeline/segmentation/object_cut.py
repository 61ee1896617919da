"""The mask cut's tables for a competition of instances (metric f2_iou, Airbus): every candidate cut's F2 over IoU
thresholds on every image, and the per-object drop of the cut's remap (pipeline/segmentation/mask_cut.py).

There a cut is a probability threshold and a minimum area of each object: each image's mask above the threshold is
cut into its connected components (8-way, instances.py) and those under the area dropped, as the competition's score
and submission do. The search labels each image's components once per threshold and takes each one's area and its
intersection with every true object (the components of the truth, labelled once per image) in one pass; every
minimum area is then a filter over those tables, the F2 of the IoU of the objects it keeps (instances.f2_of_iou),
with no labelling per area.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.segmentation.instances import EIGHT_WAY, f2_of_iou


def object_areas(y: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The area (grid pixels) of every true object of the masks `y` (n, gh * gw), (objects, 1): the min_area
    candidates' percentiles are of objects, not of the union of an image's."""
    sizes = []
    for row in np.asarray(y):
        labels, n = ndimage.label(row.reshape(grid) > 0.5, structure=EIGHT_WAY)
        sizes.append(np.bincount(labels.ravel(), minlength=n + 1)[1:])
    return np.concatenate([np.zeros(0, np.int64), *sizes]).astype(float).reshape(-1, 1)


def image_table(truth: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, min_pixels: np.ndarray) -> np.ndarray:
    """One image's F2 (thresholds x areas) at every candidate cut: its 2-D truth (0/1) and probabilities, objects
    with fewer than `min_pixels[a]` pixels above the threshold (and none of 0 pixels) dropped."""
    true_labels, nt = ndimage.label(truth > 0.5, structure=EIGHT_WAY)
    true_sizes = np.bincount(true_labels.ravel(), minlength=nt + 1)[1:]
    floors = np.maximum(np.asarray(min_pixels, dtype=float), 1)
    out = np.empty((len(thresholds), len(floors)))
    top = float(probs.max()) if probs.size else 0.0
    for i, t in enumerate(thresholds):
        if top <= t:  # no pixel above: no predicted object at any area
            out[i] = 1.0 if not nt else 0.0
            continue
        labels, n = ndimage.label(probs > t, structure=EIGHT_WAY)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        pairs = np.bincount((labels * (nt + 1) + true_labels).ravel(), minlength=(n + 1) * (nt + 1))
        inter = pairs.reshape(n + 1, nt + 1)[1:, 1:].T  # (true, predicted)
        iou = inter / (true_sizes[:, None] + sizes[None, :] - inter)
        for a, floor in enumerate(floors):
            out[i, a] = f2_of_iou(iou[:, sizes >= floor])
    return out


def f2_table(
    y: np.ndarray, pred: np.ndarray, grid: tuple[int, int], thresholds: np.ndarray, min_pixels: np.ndarray
) -> np.ndarray:
    """Every image's F2 at every candidate cut, (n, 1, thresholds, areas): mask_cut's table of one class
    (`min_pixels`: the class's areas at the grid)."""
    y, pred = np.asarray(y), np.asarray(pred)
    if y.shape != pred.shape or y.ndim != 2 or y.shape[1] != grid[0] * grid[1]:
        raise ValueError(f"f2_iou: predictions {pred.shape} and truths {y.shape} are not rows of a {grid} grid.")
    rows = [
        image_table(t.reshape(grid), np.asarray(p, float).reshape(grid), thresholds, min_pixels)
        for t, p in zip(y, pred, strict=True)
    ]
    return np.stack(rows)[:, None] if rows else np.zeros((0, 1, len(thresholds), len(min_pixels)))


def small_objects(above: np.ndarray, grid: tuple[int, int], min_pixels: float) -> np.ndarray:
    """The pixels of `above` (n, gh * gw, bool) in an object (a connected component) with fewer than `min_pixels`
    pixels: what the remap zeroes so that the cut at the Config's threshold keeps only the fitted cut's objects."""
    out = np.zeros(above.shape, bool)
    for i, row in enumerate(above):
        if not row.any():
            continue
        labels, n = ndimage.label(row.reshape(grid), structure=EIGHT_WAY)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes < min_pixels
        small[0] = False
        out[i] = small[labels].ravel()
    return out
