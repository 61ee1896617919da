"""The confidence cut of a detection run fitted out of fold (Config.fit_min_score, pipeline/detection/box_cut.py) on
synthetic packed boxes: every cut's score at once equals the metric of the boxes cut there; the score reported is
out of fold (the cut for each fold's images fitted on the other folds'), not the flattering one of a cut fitted on
every image; the cut replaces min_score only when it beats it out of fold; predict applies the cut saved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pipeline import threshold
from pipeline.contract import ContractError, Metric
from pipeline.detection.boxes import drop_below, pack, unpack
from pipeline.detection.csv_boxes import CsvBoxes
from pipeline.detection.iou_map import THRESHOLDS, cut_scores, iou_map
from pipeline.finish import blend_results

TRUE_BOX, FALSE_BOX = (10.0, 10.0, 20.0, 20.0), (60.0, 60.0, 20.0, 20.0)


@dataclass(frozen=True)
class Cfg:
    """The Config fields the cut reads."""

    min_score: float = 0.5
    fit_min_score: bool = True
    wbf_iou: float = 0.55


def _module(metric: str = "iou_map") -> SimpleNamespace:
    """A detection competition's hooks (CsvBoxes'), without files."""
    files = CsvBoxes("train.csv", "image_id", "train/{}.png", "test/{}.png", metric=metric)
    return SimpleNamespace(
        METRIC=Metric(metric, True), score=files.score, blend=files.blend, apply_blend=files.apply_blend
    )


def _images(kinds: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and predictions, one image per (true score, false score): one box found exactly at the true
    score, one false box elsewhere at the false score. Its score at a cut: 1 between the two, 1/2 below both, 0
    above both (the box missed)."""
    n = len(kinds)
    y = pack([np.array([TRUE_BOX])] * n, [np.ones(1)] * n, [np.zeros(1, np.int64)] * n)
    pred = pack(
        [np.array([TRUE_BOX, FALSE_BOX])] * n,
        [np.array(k, float) for k in kinds],
        [np.zeros(2, np.int64)] * n,
        k=4,
    )
    return y, pred


def _cut_stage(kinds: list[tuple[float, float]], folds: np.ndarray, tmp_path: Path) -> tuple[dict, dict, list[str]]:
    """The blend (at min_score 0.5) and the cut stage of one detector whose OOF and test boxes are `kinds`' images;
    the result, the blend before the cut and the log."""
    module, cfg = _module(), Cfg()
    y, pred = _images(kinds)
    results = {"det": {"oof": pred, "test": pred}}
    b = blend_results(module, y, folds, results, cfg)
    lines: list[str] = []
    out = threshold.apply(module, cfg, None, y, folds, b, tmp_path, lines.append, results)
    return out, b, lines


def test_every_cut_is_scored_at_once_as_the_metric_scores_the_boxes_cut_there() -> None:
    rng = np.random.default_rng(0)

    def boxes(n: int) -> np.ndarray:
        return np.column_stack([rng.uniform(0, 50, (n, 2)), rng.uniform(5, 15, (n, 2))])

    truths, preds, scores = [], [], []
    for _ in range(40):  # images with 0 to 3 boxes, found near where they are, and 0 to 2 false boxes
        t = boxes(int(rng.integers(0, 4)))
        found, false = t + rng.normal(0, 1.5, t.shape), boxes(int(rng.integers(0, 3)))
        truths.append(t)
        preds.append(np.vstack([found, false]))
        scores.append(np.round(rng.uniform(0, 1, len(found) + len(false)), 1))  # ties among the scores
    y = pack(truths, [np.ones(len(t)) for t in truths], [np.zeros(len(t), np.int64) for t in truths])
    pred = pack(preds, scores, [np.zeros(len(p), np.int64) for p in preds])
    cuts = np.array([0.0, 0.1, 0.3, 0.5, 0.55, 0.9, 1.0])
    for name, at in THRESHOLDS.items():
        table = cut_scores(y, pred, cuts, at)
        for j, c in enumerate(cuts):
            assert np.nanmean(table[:, j]) == pytest.approx(iou_map(y, drop_below(pred, c), at), abs=1e-12), (name, c)


def test_the_score_reported_is_out_of_fold_and_a_cut_that_loses_there_is_not_applied(tmp_path: Path) -> None:
    # three folds whose images want different cuts: A between 0.2 and 0.3, B between 0.7 and 0.8, C between 0.45
    # and 0.55. On every image a cut near 0.3 scores best (A 1, B and C 1/2: 2/3); out of fold, A's cut is fitted on
    # B and C (0.5: A scores 0) and B's and C's on the others (0.3: 1/2 each): 1/3. At min_score 0.5: (0 + 1/2 + 1)/3
    kinds = [(0.3, 0.2)] * 4 + [(0.8, 0.7)] * 4 + [(0.55, 0.45)] * 4
    folds = np.repeat([0, 1, 2], 4)
    out, b, lines = _cut_stage(kinds, folds, tmp_path)
    info = out["threshold"]
    assert b["score"] == pytest.approx(0.5) and info["score_before"] == pytest.approx(0.5)
    assert info["fitted_min_score"] == 0.3 and info["in_sample_score"] == pytest.approx(2 / 3)
    assert info["fold_min_scores"] == [0.5, 0.3, 0.3]
    assert info["score_after"] == pytest.approx(1 / 3)  # a cut fitted on every image would claim 2/3 and be applied
    assert not info["applied"] and info["min_score"] == 0.5
    assert out["stages"]["threshold"] == {"kind": "box_cut", "min_score": 0.5}  # predict cuts at min_score
    assert np.array_equal(out["test"], b["test"], equal_nan=True) and out["score"] == b["score"]
    assert lines == ["box cut 0.3 not applied: out-of-fold iou_map 0.33333 vs 0.50000 at min_score 0.5"]


def test_a_cut_that_wins_out_of_fold_cuts_the_oof_and_test_boxes_and_predict_applies_it(tmp_path: Path) -> None:
    kinds = [(0.3, 0.2)] * 6 + [(0.35, 0.15)] * 3  # every fold's images want a cut near 0.3: min_score 0.5 misses all
    folds = np.repeat([0, 1, 2], 3)
    out, b, lines = _cut_stage(kinds, folds, tmp_path)
    info = out["threshold"]
    assert info["applied"] and info["score_before"] == 0.0 and info["score_after"] == pytest.approx(1.0)
    assert out["score"] == info["score_after"] and out["stages"]["threshold"] == {"kind": "box_cut", "min_score": 0.3}
    assert lines == ["box cut 0.3 (fitted out of fold): iou_map 0.00000 at min_score 0.5 -> 1.00000"]
    assert [len(unpack(r)[0]) for r in b["test"]] == [0] * 9  # the blend's own boxes: cut at min_score 0.5
    kept = [unpack(r)[1].tolist() for r in out["test"]]
    assert kept == [[0.3]] * 6 + [[0.35]] * 3  # the true boxes kept, the false ones below the cut dropped
    # predict: the blend's boxes of a new test set (apply_blend, no cut under fit_min_score), then the cut saved
    module, cfg = _module(), Cfg()
    _, new = _images([(0.9, 0.25), (0.4, 0.31)])
    blended = module.apply_blend({"det": 1.0}, {"det": new}, cfg=cfg)
    cut = threshold.apply_saved(out["stages"]["threshold"], blended)
    assert [unpack(r)[1].tolist() for r in cut] == [[0.9], [0.4, 0.31]]
    assert (tmp_path / "threshold.json").is_file() and (tmp_path / "oof" / "_threshold.npy").is_file()


def test_the_cut_is_fitted_out_of_fold_for_a_blend_of_two_detectors(tmp_path: Path) -> None:
    # two detectors fused by WBF: each group's rows blended with the weights of its own nested blend, then cut at the
    # cut fitted on the other groups' rows; that out-of-fold score is what oof/_threshold.npy scores
    module, cfg = _module(), Cfg()
    y, a = _images([(0.3, 0.2)] * 6 + [(0.8, 0.7)] * 3)
    _, c = _images([(0.35, 0.1)] * 6 + [(0.75, 0.6)] * 3)
    folds = np.repeat([0, 1, 2], 3)
    results = {"a": {"oof": a, "test": a}, "c": {"oof": c, "test": c}}
    b = blend_results(module, y, folds, results, cfg)
    out = threshold.apply(module, cfg, None, y, folds, b, tmp_path, lambda _: None, results)
    info = out["threshold"]
    oof = np.load(tmp_path / "oof" / "_threshold.npy") if info["applied"] else out["oof"]
    assert info["score_after"] == pytest.approx(iou_map(y, oof))
    assert len(info["fold_min_scores"]) == 3 and info["score_after"] <= info["in_sample_score"]


def test_fit_min_score_is_refused_before_the_run_for_a_metric_that_is_not_kaggles_iou_metric() -> None:
    threshold.check_setting(Cfg(), "iou_map40")
    with pytest.raises(ContractError, match="Config.fit_min_score fits the confidence cut .* metric is coco_map"):
        threshold.check_setting(Cfg(), "coco_map")
    threshold.check_setting(Cfg(fit_min_score=False), "coco_map")


def test_with_the_option_off_the_hooks_cut_at_min_score_and_no_cut_stage_runs(tmp_path: Path) -> None:
    module, cfg = _module(), Cfg(fit_min_score=False)
    y, pred = _images([(0.6, 0.4), (0.45, 0.3)])
    cut = drop_below(pred, 0.5)  # what the detectors predict with the option off
    assert np.array_equal(module.apply_blend({"det": 1.0}, {"det": cut}, cfg=cfg), cut, equal_nan=True)
    folds = np.array([0, 1])
    results: dict[str, Any] = {"det": {"oof": cut, "test": cut}}
    b = blend_results(module, y, folds, results, cfg)
    assert threshold.apply(module, cfg, None, y, folds, b, tmp_path, print, results) is b
    assert not (tmp_path / "threshold.json").exists()
    assert module.score(y, pred, cfg=cfg) == module.score(y, pred)  # a model's boxes scored as they are
    assert module.score(y, pred, cfg=Cfg()) == module.score(y, cut)  # fitting: scored at min_score, as blended
