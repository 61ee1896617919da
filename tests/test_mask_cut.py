"""The mask cut of a segmentation run fitted out of fold (Config.fit_mask_cut, pipeline/segmentation/mask_cut.py) on
synthetic out-of-fold probabilities at a small grid: every candidate cut's Dice at once equals the metric's; a
threshold other than 0.5 and a min_area that drops small false positives are found where the truth wants them; the
score reported is out of fold, not the flattering one of a cut fitted on every image, and a cut that loses there is
not applied; the cut travels as probabilities the competition's score cuts at mask_threshold, and `predict` applies
the saved cut as the run did."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pipeline import stages, threshold
from pipeline.contract import ContractError, Metric
from pipeline.finish import blend_results, stages_record
from pipeline.segmentation import mask_cut
from pipeline.segmentation.csv_masks import CsvMasks
from pipeline.segmentation.metric import cut, pair_dice

GRID, SHAPE = (8, 8), (32, 32)  # a grid pixel is 16 pixels of the original image


@dataclass(frozen=True)
class Cfg:
    """The Config fields the cut reads."""

    mask_threshold: float = 0.5
    min_area: int = 0
    fit_mask_cut: bool = True


def _module(classes: tuple[str, ...] = ("mask",)) -> SimpleNamespace:
    """A segmentation competition's hooks (CsvMasks'), without files."""
    files = CsvMasks("train.csv", "id", "train/{}.png", "test/{}.png", grid=GRID, classes=classes, shape=SHAPE)
    return SimpleNamespace(METRIC=Metric("dice", True), score=files.score, FILES=files)


def _square(top: int, left: int, size: int) -> np.ndarray:
    """A flat grid mask of one square."""
    m = np.zeros(GRID)
    m[top : top + size, left : left + size] = 1
    return m.ravel()


def _cut_stage(
    y: np.ndarray, pred: np.ndarray, folds: np.ndarray, tmp_path: Path, module: Any = None, cfg: Any = None
) -> tuple[dict, dict, list[str], Any, Any]:
    """The blend of one model whose OOF and test probabilities are `pred`, and the cut stage after it: the result,
    the blend, the log, the module and the Config."""
    module, cfg = module or _module(), cfg or Cfg()
    results = {"unet": {"oof": pred, "test": pred}}
    b = blend_results(module, y, folds, results, cfg)
    lines: list[str] = []
    out = threshold.apply(module, cfg, None, y, folds, b, tmp_path, lines.append, results)
    return out, b, lines, module, cfg


def test_every_candidate_cut_is_scored_at_once_as_the_metric_scores_it() -> None:
    rng = np.random.default_rng(0)
    n, classes = 30, 2
    y = (rng.random((n, classes * 64)) < 0.3).astype(np.uint8)
    y[:8, :64] = 0  # empty truths
    pred = np.round(rng.random((n, classes * 64)), 2)  # probabilities exactly at candidate thresholds too
    pred[:5, :64] = np.where(pred[:5, :64] > 0.9, 0.6, 0.0)  # a few predicted pixels: some masks under the areas
    thresholds = mask_cut.threshold_candidates(0.5)
    min_pixels = np.array([[0.0, 3.0, 10.0], [0.0, 1.0, 40.0]])
    table = mask_cut.dice_table(mask_cut.counts(y, pred, classes, thresholds), min_pixels)
    assert table.shape == (n, classes, len(thresholds), 3)
    for i, t in enumerate(thresholds):
        for a in range(3):
            expected = pair_dice(y, pred, classes, t, min_pixels[:, a])
            assert np.allclose(table[:, :, i, a], expected, atol=1e-12), (t, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_remap_cuts_at_the_configured_threshold_exactly_where_the_fitted_one_cut(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    pred = rng.random((20, 128)).astype(dtype)
    pred[:, :10] = np.array([0.35, 0.6], dtype)[:, None].repeat(5, axis=1).ravel()  # exactly at the thresholds
    pred[:, 10:12] = np.nextafter(dtype(0.35), dtype(1)), np.nextafter(dtype(0.6), dtype(0))
    mapped = mask_cut.remap(pred, 2, [0.35, 0.6], [0, 30], 0.5)
    assert mapped.dtype == dtype and mapped.min() >= 0 and mapped.max() <= 1
    assert np.array_equal(cut(mapped, 2, 0.5), cut(pred, 2, [0.35, 0.6], [0, 30]))
    order = np.argsort(pred[:, :64], axis=None)  # monotone: the ranks of a class's kept pixels are kept
    assert (np.diff(mapped[:, :64].ravel()[order]) >= 0).all()


def test_a_threshold_other_than_0_5_is_found_where_the_truth_wants_it_and_predict_applies_it(tmp_path: Path) -> None:
    # class "a": a model that is right but shy, 0.4 on its squares and 0.1 elsewhere: nothing is above 0.5, every cut
    # from 0.35 down to 0.1 is perfect (the one nearest 0.5 wins); class "b": sure of itself, 0.5 is as good
    rng = np.random.default_rng(2)
    n = 24
    y = np.zeros((n, 128), np.uint8)
    for i in range(n):
        y[i, :64] = _square(*rng.integers(0, 5, 2), 3)
        y[i, 64:] = _square(*rng.integers(0, 4, 2), 4) if i % 2 else 0
    pred = np.where(y > 0, 0.9, 0.05)
    pred[:, :64] = np.where(y[:, :64] > 0, 0.4, 0.1)
    folds = np.arange(n) % 3
    out, b, lines, module, cfg = _cut_stage(y, pred, folds, tmp_path, _module(("a", "b")))
    info = out["threshold"]
    assert info["score_before"] == pytest.approx(0.5)  # class a scores 0, class b 1
    assert info["fitted"] == {"thresholds": [0.35, 0.5], "min_areas": [0, 0]} and info["applied"]
    assert info["score_after"] == pytest.approx(1.0) == out["score"]
    assert info["fold_cuts"] == [{"thresholds": [0.35, 0.5], "min_areas": [0, 0]}] * 3
    assert lines == [
        "mask cut thresholds 0.35/0.5, min_area 0/0 (fitted out of fold): dice 0.50000 at mask_threshold 0.5, "
        "min_area 0 -> 1.00000"
    ]
    # the cut travels as probabilities: the competition's score at mask_threshold 0.5 scores the fitted cut
    assert module.score(y, out["oof"], cfg=cfg) == pytest.approx(1.0)
    assert module.score(y, np.load(tmp_path / "oof" / "_threshold.npy"), cfg=cfg) == pytest.approx(1.0)
    saved = stages_record(out, None)
    assert saved["threshold"] == {
        "kind": "mask_cut",
        "mask_threshold": 0.5,
        "thresholds": [0.35, 0.5],
        "min_areas": [0, 0],
        "min_pixels": [0.0, 0.0],
    }
    # predict: the model's test probabilities through the saved stages, as the run cut its own
    test = stages.apply(module, cfg, saved, {"unet": {"oof": pred, "test": pred}})
    assert np.array_equal(test, out["test"]) and stages.describe(saved) == "blend, mask_cut"


def test_a_min_area_that_drops_small_false_positives_is_found_where_there_are_some(tmp_path: Path) -> None:
    # half the images hold a square of 9 to 16 grid pixels, found exactly; the other half none, but the model puts
    # a speck of 2 grid pixels (32 of the original image) on each: an empty truth with a predicted mask scores 0
    rng = np.random.default_rng(3)
    n = 30
    y = np.zeros((n, 64), np.uint8)
    pred = np.full((n, 64), 0.02)
    for i in range(n):
        if i % 2:
            y[i] = _square(*rng.integers(0, 4, 2), int(rng.integers(3, 5)))
            pred[i] = np.where(y[i] > 0, 0.9, 0.02)
        else:
            pred[i, rng.integers(0, 62) + np.arange(2)] = 0.9
    folds = np.arange(n) % 3
    out, _, _, module, cfg = _cut_stage(y, pred, folds, tmp_path)
    info = out["threshold"]
    assert info["score_before"] == pytest.approx(0.5) and info["applied"]
    (area,) = info["fitted"]["min_areas"]
    assert 32 < area <= 9 * 16 and info["fitted"]["thresholds"] == [0.5]  # from the training squares' areas
    assert info["score_after"] == pytest.approx(1.0) and info["candidates"]["min_areas"][0][0] == 0
    assert module.score(y, out["oof"], cfg=cfg) == pytest.approx(1.0)  # the specks' maps zeroed
    assert np.array_equal(threshold.apply_saved(out["stages"]["threshold"], pred), out["test"])


def test_the_score_reported_is_out_of_fold_and_a_cut_that_loses_there_is_not_applied(tmp_path: Path) -> None:
    # three folds whose images want different thresholds: each image a true square at one probability and a false
    # one of the same size at a lower one, so a cut between the two scores 1, below both 2/3, above both 0.
    # A (0.28, 0.22) wants 0.25, B (0.78, 0.72) 0.75, C (0.53, 0.47) 0.5. On every image 0.25 scores best (7/9), but
    # A's cut fitted on B and C is 0.5 (A scores 0) and B's and C's on the others 0.25 (2/3 each): 4/9 out of fold,
    # under the 5/9 of mask_threshold 0.5
    n = 12
    y, pred = np.zeros((n, 64), np.uint8), np.zeros((n, 64))
    kinds = [(0.28, 0.22)] * 4 + [(0.78, 0.72)] * 4 + [(0.53, 0.47)] * 4
    for i, (true, false) in enumerate(kinds):
        y[i] = _square(0, 0, 2)
        pred[i] = true * y[i] + false * _square(5, 5, 2)
    folds = np.repeat([0, 1, 2], 4)
    out, b, lines, _, _ = _cut_stage(y, pred, folds, tmp_path)
    info = out["threshold"]
    assert info["score_before"] == pytest.approx(5 / 9)
    assert info["fitted"]["thresholds"] == [0.25] and info["in_sample_score"] == pytest.approx(7 / 9)
    assert [c["thresholds"] for c in info["fold_cuts"]] == [[0.5], [0.25], [0.25]]
    assert info["score_after"] == pytest.approx(4 / 9)  # a cut fitted on every image would claim 7/9 and be applied
    assert not info["applied"] and info["cut"] == {"thresholds": [0.5], "min_areas": [0]}
    assert out["stages"]["threshold"]["thresholds"] == [0.5]  # predict cuts at the Config's cut
    assert np.array_equal(out["test"], b["test"]) and out["score"] == b["score"]
    assert lines == [
        "mask cut thresholds 0.25, min_area 0 not applied: out-of-fold dice 0.44444 vs 0.55556 at mask_threshold "
        "0.5, min_area 0"
    ]
    assert (tmp_path / "threshold.json").is_file() and not (tmp_path / "oof" / "_threshold.npy").exists()


def test_the_cut_is_fitted_on_each_groups_own_blend_of_two_models(tmp_path: Path) -> None:
    # two models blended with weights fitted per nested group: each group's cut is fitted on the other groups' rows
    # blended with the group's weights; oof/_threshold.npy scores what threshold.json reports
    rng = np.random.default_rng(4)
    n = 18
    y = np.zeros((n, 64), np.uint8)
    for i in range(n):
        y[i] = _square(*rng.integers(0, 5, 2), 3) if i % 3 else 0
    noisy = np.clip(0.4 * y + rng.normal(0.15, 0.1, y.shape), 0, 1)
    other = np.clip(0.6 * y + rng.normal(0.2, 0.15, y.shape), 0, 1)
    folds, module, cfg = np.arange(n) % 3, _module(), Cfg()
    results = {"a": {"oof": noisy, "test": noisy}, "b": {"oof": other, "test": other}}
    b = blend_results(module, y, folds, results, cfg)
    out = threshold.apply(module, cfg, None, y, folds, b, tmp_path, lambda _: None, results)
    info = out["threshold"]
    assert len(info["fold_cuts"]) == 3 and info["score_after"] <= info["in_sample_score"]
    assert info["score_after"] == pytest.approx(module.score(y, out["oof"] if info["applied"] else b["oof"], cfg=cfg))


def test_fit_mask_cut_is_refused_before_the_run_for_a_competition_that_is_not_segmentation() -> None:
    threshold.check_setting(Cfg(), "dice")
    with pytest.raises(ContractError, match="Config.fit_mask_cut fits the mask cut .* metric is iou_map"):
        threshold.check_setting(Cfg(), "iou_map")
    threshold.check_setting(Cfg(fit_mask_cut=False), "roc_auc")


def test_with_the_option_off_no_cut_stage_runs(tmp_path: Path) -> None:
    y = np.zeros((6, 64), np.uint8)
    y[::2] = _square(1, 1, 3)
    pred, folds = 0.4 * y + 0.1, np.arange(6) % 3
    out, b, _, _, _ = _cut_stage(y, pred, folds, tmp_path, cfg=Cfg(fit_mask_cut=False))
    assert out is b and not (tmp_path / "threshold.json").exists()


def test_a_run_of_a_generated_download_fits_the_cut_with_the_option_on_and_not_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TGS Salt's layout, a tiny U-Net from random init on 3 folds; at mask_threshold 0.2 most of the background is in
    # (its probabilities there reach 0.5 after a few epochs), so the cut fitted out of fold beats it and takes effect
    from mask_downloads import tgs_download

    from pipeline.cli import main
    from pipeline.contract import load_competition

    monkeypatch.chdir(tmp_path)
    data, _ = tgs_download(tmp_path / "tgs-salt", n_train=24, n_test=4)
    assert main(["new", "mask_cut_tgs", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    spec = str(tmp_path / "comps" / "mask_cut_tgs")
    module = load_competition(spec)
    assert module.Config().fit_mask_cut is True  # what new writes
    quick = ["--preset", "fast", "--set", "holdout=0", "--set", "folds=3", "--set", "epochs=6", "--set", "tta=false"]
    runs = {}
    for label, sets in (("on", []), ("off", ["--set", "fit_mask_cut=false"])):
        args = ["run", spec, "--data", str(data), *quick, "--set", "mask_threshold=0.2", *sets, "--tag", label]
        assert main([*args, "--quiet"]) == 0
        runs[label] = next(d for d in (tmp_path / "runs" / "mask_cut_tgs").iterdir() if d.name.endswith(label))
    on, off = runs["on"], runs["off"]
    cut = json.loads((on / "threshold.json").read_text())
    assert cut["kind"] == "mask_cut" and cut["applied"] and cut["configured"]["mask_threshold"] == 0.2
    assert cut["cut"] == cut["fitted"] and cut["fitted"]["thresholds"][0] > 0.2
    summary = json.loads((on / "summary.json").read_text())
    assert summary["cv"] == cut["score_after"] > cut["score_before"]
    saved = json.loads((on / "stages.json").read_text())["threshold"]
    assert saved["kind"] == "mask_cut" and saved["mask_threshold"] == 0.2
    assert saved["thresholds"] == cut["fitted"]["thresholds"] and saved["min_areas"] == cut["fitted"]["min_areas"]
    cfg = module.Config(mask_threshold=0.2)
    y = module.load(cfg, data).y
    assert summary["cv"] == pytest.approx(module.score(y, np.load(on / "oof" / "_threshold.npy"), cfg=cfg))
    # predict applies the saved cut to the models' test probabilities: the run's submission, byte for byte
    out = tmp_path / "predicted"
    assert main(["predict", str(on), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == (on / "submission.csv").read_bytes()
    # off: the same models and blend (the option adds a stage after them), no cut stage
    assert np.array_equal(np.load(off / "oof" / "_blend.npy"), np.load(on / "oof" / "_blend.npy"))
    assert cut["score_before"] == pytest.approx(module.score(y, np.load(off / "oof" / "_blend.npy"), cfg=cfg))
    assert json.loads((off / "config.json").read_text())["config"]["fit_mask_cut"] is False
    assert not (off / "threshold.json").exists() and "threshold" not in json.loads((off / "stages.json").read_text())


def test_the_blend_is_scored_at_the_configs_cut() -> None:
    """The blend's weights and its CV read the Config's mask_threshold, as each fold's score and the submission do:
    with the cut at 0.2, probabilities of 0.3 on the truth's pixels score as masks, and the blend's CV says so."""
    from types import SimpleNamespace

    from pipeline.contract import Metric
    from pipeline.finish import blend_results
    from pipeline.segmentation.csv_masks import CsvMasks

    files = CsvMasks(train_csv="train.csv", id_column="id", image_path="{}", test_image_path="{}", grid=(2, 2))
    module = SimpleNamespace(score=files.score, METRIC=Metric("dice", greater_is_better=True))
    y = np.tile(np.array([[1, 1, 0, 0]], np.uint8), (6, 1))
    low = np.where(y == 1, 0.3, 0.0).astype(np.float32)  # right where it is, below 0.5
    results = {m: {"oof": low, "test": low[:2]} for m in ("a", "b")}
    folds = np.array([0, 0, 1, 1, 2, 2])
    at_half = blend_results(module, y, folds, results, SimpleNamespace(mask_threshold=0.5))
    at_cut = blend_results(module, y, folds, results, SimpleNamespace(mask_threshold=0.2))
    assert at_half["score"] == 0.0 and at_cut["score"] == 1.0
    assert at_cut["oof_scores"] == {"a": 1.0, "b": 1.0} and at_cut["equal_score"] == 1.0
