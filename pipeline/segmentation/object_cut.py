"""The mask cut's tables for a competition of instances (metric f2_iou, Airbus; ap_iou, Sartorius): every candidate
cut's score over IoU thresholds (F2 or AP) on every image, and the per-object drop of the cut's remap
(pipeline/segmentation/mask_cut.py).

There a cut is a probability threshold and a minimum area of each object: each image's mask above the threshold is
cut into its connected components (8-way, instances.py) and those under the area dropped, as the competition's score
and submission do. The search labels each image's components once per threshold and takes each one's area and its
intersection with every true object (the components of the truth, labelled once per image) in one pass; every
minimum area is then a filter over those tables, the score of the IoU of the objects it keeps (instances.score_of_iou),
with no labelling per area. With the recipe's `touching` the rows carry the contact map after the mask (2 x gh x gw)
and both sides' objects are split at it (instances.label_objects), as the score and the submission split them.
"""

from __future__ import annotations

import numpy as np

from pipeline.segmentation.instances import label_objects, score_of_iou


def channels_of(rows: np.ndarray, grid: tuple[int, int], contact: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of masks at the grid -> (masks (n, gh, gw), contact maps (n, gh, gw) or None): with `contact` (touching)
    each row is 2 x gh x gw, the mask then the contact map."""
    rows = np.asarray(rows)
    if not contact:
        return rows.reshape(len(rows), *grid), None
    two = rows.reshape(len(rows), 2, *grid)
    return two[:, 0], two[:, 1]


def object_areas(y: np.ndarray, grid: tuple[int, int], contact: bool = False) -> np.ndarray:
    """The area (grid pixels) of every true object of the masks `y` (n, gh * gw; with `contact` 2 x gh x gw, split
    at the contact map), (objects, 1): the min_area candidates' percentiles are of objects, not of the union of an
    image's."""
    sizes = []
    masks, contacts = channels_of(y, grid, contact)
    for i, mask in enumerate(masks):
        labels, n = label_objects(mask > 0.5, None if contacts is None else contacts[i])
        sizes.append(np.bincount(labels.ravel(), minlength=n + 1)[1:])
    return np.concatenate([np.zeros(0, np.int64), *sizes]).astype(float).reshape(-1, 1)


def image_table(
    truth: np.ndarray,
    probs: np.ndarray,
    thresholds: np.ndarray,
    min_pixels: np.ndarray,
    contacts: tuple[np.ndarray, np.ndarray] | None = None,
    metric: str = "f2_iou",
) -> np.ndarray:
    """One image's score (`metric`, thresholds x areas) at every candidate cut: its 2-D truth (0/1) and
    probabilities, objects with fewer than `min_pixels[a]` pixels above the threshold (and none of 0 pixels) dropped;
    `contacts`: the true and predicted contact maps that split each side's objects (touching)."""
    true_contact, contact = contacts if contacts is not None else (None, None)
    true_labels, nt = label_objects(truth > 0.5, true_contact)
    true_sizes = np.bincount(true_labels.ravel(), minlength=nt + 1)[1:]
    floors = np.maximum(np.asarray(min_pixels, dtype=float), 1)
    out = np.empty((len(thresholds), len(floors)))
    top = float(probs.max()) if probs.size else 0.0
    for i, t in enumerate(thresholds):
        if top <= t:  # no pixel above: no predicted object at any area
            out[i] = 1.0 if not nt else 0.0
            continue
        labels, n = label_objects(probs > t, contact)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        pairs = np.bincount((labels * (nt + 1) + true_labels).ravel(), minlength=(n + 1) * (nt + 1))
        inter = pairs.reshape(n + 1, nt + 1)[1:, 1:].T  # (true, predicted)
        iou = inter / (true_sizes[:, None] + sizes[None, :] - inter)
        for a, floor in enumerate(floors):
            out[i, a] = score_of_iou(iou[:, sizes >= floor], metric)
    return out


def score_table(
    y: np.ndarray,
    pred: np.ndarray,
    grid: tuple[int, int],
    thresholds: np.ndarray,
    min_pixels: np.ndarray,
    contact: bool = False,
    metric: str = "f2_iou",
) -> np.ndarray:
    """Every image's score (`metric`: f2_iou or ap_iou) at every candidate cut, (n, 1, thresholds, areas): mask_cut's
    table of one class (`min_pixels`: the class's areas at the grid; `contact`: rows of the mask then the contact map,
    touching)."""
    y, pred = np.asarray(y), np.asarray(pred)
    channels = 2 if contact else 1
    if y.shape != pred.shape or y.ndim != 2 or y.shape[1] != channels * grid[0] * grid[1]:
        raise ValueError(
            f"{metric}: predictions {pred.shape} and truths {y.shape} are not rows of {channels} x {grid} grids."
        )
    (truths, true_contacts), (probs, contacts) = channels_of(y, grid, contact), channels_of(pred, grid, contact)
    rows = [
        image_table(
            truths[i],
            np.asarray(probs[i], float),
            thresholds,
            min_pixels,
            None if contacts is None or true_contacts is None else (true_contacts[i], contacts[i]),
            metric,
        )
        for i in range(len(y))
    ]
    return np.stack(rows)[:, None] if rows else np.zeros((0, 1, len(thresholds), len(min_pixels)))


def small_objects(
    above: np.ndarray, grid: tuple[int, int], min_pixels: float, contact: np.ndarray | None = None
) -> np.ndarray:
    """The pixels of `above` (n, gh * gw, bool) in an object (a connected component, or split at the `contact` maps
    (n, gh * gw) where touching) with fewer than `min_pixels` pixels: what the remap zeroes so that the cut at the
    Config's threshold keeps only the fitted cut's objects."""
    out = np.zeros(above.shape, bool)
    for i, row in enumerate(above):
        if not row.any():
            continue
        labels, n = label_objects(row.reshape(grid), None if contact is None else contact[i].reshape(grid))
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes < min_pixels
        small[0] = False
        out[i] = small[labels].ravel()
    return out
