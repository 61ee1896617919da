"""Blend weights: non-negative, summing to one, never worse than the best single model on OOF rows."""

from __future__ import annotations

import numpy as np

from pipeline.contract import Metric
from pipeline.ensemble import blend, fit_weights


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((p.reshape(-1) - y) ** 2)))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float((p.argmax(1) == y).mean())


def test_complementary_models_get_both_weights() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    a = (y + rng.normal(0, 0.5, 500)).reshape(-1, 1)
    b = (y + rng.normal(0, 0.5, 500)).reshape(-1, 1)
    bad = rng.normal(size=(500, 1))
    w = fit_weights({"a": a, "b": b, "bad": bad}, y, rmse, Metric("rmse", False))
    assert all(v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-9
    assert w["bad"] < 0.05 and 0.3 < w["a"] < 0.7
    blended = blend([a, b, bad], np.array([w["a"], w["b"], w["bad"]]))
    assert rmse(y, blended) < min(rmse(y, a), rmse(y, b))


def test_non_smooth_metric_never_worse_than_best_single() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[y] * 0.6 + rng.random((300, 3)) * 0.5
    noise = rng.random((300, 3))
    w = fit_weights({"good": good, "noise": noise}, y, accuracy, Metric("accuracy", True))
    blended = blend([good, noise], np.array([w["good"], w["noise"]]))
    assert accuracy(y, blended) >= accuracy(y, good)


def test_mask_restricts_rows() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    a = np.array([[0.0], [1.0], [9.0], [9.0]])
    b = np.array([[9.0], [9.0], [2.0], [3.0]])
    w = fit_weights({"a": a, "b": b}, y, rmse, Metric("rmse", False), mask=np.array([True, True, False, False]))
    assert w["a"] > 0.99
