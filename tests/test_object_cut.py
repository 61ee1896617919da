"""The mask cut fitted out of fold for a competition of instances (Config.fit_mask_cut with metric f2_iou, Airbus;
pipeline/segmentation/object_cut.py): every candidate cut's F2 at once equals the metric's; stray faint objects on
images without ships are cut by a min_area and a threshold found for them, per object; the score reported is out of
fold, not the flattering one of a cut fitted on every image; `predict` applies the saved cut as the run did."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pipeline import stages, threshold
from pipeline.contract import Metric
from pipeline.finish import blend_results, stages_record
from pipeline.segmentation import mask_cut
from pipeline.segmentation.csv_masks import CsvMasks
from pipeline.segmentation.instances import mean_iou_score
from pipeline.segmentation.object_cut import score_table

GRID = (16, 16)


@dataclass(frozen=True)
class Cfg:
    """The Config fields the cut reads."""

    mask_threshold: float = 0.5
    min_area: int = 0
    fit_mask_cut: bool = True


def _module() -> SimpleNamespace:
    """An Airbus-style competition's hooks (CsvMasks' with metric f2_iou), without files."""
    files = CsvMasks("train.csv", "id", "train/{}.jpg", "test/{}.jpg", grid=GRID, shape=GRID, metric="f2_iou")
    return SimpleNamespace(METRIC=Metric("f2_iou", True), score=files.score, FILES=files)


def _box(top: int, left: int, h: int, w: int | None = None) -> np.ndarray:
    """A flat grid mask of one rectangle."""
    m = np.zeros(GRID)
    m[top : top + h, left : left + (w or h)] = 1
    return m.ravel()


def _cut_stage(y: np.ndarray, pred: np.ndarray, folds: np.ndarray, tmp_path: Path) -> tuple[dict, dict, Any, Any]:
    """The blend of one model whose OOF and test probabilities are `pred`, and the cut stage after it."""
    module, cfg = _module(), Cfg()
    results = {"unet": {"oof": pred, "test": pred}}
    b = blend_results(module, y, folds, results, cfg)
    out = threshold.apply(module, cfg, None, y, folds, b, tmp_path, lambda _: None, results)
    return out, b, module, cfg


def test_every_candidate_cut_is_scored_at_once_as_the_metric_scores_it() -> None:
    rng = np.random.default_rng(0)
    n = 12
    y = np.zeros((n, 256), np.uint8)
    pred = np.round(rng.random((n, 256)) * 0.45, 2)  # background under 0.45, exactly at candidate thresholds too
    for i in range(n):
        if i % 3:
            y[i] = np.maximum(_box(1, 1, 4), _box(9, 8, 3, 5) if i % 2 else 0)
        pred[i] = np.where(y[i] > 0, np.round(rng.uniform(0.4, 0.95, 256), 2), pred[i])
        pred[i, rng.integers(0, 256, 4)] = 0.7  # stray specks, touching an object or not
    thresholds, min_pixels = mask_cut.threshold_candidates(0.5), np.array([0.0, 2.0, 5.0, 13.0])
    table = score_table(y, pred, GRID, thresholds, min_pixels)
    assert table.shape == (n, 1, len(thresholds), 4)
    for i, t in enumerate(thresholds):
        for a, m in enumerate(min_pixels):
            expected = [mean_iou_score(y[k : k + 1], pred[k : k + 1], GRID, t, m) for k in range(n)]
            assert np.allclose(table[:, 0, i, a], expected, atol=1e-12), (t, m)


def test_stray_faint_objects_on_empty_images_are_cut_per_object_and_predict_applies_it(tmp_path: Path) -> None:
    # odd images: a ship of 9 to 25 grid pixels at 0.9 and a speck of 2 pixels at 0.9 beside it (a false positive
    # per object: no whole-mask min_area drops it without the ship); even images: no ship, a speck and a faint blob
    # of 20 pixels at 0.55 (any predicted pixel on an empty image scores 0). min_area 9 (the 1st percentile of the
    # training ships' areas) drops the specks, threshold 0.55 the blobs: every image scores 1
    rng = np.random.default_rng(3)
    n = 24
    y, pred = np.zeros((n, 256), np.uint8), np.full((n, 256), 0.05)
    for i in range(n):
        speck = _box(14, int(rng.integers(0, 14)), 1, 2)
        if i % 2:
            y[i] = _box(*rng.integers(0, 6, 2), int(rng.integers(3, 6)))
            pred[i] = np.where(y[i] > 0, 0.9, np.where(speck > 0, 0.9, 0.05))
        else:
            pred[i] = np.where(speck > 0, 0.9, np.where(_box(2, 3, 4, 5) > 0, 0.55, 0.05))
    folds = np.arange(n) % 3
    out, b, module, cfg = _cut_stage(y, pred, folds, tmp_path)
    info = out["threshold"]
    assert info["score_before"] == pytest.approx(5 / 6 / 2)  # ships found with one false positive, empties 0
    assert info["fitted"] == {"thresholds": [0.55], "min_areas": [9]} and info["applied"]
    assert info["candidates"]["min_areas"] == [[0, 9]]  # 0, and the percentiles of the ships' areas: all 9
    assert info["in_sample_score"] >= info["score_after"] == pytest.approx(1.0) == out["score"]
    assert module.score(y, out["oof"], cfg=cfg) == pytest.approx(1.0)  # the components the score cuts
    saved = stages_record(out, None)["threshold"]
    assert saved == {
        "kind": "mask_cut",
        "mask_threshold": 0.5,
        "thresholds": [0.55],
        "min_areas": [9],
        "min_pixels": [9.0],
        "grid": [16, 16],
    }
    # predict: the model's test probabilities through the saved stages, as the run cut its own
    test = stages.apply(module, cfg, stages_record(out, None), {"unet": {"oof": pred, "test": pred}})
    assert np.array_equal(test, out["test"]) and module.score(y, test, cfg=cfg) == pytest.approx(1.0)


def test_the_score_reported_is_out_of_fold_and_a_cut_that_loses_there_is_not_applied(tmp_path: Path) -> None:
    # three folds whose images want different thresholds: each image a true ship at one probability and a false one
    # apart at a lower one, so a cut between the two scores 1, below both 5/6 (a false positive), above both 0.
    # A (0.28, 0.22) wants 0.25, B (0.78, 0.72) 0.75, C (0.53, 0.47) 0.5. On every image 0.25 scores best (8/9), but
    # A's cut fitted on B and C is 0.5 (A scores 0), B's and C's on the others 0.25 (5/6 each): 5/9 out of fold,
    # under the 11/18 of mask_threshold 0.5
    n = 12
    y, pred = np.zeros((n, 256), np.uint8), np.zeros((n, 256))
    kinds = [(0.28, 0.22)] * 4 + [(0.78, 0.72)] * 4 + [(0.53, 0.47)] * 4
    for i, (true, false) in enumerate(kinds):
        y[i] = _box(1, 1, 3)
        pred[i] = true * y[i] + false * _box(10, 10, 3)
    folds = np.repeat([0, 1, 2], 4)
    out, b, _, _ = _cut_stage(y, pred, folds, tmp_path)
    info = out["threshold"]
    assert info["score_before"] == pytest.approx(11 / 18)
    assert info["fitted"]["thresholds"] == [0.25] and info["in_sample_score"] == pytest.approx(8 / 9)
    assert [c["thresholds"] for c in info["fold_cuts"]] == [[0.5], [0.25], [0.25]]
    assert info["score_after"] == pytest.approx(5 / 9)  # a cut fitted on every image would claim 8/9 and be applied
    assert not info["applied"] and info["cut"] == {"thresholds": [0.5], "min_areas": [0]}
    assert np.array_equal(out["test"], b["test"]) and out["score"] == b["score"] == info["score_before"]
