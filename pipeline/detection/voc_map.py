"""PASCAL VOC mean average precision over classes at one IoU threshold, on packed box arrays (boxes.py): the metric of
Kaggle's multi-class box CSVs (VinBigData Chest X-ray Abnormalities Detection: "PASCAL VOC 2010 mAP at IoU > 0.4").

Per class, every prediction of that class over all the images is taken in order of confidence, highest first (ties
in image order); each is a true positive when the ground-truth box of its image and class of highest IoU with it has
an IoU above the threshold and was not matched yet, else a false positive (a second prediction on a box already
found is a false positive, as VOC's devkit counts it). Precision and recall follow the ranking; the class's AP is the
area under the precision-recall curve with precision made non-increasing (VOC 2010's every-point interpolation, not
VOC 2007's eleven points). The metric is the mean of the APs of the classes that have a ground-truth box in the rows
scored (a class with none has no recall to measure: left out, as the devkit's 0 / 0); NaN when none has.

IoU is of continuous boxes ([x, x + w), as iou_map.py), not the devkit's +1 pixel. Crowd regions (boxes.CROWD) are no
box here. An image-level "nothing here" class (VinBigData's 14 "No finding", predicted as a 1x1 box at the image's
corner) is scored as one more class by `with_nothing`.
"""

from __future__ import annotations

import numpy as np

from pipeline.detection.boxes import CROWD, pack, unpack_all
from pipeline.detection.iou_map import pairwise_iou

IOU: dict[str, float] = {"voc_map": 0.5, "voc_map40": 0.4}  # the metric names `new --metric` knows, and their IoU
NOTHING_BOX = (0.0, 0.0, 1.0, 1.0)  # x, y, w, h of the "nothing here" prediction: Kaggle's "14 1 0 0 1 1"


def average_precision(hits: np.ndarray, n_truth: int) -> float:
    """VOC 2010's AP of predictions ranked most confident first, `hits` True for each true positive, against
    `n_truth` ground-truth boxes (> 0): the area under the precision-recall curve, precision made non-increasing."""
    hits = np.asarray(hits, bool)
    tp = np.cumsum(hits)
    recall = np.concatenate([[0.0], tp / n_truth, [1.0]])
    precision = np.concatenate([[0.0], tp / np.arange(1, len(hits) + 1), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def class_hits(
    truth: list[np.ndarray], found: list[tuple[np.ndarray, np.ndarray]], iou: float
) -> tuple[np.ndarray, int]:
    """One class: each image's ground-truth boxes and its (boxes, scores) predicted -> which predictions, ranked over
    all the images most confident first, are true positives; and how many ground-truth boxes there are."""
    ranked = [(-s, i, j) for i, (_, scores) in enumerate(found) for j, s in enumerate(scores)]
    ranked.sort(key=lambda r: (r[0], r[1]))  # stable in image order, then the image's own order
    matched = [np.zeros(len(t), bool) for t in truth]
    hits = np.zeros(len(ranked), bool)
    for k, (_, i, j) in enumerate(ranked):
        if not len(truth[i]):
            continue
        overlap = pairwise_iou(found[i][0][j : j + 1], truth[i])[0]
        best = int(np.argmax(overlap))
        if overlap[best] > iou and not matched[i][best]:
            matched[i][best] = hits[k] = True
    return hits, sum(len(t) for t in truth)


def class_aps(y_true: np.ndarray, pred: np.ndarray, iou: float) -> dict[int, float]:
    """Each class index with a ground-truth box in `y_true` -> its AP at `iou` (the module docstring)."""
    y_true, pred = np.atleast_2d(np.asarray(y_true, float)), np.atleast_2d(np.asarray(pred, float))
    if len(y_true) != len(pred):
        raise ValueError(f"voc_map: {len(y_true)} ground-truth rows but {len(pred)} prediction rows.")
    truths = [(b[s != CROWD], c[s != CROWD]) for b, s, c in unpack_all(y_true)]
    preds = unpack_all(pred)
    classes = sorted({int(k) for _, c in truths for k in c})
    out = {}
    for k in classes:
        truth = [b[c == k] for b, c in truths]
        found = [(b[c == k], s[c == k]) for b, s, c in preds]
        hits, n_truth = class_hits(truth, found, iou)
        out[k] = average_precision(hits, n_truth)
    return out


def voc_map(y_true: np.ndarray, pred: np.ndarray, iou: float = 0.4) -> float:
    """The mean over the classes with a ground-truth box of their AP at `iou`; NaN when no class has one."""
    aps = class_aps(y_true, pred, iou)
    return float(np.mean(list(aps.values()))) if aps else float("nan")


def nothing_score(scores: np.ndarray) -> float:
    """The confidence that an image holds nothing to find, from the confidences of the boxes predicted on it: one
    less the highest (1 with no box)."""
    return 1.0 - float(np.max(scores, initial=0.0))


def with_nothing(y_true: np.ndarray, pred: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed ground truth and predictions with the image-level "nothing here" class `index` added: a NOTHING_BOX of
    it on every ground-truth image with no box, and one predicted on every image at nothing_score (where the
    predictions hold none of that class already: the classifier's, pipeline/detection/nothing.py)."""
    truth_rows, pred_rows = [], []
    for b, s, c in unpack_all(y_true):
        if not len(b[s != CROWD]):
            b, s, c = np.array([NOTHING_BOX]), np.ones(1), np.array([index])
        truth_rows.append((b, s, c))
    for b, s, c in unpack_all(pred):
        if not (c == index).any():  # a nothing box predicted already (nothing.py's classifier) is kept as it is
            b, s, c = np.vstack([b, [NOTHING_BOX]]), np.append(s, nothing_score(s)), np.append(c, index)
        pred_rows.append((b, s, c))
    return _packed(truth_rows), _packed(pred_rows)


def _packed(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    return pack([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
