"""Object instances of a semantic mask, and the two scores over IoU thresholds that Kaggle scores them by: F2
(Airbus Ship Detection, metric "f2_iou") and mean average precision (Sartorius Cell Instance Segmentation and the Data
Science Bowl 2018, metric "ap_iou").

A submission of instances (one row per ship or cell) cuts each image's mask into its connected components (8-way
neighbours: a ship's diagonal pixels stay one ship), a component smaller than min_area pixels dropped, one row each.

Both metrics match objects alike (`matches`): at each IoU threshold t of THRESHOLDS (0.5, 0.55, ... 0.95) a
predicted object whose IoU with a true object is above t is a true positive (above 0.5, an object matches at most one
other), a true object none matches a false negative, a predicted object matching none a false positive. Per
threshold, f2_iou scores F2(t) = 5 TP / (5 TP + 4 FN + FP), ap_iou TP / (TP + FP + FN) (PER_THRESHOLD). An image's
score is the mean over the thresholds (`image_score`); one with no true and no predicted object scores 1, one with
objects on one side only 0. The competition's score is the mean over the images (`mean_iou_score`). Where no object
is on either side, 0 / 0, the Data Science Bowl's and Sartorius's pages say nothing (every test image there holds
nuclei or cells), so ap_iou scores it 1 as f2_iou does (Airbus's page says so) and as the usual implementations of
TGS Salt's metric, the same AP text over images many of which are empty, do. The box metric iou_map
(pipeline/detection/iou_map.py) leaves such an image out instead, as RSNA's host said of boxes.

Out of fold, both sides are instances of the masks at the grid: the predicted mask cut at the threshold and cut into
components, the true objects the components of the union of an image's ships (ships that touch are one object
there, as the training target, the union, cannot tell them apart), unless the recipe's `touching` is on: then the
masks carry a second channel, the contact map (pixels where two ships touch or come within two grid pixels, contact.py),
and both sides' objects are split by it (`label_objects`): the seeds are the components of the mask less its contact
pixels, and every mask pixel joins its nearest seed, so ships side by side are apart while the union is unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.5, 0.55, ... 0.95
EIGHT_WAY = np.ones((3, 3), bool)  # a pixel's 8 neighbours join its component
CONTACT_THRESHOLD = 0.5  # a pixel of the contact map (touching) above this is no seed of an object


def label_objects(mask: np.ndarray, contact: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """A 2-D mask's objects as labels 1..n (0: background): its connected components (8-way), or with a `contact` map
    of probabilities (touching) the components of the mask where contact <= CONTACT_THRESHOLD as seeds, every mask
    pixel given its nearest seed's label within its own component (a component with no seed kept whole)."""
    mask = np.asarray(mask) > 0
    parts, n = ndimage.label(mask, structure=EIGHT_WAY)
    if contact is None or not n:
        return parts, n
    seeds, k = ndimage.label(mask & (np.asarray(contact) <= CONTACT_THRESHOLD), structure=EIGHT_WAY)
    if not k:
        return parts, n
    near = ndimage.distance_transform_edt(seeds == 0, return_distances=False, return_indices=True)
    labels = np.where(mask, seeds[near[0], near[1]], 0)
    # a component's own seed where the nearest lies across the background in another, a new label where it has none
    own = np.zeros(n + 1, np.int64)
    own[parts[seeds > 0]] = seeds[seeds > 0]  # some seed of each component with one
    stray = mask & (parts[near[0], near[1]] != parts)
    seedless = np.flatnonzero(own[1:] == 0) + 1
    own[seedless] = k + 1 + np.arange(len(seedless))
    labels[stray] = own[parts[stray]]
    return labels, k + len(seedless)


def components(mask: np.ndarray, min_pixels: float = 0, contact: np.ndarray | None = None) -> list[np.ndarray]:
    """A 2-D mask's objects (`label_objects`: its connected components, 8-way, or split by a `contact` map), each a
    bool mask of its shape, in label order; an object with fewer than `min_pixels` pixels dropped."""
    labels, n = label_objects(mask, contact)
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


def matches(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's (TP, FN, FP) at each of THRESHOLDS from the IoU of its (true, predicted) objects: a true object
    with a predicted one above t a true positive (above 0.5 a pair matches one to one), a true object with none a false
    negative, a predicted object matching none a false positive; three arrays of len(THRESHOLDS)."""
    hits = np.asarray(iou)[None] > np.asarray(THRESHOLDS)[:, None, None]
    tp = hits.any(axis=2).sum(axis=1)
    return tp, iou.shape[0] - tp, iou.shape[1] - hits.any(axis=1).sum(axis=1)


def _f2(tp: np.ndarray, fn: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return 5 * tp / (5 * tp + 4 * fn + fp)


def _ap(tp: np.ndarray, fn: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return tp / (tp + fp + fn)


# each metric of instances: its score at one threshold from (TP, FN, FP), averaged over THRESHOLDS per image
PER_THRESHOLD = {"f2_iou": _f2, "ap_iou": _ap}
METRICS = tuple(PER_THRESHOLD)


def score_of_iou(iou: np.ndarray, metric: str = "f2_iou") -> float:
    """One image's score (F2 or AP, `metric`) averaged over THRESHOLDS from the IoU of its (true, predicted)
    objects: 1 with no object on either side, 0 with objects on one side only."""
    if not iou.size:
        return 1.0 if not any(iou.shape) else 0.0  # none on either side: 1; some on one side only: 0
    return float(np.mean(PER_THRESHOLD[metric](*matches(iou))))


def image_score(truth: list[np.ndarray], pred: list[np.ndarray], metric: str = "f2_iou") -> float:
    """One image's score (`metric`: F2 or AP) over THRESHOLDS of its true and predicted object masks."""
    return score_of_iou(iou_matrix(truth, pred), metric)


def mean_iou_score(
    y_true: np.ndarray,
    pred: np.ndarray,
    grid: tuple[int, int],
    threshold: float = 0.5,
    min_pixels: float = 0,
    contact: bool = False,
    metric: str = "f2_iou",
) -> float:
    """The competition's score of masks at the grid (rows of gh * gw: truths 0/1, predictions probabilities): each
    image's true objects the components of its truth, its predicted ones the components of its prediction above
    `threshold` with at least `min_pixels` pixels; the mean over the images of `image_score` (`metric`: f2_iou,
    Airbus's, or ap_iou, Sartorius's; NaN for no image). `contact` (touching): rows of 2 x gh x gw, the mask then the
    contact map, each side's objects split by its own (label_objects)."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    channels = 2 if contact else 1
    if y_true.shape != pred.shape or y_true.ndim != 2 or y_true.shape[1] != channels * grid[0] * grid[1]:
        raise ValueError(
            f"{metric}: predictions {pred.shape} and truths {y_true.shape} are not rows of {channels} x {grid} grids."
        )
    scores = []
    for t, p in zip(y_true, pred, strict=True):
        t, p = t.reshape(channels, *grid), p.reshape(channels, *grid)
        t_contact, p_contact = (t[1], p[1]) if contact else (None, None)
        truth = components(t[0] > 0.5, 0, t_contact)
        scores.append(image_score(truth, components(p[0] > threshold, min_pixels, p_contact), metric))
    return float(np.mean(scores)) if scores else float("nan")
