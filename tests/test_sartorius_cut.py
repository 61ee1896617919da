"""The mask cut fitted out of fold for a competition of cells (Config.fit_mask_cut with metric ap_iou, Sartorius;
pipeline/segmentation/mask_cut.py, object_cut.py): every candidate cut's AP at once equals the metric's, and the cut
is fitted to AP, which weighs a missed cell and a false one alike, where F2 (Airbus) forgives false ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline import threshold
from pipeline.contract import Metric
from pipeline.finish import blend_results
from pipeline.segmentation import mask_cut
from pipeline.segmentation.csv_masks import CsvMasks
from pipeline.segmentation.instances import mean_iou_score
from pipeline.segmentation.object_cut import score_table

GRID = (16, 16)


@dataclass(frozen=True)
class Cfg:
    """The Config fields the cut reads."""

    mask_threshold: float = 0.3
    min_area: int = 0
    fit_mask_cut: bool = True


def _module(metric: str) -> SimpleNamespace:
    """A competition of instances' hooks (CsvMasks' with `metric`), without files."""
    files = CsvMasks("train.csv", "id", "train/{}.png", "test/{}.png", grid=GRID, shape=GRID, metric=metric)
    return SimpleNamespace(METRIC=Metric(metric, True), score=files.score, FILES=files)


def _box(top: int, left: int, h: int = 3) -> np.ndarray:
    """A flat grid mask of one square."""
    m = np.zeros(GRID)
    m[top : top + h, left : left + h] = 1
    return m.ravel()


def test_every_candidate_cut_is_scored_at_once_as_ap_iou_scores_it() -> None:
    rng = np.random.default_rng(1)
    n = 10
    y = np.zeros((n, 256), np.uint8)
    pred = np.round(rng.random((n, 256)) * 0.45, 2)
    for i in range(n):
        y[i] = np.maximum(_box(1, 1, 4), _box(9, 8) if i % 2 else 0)
        pred[i] = np.where(y[i] > 0, np.round(rng.uniform(0.4, 0.95, 256), 2), pred[i])
        pred[i, rng.integers(0, 256, 5)] = 0.7  # stray specks: false cells, or a cell's pixels
    thresholds, min_pixels = mask_cut.threshold_candidates(0.5), np.array([0.0, 2.0, 5.0])
    table = score_table(y, pred, GRID, thresholds, min_pixels, metric="ap_iou")
    for i, t in enumerate(thresholds):
        for a, m in enumerate(min_pixels):
            expected = [mean_iou_score(y[k : k + 1], pred[k : k + 1], GRID, t, m, metric="ap_iou") for k in range(n)]
            assert np.allclose(table[:, 0, i, a], expected, atol=1e-12), (t, m)
    assert not np.allclose(table, score_table(y, pred, GRID, thresholds, min_pixels, metric="f2_iou"))  # not F2's


def test_the_cut_is_fitted_to_ap_where_f2_would_keep_the_configured_one(tmp_path: Path) -> None:
    # each image: a cell at 0.9, a faint cell at 0.4 and three faint false ones at 0.4. At mask_threshold 0.3 all
    # five are in: TP 2, FP 3 -> AP 2/5, F2 10/13; above 0.4 the bright cell alone: TP 1, FN 1 -> AP 1/2, F2 5/9.
    # AP fits 0.4 (the nearest candidate to 0.3 that scores 1/2) and applies it; F2 keeps 0.3
    n = 9
    y = np.tile(np.maximum(_box(1, 1), _box(1, 8)), (n, 1)).astype(np.uint8)
    faint = _box(1, 8) + _box(8, 1) + _box(8, 8) + _box(12, 12)
    pred = np.tile(np.where(_box(1, 1) > 0, 0.9, np.where(faint > 0, 0.4, 0.05)), (n, 1))
    folds = np.arange(n) % 3
    runs, results = {}, {"unet": {"oof": pred, "test": pred}}
    for metric in ("ap_iou", "f2_iou"):
        module, cfg = _module(metric), Cfg()
        b = blend_results(module, y, folds, results, cfg)
        (tmp_path / metric).mkdir()
        out = threshold.apply(module, cfg, None, y, folds, b, tmp_path / metric, lambda _: None, results)
        runs[metric] = out["threshold"]
    ap, f2 = runs["ap_iou"], runs["f2_iou"]
    assert ap["score_before"] == pytest.approx(2 / 5) and ap["fitted"]["thresholds"] == [0.4] and ap["applied"]
    assert ap["score_after"] == pytest.approx(1 / 2)
    assert f2["score_before"] == pytest.approx(10 / 13) and f2["fitted"]["thresholds"] == [0.3]
    assert not f2["applied"]
