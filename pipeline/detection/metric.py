"""COCO box mAP with pycocotools, computed straight from packed box arrays (see boxes.py)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from pipeline.detection.boxes import CROWD, SLOT, unpack


def _coco_from_rows(y_true: np.ndarray, num_classes: int) -> Any:
    """A pycocotools COCO ground truth: image ids 1..n (row order), category ids 1..num_classes; crowd regions
    (score CROWD) as iscrowd=1, which COCOeval ignores: a detection matched to one is neither TP nor FP."""
    from pycocotools.coco import COCO

    images, anns = [], []
    for i, row in enumerate(np.atleast_2d(y_true)):
        images.append({"id": i + 1})
        b, s, c = unpack(row)
        for box, score, cls in zip(b, s, c, strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(cls) + 1,
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": int(score == CROWD),
                }
            )
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": k + 1} for k in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _detections(pred: np.ndarray) -> np.ndarray:
    """Packed predictions -> pycocotools' N x 7 [image_id, x, y, w, h, score, category_id]."""
    pred = np.atleast_2d(np.asarray(pred, float))
    slots = pred.reshape(len(pred), -1, SLOT)
    img = np.broadcast_to(np.arange(1, len(pred) + 1)[:, None], slots.shape[:2])
    keep = np.isfinite(slots).all(2) & (slots[..., 2] > 0) & (slots[..., 3] > 0)
    det = np.column_stack([img[keep], slots[keep][:, :5], slots[keep][:, 5] + 1])
    return det


def _n_classes(*arrays: np.ndarray) -> int:
    top = -1
    for a in arrays:
        cls = np.asarray(a, float).reshape(len(a), -1, SLOT)[..., 5]
        if np.isfinite(cls).any():
            top = max(top, int(np.nanmax(cls)))
    return top + 1


def coco_eval(y_true: np.ndarray, pred: np.ndarray, num_classes: int | None = None) -> dict[str, Any]:
    """COCOeval bbox over rows: mAP@[.5:.95], AP50, AP75, APs/m/l and AP per class (NaN: no ground truth)."""
    from pycocotools.cocoeval import COCOeval

    y_true, pred = np.atleast_2d(np.asarray(y_true, float)), np.atleast_2d(np.asarray(pred, float))
    if len(y_true) != len(pred):
        raise ValueError(f"coco_eval: {len(y_true)} ground-truth rows but {len(pred)} prediction rows.")
    k = num_classes or max(_n_classes(y_true, pred), 1)
    gt = _coco_from_rows(y_true, k)
    det = _detections(pred)
    empty = {
        "mAP": 0.0,
        "AP50": 0.0,
        "AP75": 0.0,
        "APs": 0.0,
        "APm": 0.0,
        "APl": 0.0,
        "per_class": [0.0] * k,
        "per_class_ap50": [0.0] * k,
    }
    if not any(a["iscrowd"] == 0 for a in gt.dataset["annotations"]):  # nothing to find: no score
        nan = float("nan")
        return empty | {"mAP": nan, "AP50": nan, "AP75": nan, "per_class": [nan] * k, "per_class_ap50": [nan] * k}
    if len(det) == 0:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(det)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"][:, :, :, 0, -1]  # iou x recall x class, area all, maxDets 100
    per_class = [float(np.mean(p[p > -1])) if (p > -1).any() else float("nan") for p in np.moveaxis(prec, 2, 0)]
    per50 = [float(np.mean(p[p > -1])) if (p > -1).any() else float("nan") for p in prec[0].T]  # IoU 0.5
    s = [float(v) if v > -1 else float("nan") for v in ev.stats[:6]]  # -1: no ground truth in that range
    return {
        "mAP": s[0],
        "AP50": s[1],
        "AP75": s[2],
        "APs": s[3],
        "APm": s[4],
        "APl": s[5],
        "per_class": per_class,
        "per_class_ap50": per50,
    }


def coco_map(y_true: np.ndarray, pred: np.ndarray) -> float:
    """COCO mAP@[.5:.95] (the competition metric) of packed predictions against packed ground truth."""
    return coco_eval(y_true, pred)["mAP"]
