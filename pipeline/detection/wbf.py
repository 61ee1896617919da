"""Weighted boxes fusion (the ensemble-boxes package) over packed box arrays: fold models, TTA views, models."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from pipeline.detection.boxes import pack, unpack, xywh_to_xyxy, xyxy_to_xywh


def fuse_image(
    views: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    size: tuple[float, float] | None = None,
    weights: Sequence[float] | None = None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: str = "avg",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse one image's (xywh boxes, scores, classes) from several sources into one set.

    ensemble-boxes wants coordinates in [0, 1]. IoU and the score-weighted box average do not change when the x and
    y axes are scaled, so without the image size (width, height) the boxes are divided by the largest coordinate
    seen: the result is the same as normalising by the image size.
    """
    from ensemble_boxes import weighted_boxes_fusion

    xyxy = [xywh_to_xyxy(b) for b, _, _ in views]
    if not any(len(b) for b in xyxy):
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    if size is None:
        stacked = np.concatenate([b for b in xyxy if len(b)])
        sx, sy = max(float(stacked[:, [0, 2]].max()), 1e-9), max(float(stacked[:, [1, 3]].max()), 1e-9)
    else:
        sx, sy = float(size[0]), float(size[1])
    scale = np.array([sx, sy, sx, sy])
    boxes = [(b / scale).clip(0.0, 1.0).tolist() for b in xyxy]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-area boxes are dropped by the package, with a warning each
        b, s, c = weighted_boxes_fusion(
            boxes,
            [v[1].tolist() for v in views],
            [v[2].tolist() for v in views],
            weights=list(weights) if weights is not None else None,
            iou_thr=iou_thr,
            skip_box_thr=skip_box_thr,
            conf_type=conf_type,
        )
    return xyxy_to_xywh(np.asarray(b, float) * scale), np.asarray(s, float), np.asarray(c).astype(np.int64)


def fuse_rows(
    sources: Sequence[np.ndarray],
    weights: Sequence[float] | None = None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    max_det: int | None = None,
    conf_type: str = "avg",
) -> np.ndarray:
    """WBF of packed arrays (same rows, any widths) image by image -> one packed array (max_det slots)."""
    sources = [np.atleast_2d(np.asarray(s, float)) for s in sources]
    n = len(sources[0])
    if any(len(s) != n for s in sources):
        raise ValueError(f"fuse_rows: sources have different numbers of rows {[len(s) for s in sources]}.")
    k = max_det or max(s.shape[1] // 6 for s in sources)
    fused_b, fused_s, fused_c = [], [], []
    for i in range(n):
        views = [unpack(s[i]) for s in sources]
        if all(np.isnan(s[i]).all() for s in sources):
            b, sc, c = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
        else:
            b, sc, c = fuse_image(views, None, weights, iou_thr, skip_box_thr, conf_type)
        fused_b.append(b)
        fused_s.append(sc)
        fused_c.append(c)
    return pack(fused_b, fused_s, fused_c, k)


def merge_folds(tests: Sequence[np.ndarray], iou_thr: float = 0.55) -> np.ndarray:
    """Test predictions of the fold models fused with WBF (averaging box arrays would mix unrelated slots)."""
    if len(tests) == 1:
        return np.asarray(tests[0], float)
    return fuse_rows(tests, iou_thr=iou_thr)
