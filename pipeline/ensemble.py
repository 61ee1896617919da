"""Blending as a pure function of saved out-of-fold predictions: non-negative weights that sum to 1."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from pipeline.contract import Metric

Score = Callable[[np.ndarray, np.ndarray], float]


def blend(preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted average of prediction arrays (rows x outputs)."""
    return np.tensordot(np.asarray(weights, dtype=float), np.stack(preds), axes=1)


def _loss(score: Score, metric: Metric, y: np.ndarray, preds: list[np.ndarray]) -> Callable[[np.ndarray], float]:
    sign = -1.0 if metric.greater_is_better else 1.0

    def loss(w: np.ndarray) -> float:
        return sign * float(score(y, blend(preds, w)))

    return loss


def _slsqp(loss: Callable[[np.ndarray], float], m: int) -> np.ndarray:
    res = minimize(
        loss,
        np.full(m, 1.0 / m),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * m,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
        options={"maxiter": 200, "ftol": 1e-10},
    )
    w = np.clip(np.nan_to_num(res.x, nan=0.0), 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)


def _greedy(loss: Callable[[np.ndarray], float], m: int, rounds: int = 100) -> np.ndarray:
    """Caruana-style ensemble selection with replacement: works for any metric, smooth or not."""
    counts = np.zeros(m)
    best_single = min(range(m), key=lambda i: loss(np.eye(m)[i]))
    counts[best_single] = 1
    current = loss(counts / counts.sum())
    for _ in range(rounds):
        trials = []
        for i in range(m):
            c = counts.copy()
            c[i] += 1
            trials.append(loss(c / c.sum()))
        i = int(np.argmin(trials))
        if trials[i] > current - 1e-12:
            break
        counts[i] += 1
        current = trials[i]
    return counts / counts.sum()


def fit_weights(
    oofs: dict[str, np.ndarray], y: np.ndarray, score: Score, metric: Metric, mask: np.ndarray | None = None
) -> dict[str, float]:
    """Blend weights fitted on OOF rows (mask selects scored rows); never worse than the best single model."""
    names = list(oofs)
    m = len(names)
    if m == 1:
        return {names[0]: 1.0}
    mask = np.ones(len(y), dtype=bool) if mask is None else mask
    preds = [np.asarray(oofs[n])[mask] for n in names]
    yy = np.asarray(y)[mask]
    loss = _loss(score, metric, yy, preds)
    candidates = [np.eye(m)[i] for i in range(m)] + [np.full(m, 1.0 / m), _greedy(loss, m)]
    with contextlib.suppress(ValueError, FloatingPointError):
        candidates.append(_slsqp(loss, m))
    best = min(candidates, key=loss)
    best = np.where(best < 1e-6, 0.0, best)
    best = best / best.sum()
    return {n: float(w) for n, w in zip(names, best, strict=True)}
