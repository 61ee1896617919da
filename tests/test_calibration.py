"""Temperature calibration: fitted on OOF probabilities, applied to test, never allowed to make the OOF score worse."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from toy import TOY, make_toy

from pipeline.calibration import apply_temperature, calibrate, fit_temperature, normalise
from pipeline.contract import ContractError, Metric, load_competition
from pipeline.finish import calibrate_blend, fold_blends
from pipeline.runlog import RunLog

LOG_LOSS = Metric("log_loss", greater_is_better=False)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(normalise(p), 1e-15, 1 - 1e-15)
    return float(-np.mean(np.log(q[np.arange(len(y)), y])))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.asarray(p).argmax(1) == y))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def predictions(n: int, sharpness: float, k: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z) and predictions softmax(sharpness * z): calibrated at sharpness 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, size=(n, k))
    y = np.array([rng.choice(k, p=row) for row in softmax(z)])
    return softmax(sharpness * z), y


def test_temperature_undoes_overconfidence_and_underconfidence():
    for sharpness in (3.0, 0.4):
        p, y = predictions(4000, sharpness)
        t = fit_temperature(p, y)
        assert t == pytest.approx(sharpness, rel=0.1)  # dividing the logits by T restores the true sharpness
        assert log_loss(y, apply_temperature(p, t)) < log_loss(y, p) - 0.02


def test_apply_temperature_keeps_rankings_and_sums_to_one():
    p, _ = predictions(200, 2.0)
    for t in (0.3, 1.0, 4.0):
        q = apply_temperature(p, t)
        np.testing.assert_allclose(q.sum(1), 1.0)
        assert (q.argmax(1) == p.argmax(1)).all()
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, atol=1e-12)
    zeros = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # a zero and an all-zero row stay finite
    assert np.isfinite(apply_temperature(zeros, 0.5)).all()


def test_calibrate_applies_to_test_and_records_scores():
    p, y = predictions(3000, 3.0)
    test, _ = predictions(500, 3.0, seed=1)
    mask = np.ones(len(y), dtype=bool)
    oof, test_cal, info = calibrate("temperature", p, test, y, mask, log_loss, LOG_LOSS)
    assert info["applied"] and info["score_after"] < info["score_before"]
    assert info["score_before"] == pytest.approx(log_loss(y, p))
    assert info["score_after"] == pytest.approx(log_loss(y, oof))
    np.testing.assert_allclose(test_cal, apply_temperature(test, info["temperature"]))


def test_test_parts_are_calibrated_one_by_one_then_averaged():
    p, y = predictions(3000, 3.0)
    parts = [predictions(200, 3.0, seed=s)[0] for s in (3, 4, 5)]
    test = np.mean(parts, axis=0)
    _, test_cal, info = calibrate("temperature", p, test, y, np.ones(len(y), bool), log_loss, LOG_LOSS, parts)
    assert info["applied"] and info["test_per_fold"]
    np.testing.assert_allclose(test_cal, np.mean([apply_temperature(q, info["temperature"]) for q in parts], 0))
    # the stage builds each fold's blend from the models' fold predictions and the blend weights
    results = {"a": {"fold_tests": parts[:2]}, "b": {"fold_tests": parts[1:]}}
    blended = fold_blends(SimpleNamespace(), {"weights": {"a": 0.25, "b": 0.75}}, results)
    np.testing.assert_allclose(blended[1], 0.25 * parts[1] + 0.75 * parts[2])
    assert fold_blends(SimpleNamespace(blend=None), {"weights": {}}, results) is None  # a custom blend: no parts
    assert fold_blends(SimpleNamespace(), {"weights": {}}, {"a": {"test": test}}) is None  # e.g. `ensemble`


def test_calibration_never_makes_the_oof_score_worse():
    rng = np.random.default_rng(0)
    for seed in range(5):
        p, y = predictions(300, 1.0, seed=seed)  # calibrated already: any fitted T is noise
        test = rng.random((50, 10))
        oof, test_out, info = calibrate("temperature", p, test, y, np.ones(len(y), bool), log_loss, LOG_LOSS)
        assert log_loss(y, oof) <= log_loss(y, p) + 1e-12
        if not info["applied"]:
            assert np.array_equal(oof, p) and np.array_equal(test_out, test)
    # accuracy cannot change under a temperature, so it is never applied
    p, y = predictions(300, 3.0)
    test = rng.random((50, 10))
    oof, test_out, info = calibrate("temperature", p, test, y, np.ones(len(y), bool), accuracy, Metric("acc", True))
    assert not info["applied"] and np.array_equal(oof, p) and np.array_equal(test_out, test)
    assert info["reason"] == "the OOF score did not improve"


def test_holdout_rows_outside_the_mask_are_left_alone():
    p, y = predictions(1000, 3.0)
    p[:100] = np.nan  # rows without an OOF prediction (a holdout run)
    mask = np.ones(len(y), dtype=bool)
    mask[:100] = False
    oof, _, info = calibrate("temperature", p, p[100:200], y, mask, log_loss, LOG_LOSS)
    assert info["applied"] and np.isnan(oof[:100]).all() and np.isfinite(oof[100:]).all()


def test_stage_writes_calibration_files_and_skips_non_probabilities(tmp_path: Path):
    p, y = predictions(2000, 3.0)
    test, _ = predictions(100, 3.0, seed=2)
    module = SimpleNamespace(CALIBRATE="temperature", score=log_loss, METRIC=LOG_LOSS)
    b = {"oof": p, "test": test, "score": log_loss(y, p)}
    folds = np.arange(len(y)) % 3
    log = RunLog(tmp_path / "log.txt", quiet=True)
    oof, test_out, cv, info = calibrate_blend(module, y, folds, b, tmp_path, log)
    assert info["applied"] and cv == info["score_after"] < b["score"]
    assert json.loads((tmp_path / "calibration.json").read_text())["temperature"] == pytest.approx(info["temperature"])
    np.testing.assert_array_equal(np.load(tmp_path / "test" / "_calibrated.npy"), test_out)
    assert "calibration: temperature" in (tmp_path / "log.txt").read_text()
    # a regression output (one column) is left as it is, with a warning
    b = {"oof": y[:, None].astype(float), "test": np.zeros((5, 1)), "score": 0.0}
    oof, _, cv, info = calibrate_blend(module, y, folds, b, tmp_path, log)
    assert not info["applied"] and cv == 0.0 and np.array_equal(oof, b["oof"])
    assert "not class probabilities" in info["reason"]
    # a competition without CALIBRATE: nothing happens
    assert calibrate_blend(SimpleNamespace(), y, folds, b, tmp_path, log)[3] is None


def test_unknown_calibration_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    toy = make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", TOY + '\nCALIBRATE = "isotonic"\n')
    with pytest.raises(ContractError, match="CALIBRATE must be None or one of temperature, got 'isotonic'"):
        load_competition(str(toy))
    with pytest.raises(ContractError, match="Unknown calibration 'platt'"):
        calibrate("platt", np.ones((2, 2)), np.ones((2, 2)), np.zeros(2, int), np.ones(2, bool), log_loss, LOG_LOSS)


def test_calibration_score_is_out_of_fold_temperatures_fitted_on_the_other_folds():
    p, y = predictions(3000, 3.0)
    folds = np.arange(len(y)) % 3
    nested = [
        {"held": np.flatnonzero(folds == f), "fit": np.flatnonzero(folds != f), "fit_pred": p[folds != f]}
        for f in range(3)
    ]
    mask = np.ones(len(y), dtype=bool)
    oof, _, info = calibrate("temperature", p, p[:10], y, mask, log_loss, LOG_LOSS, nested=nested)
    expected = np.zeros_like(p)
    for f in range(3):
        t = fit_temperature(p[folds != f], y[folds != f])
        assert info["fold_temperatures"][f] == pytest.approx(t)
        expected[folds == f] = apply_temperature(p[folds == f], t)
    np.testing.assert_allclose(oof, expected)
    assert info["out_of_fold"] and info["score_after"] == pytest.approx(log_loss(y, expected))
    # in sample the temperature has seen the rows it is scored on: never worse than out of fold
    assert info["in_sample_after"] <= info["score_after"] < info["score_before"]
    assert info["temperature"] == pytest.approx(fit_temperature(p, y))  # the test predictions' T: all rows
