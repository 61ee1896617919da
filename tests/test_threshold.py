"""The F1/MCC decision threshold: a logit shift cutting at t, fitted on out-of-fold probabilities and scored so."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline import threshold
from pipeline.contract import Metric
from pipeline.tabular.metrics import METRICS, labels, score


def probabilities(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels with about 15% positives and two-column probabilities carrying `signal` about them (0: pure noise)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    logit = signal * (2 * y - 1) + rng.normal(0, 1, n) - 1.5
    p1 = 1 / (1 + np.exp(-logit))
    return np.column_stack([1 - p1, p1]), y


def test_the_shift_cuts_at_t_and_keeps_the_ranking() -> None:
    pred, _ = probabilities(500, 0, 1.0)
    for t in (0.1, 0.3, 0.5, 0.8):
        shifted = threshold.shift(pred, t)
        assert np.allclose(shifted.sum(axis=1), 1.0)
        assert (labels(shifted) == (pred[:, 1] > t)).all()
        assert (np.argsort(shifted[:, 1], kind="stable") == np.argsort(pred[:, 1], kind="stable")).all()


def test_a_rare_class_scored_by_f1_gets_a_lower_cut() -> None:
    pred, y = probabilities(3000, 1, 1.0)
    t = threshold.fit_threshold(pred, y, lambda a, b: score("f1", a, b))
    assert t < 0.4
    assert score("f1", y, threshold.shift(pred, t)) > score("f1", y, pred) + 0.05


def run_apply(pred: np.ndarray, y: np.ndarray, metric: str, tmp_path: Path, classes: tuple = ("0", "1")) -> dict:
    """threshold.apply as the runner calls it, on 5 folds of the rows with each fold's nested predictions."""
    folds = np.arange(len(y)) % 5
    nested = [
        {"held": np.flatnonzero(folds == f), "fit": np.flatnonzero(folds != f), "fit_pred": pred[folds != f]}
        for f in range(5)
    ]
    better = METRICS[metric].greater_is_better
    module = SimpleNamespace(METRIC=Metric(metric, better), score=lambda a, b: score(metric, a, b))
    b = {"oof": pred, "test": pred[:50], "score": score(metric, y, pred), "nested": nested}
    data = SimpleNamespace(classes=list(classes))
    return threshold.apply(module, SimpleNamespace(threshold=True), data, y, folds, b, tmp_path, lambda *_: None)


def test_on_noise_the_out_of_fold_score_is_not_fooled(tmp_path: Path) -> None:
    # predictions that know nothing: a cut fitted on the rows it scores finds a lucky MCC; cut out of fold it does
    # not on average (a leaky version, each fold cut at the threshold fitted on all rows, would read as in-sample)
    in_sample, out_of_fold = [], []
    for seed in range(10):
        pred, y = probabilities(1000, seed, 0.0)
        t = threshold.fit_threshold(pred, y, lambda a, b: score("mcc", a, b))
        in_sample.append(score("mcc", y, threshold.shift(pred, t)))
        out = run_apply(pred, y, "mcc", tmp_path)
        out_of_fold.append(out["threshold"]["score_after"])
        if not out["threshold"]["applied"]:
            assert out["score"] == out["threshold"]["score_before"] and out["oof"] is pred
    assert np.mean(in_sample) > 0.04 and np.mean(out_of_fold) < 0.01 < np.mean(in_sample) - 0.03


def test_with_signal_the_cut_is_applied_and_reported_out_of_fold(tmp_path: Path) -> None:
    pred, y = probabilities(3000, 3, 1.0)
    out = run_apply(pred, y, "f1", tmp_path)
    info = out["threshold"]
    assert info["applied"] and out["score"] == info["score_after"] > info["score_before"] + 0.05
    assert len(set(info["fold_thresholds"])) > 1  # each fold cut at a threshold fitted on the other folds
    assert (labels(out["test"]) == (pred[:50, 1] > info["threshold"])).all()
    assert (tmp_path / "threshold.json").exists()
    # accuracy keeps 0.5: the hook leaves it alone
    assert run_apply(pred, y, "accuracy", tmp_path).get("threshold") is None


def test_balanced_accuracy_cuts_a_rare_class_near_its_share(tmp_path: Path) -> None:
    # each class's recall counts alike: at 0.5 the 15% class is mostly missed, a cut near its share finds it
    pred, y = probabilities(3000, 4, 1.0)
    out = run_apply(pred, y, "balanced_accuracy", tmp_path)
    info = out["threshold"]
    assert info["applied"] and info["threshold"] < 0.3
    assert out["score"] == info["score_after"] > info["score_before"] + 0.1  # out of fold


def test_balanced_log_loss_shifts_the_probabilities_to_the_class_balance(tmp_path: Path) -> None:
    # each class's rows weigh alike: probabilities calibrated to a 15% class are reweighed by the inverse shares,
    # the shift at t = the positive share; fitted and scored out of fold like a cut
    pred, y = probabilities(3000, 5, 1.0)
    out = run_apply(pred, y, "balanced_log_loss", tmp_path)
    info = out["threshold"]
    assert info["applied"] and abs(info["threshold"] - y.mean()) < 0.1
    assert out["score"] == info["score_after"] < info["score_before"] - 0.05  # lower is better, out of fold
    assert np.allclose(out["oof"].sum(axis=1), 1.0)  # still probabilities


def three_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels of three classes with shares about 70%, 20% and 10%, and calibrated probabilities with some signal."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    logits = np.log([0.7, 0.2, 0.1]) + 1.2 * np.eye(3)[y] + rng.normal(0, 1, (n, 3))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), y


@pytest.mark.parametrize("metric", ["balanced_accuracy", "balanced_log_loss"])
def test_several_classes_are_reweighed_by_their_shares_out_of_fold(tmp_path: Path, metric: str) -> None:
    # every class counts alike: the rare classes' probabilities divided by their shares, fitted on the other folds
    pred, y = three_classes(3000, 6)
    out = run_apply(pred, y, metric, tmp_path, ("a", "b", "c"))
    info = out["threshold"]
    assert info["applied"] and np.allclose(info["shares"], np.bincount(y) / len(y))
    assert METRICS[metric].greater_is_better == (info["score_after"] > info["score_before"])  # better, out of fold
    assert out["score"] == info["score_after"] and np.allclose(out["oof"].sum(axis=1), 1.0)
    assert (out["oof"].argmax(axis=1) == 2).sum() > (pred.argmax(axis=1) == 2).sum()  # the rarest class named more
    saved = out["stages"]["threshold"]
    assert np.allclose(threshold.apply_saved(saved, pred[:50]), out["test"])  # what predict applies to new rows
    plain = run_apply(pred, y, "log_loss", tmp_path, ("a", "b", "c"))
    assert plain.get("threshold") is None  # plain log loss: left alone
