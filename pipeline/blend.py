"""Blending as a pure function of saved out-of-fold predictions: non-negative weights that sum to 1."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize

from pipeline.contract import Metric
from pipeline.folds import learns_from

Score = Callable[[np.ndarray, np.ndarray], float]
# Config.blend_weights: "auto" (fitted weights, or equal ones when those score better out of fold), "fitted", "greedy"
# (ensemble selection alone: coarse weights, models that do not help left out), "equal"
BLEND_WEIGHTS = ("auto", "fitted", "greedy", "equal")


def blend(preds: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Weighted average of prediction arrays (rows x outputs)."""
    return np.tensordot(np.asarray(weights, dtype=float), np.stack(preds), axes=1)


def _loss(score: Score, metric: Metric, y: np.ndarray, preds: list[np.ndarray]) -> Callable[[np.ndarray], float]:
    sign = -1.0 if metric.greater_is_better else 1.0

    def loss(w: np.ndarray) -> float:
        # scored at w / sum(w): SLSQP's finite differences step off the simplex, and probabilities blended with
        # weights summing to 1.001 are not probabilities (scikit-learn's log_loss warns on each)
        w = np.asarray(w, dtype=float)
        total = w.sum()
        return sign * float(score(y, blend(preds, w / total if total > 0 else w)))

    return loss


# SLSQP's finite-difference steps, one search each (None: scipy's default)
SLSQP_STEPS: tuple[float | None, ...] = (None, 1e-3)


def _slsqp(loss: Callable[[np.ndarray], float], m: int, step: float | None = None) -> np.ndarray:
    """Weights by SLSQP from equal weights. `step`: the finite-difference step of its gradient (None: scipy's
    1.5e-8). A rank metric (roc_auc) barely moves for such a step, so SLSQP stays at equal weights; a 1e-3 step
    sees it move (benchmarks/blend_speed.py)."""
    res = minimize(
        loss,
        np.full(m, 1.0 / m),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * m,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
        options={"maxiter": 200, "ftol": 1e-10} | ({"eps": step} if step else {}),
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


# Rows the weights are fitted on at most: a seeded sample of the OOF rows beyond it. A few weights are estimated
# about as well from 50,000 rows as from a million, while the search scores hundreds of candidate blends over every
# row it sees (benchmarks/blend_speed.py, 200,000 rows: 3.4 times faster for roc_auc, 2 for log_loss; with the
# 1e-3 SLSQP step an out-of-fold blend as good or better; without that step SLSQP only escaped equal weights on
# all rows, so the sample alone lost 0.0006 AUC).
FIT_ROWS = 50_000


def fit_rows(mask: np.ndarray, limit: int = FIT_ROWS, seed: int = 0) -> np.ndarray:
    """The rows weights are fitted on: those `mask` selects, or a seeded sample of `limit` of them (kept in order)."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


def fit_weights(
    oofs: dict[str, np.ndarray],
    y: np.ndarray,
    score: Score,
    metric: Metric,
    mask: np.ndarray | None = None,
    limit: int = FIT_ROWS,
    greedy: bool = False,
) -> dict[str, float]:
    """Blend weights fitted on OOF rows (mask selects scored rows; at most `limit` of them, a seeded sample); never
    worse than the best single model on those rows. `greedy`: Caruana's ensemble selection alone (counts of 100
    picks with replacement), instead of the best of it, SLSQP, equal weights and the single models."""
    names = list(oofs)
    m = len(names)
    if m == 1:
        return {names[0]: 1.0}
    rows = fit_rows(np.ones(len(y), dtype=bool) if mask is None else np.asarray(mask, dtype=bool), limit)
    preds = [np.asarray(oofs[n])[rows] for n in names]
    yy = np.asarray(y)[rows]
    loss = _loss(score, metric, yy, preds)
    if greedy:
        return {n: float(w) for n, w in zip(names, _greedy(loss, m), strict=True)}
    candidates = [np.eye(m)[i] for i in range(m)] + [np.full(m, 1.0 / m), _greedy(loss, m)]
    for step in SLSQP_STEPS:
        with contextlib.suppress(ValueError, FloatingPointError):
            candidates.append(_slsqp(loss, m, step))
    best = min(candidates, key=loss)
    best = np.where(best < 1e-6, 0.0, best)
    best = best / best.sum()
    return {n: float(w) for n, w in zip(names, best, strict=True)}


BlendFit = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, Any]]


def nesting_groups(folds: np.ndarray, inner: int = 5) -> np.ndarray:
    """Groups of the scored rows for out-of-fold blend scores (-1: not scored).

    With k >= 2 CV folds these are the folds. A single holdout fold is split into `inner` parts (a fixed seeded
    permutation of its rows), so the blend can still be fitted on some holdout rows and scored on the others.
    """
    folds = np.asarray(folds)
    if len(np.unique(folds[folds >= 0])) >= 2:
        return folds.copy()
    groups = np.full(len(folds), -1, dtype=np.int64)
    rows = np.flatnonzero(folds >= 0)
    parts = min(inner, len(rows))
    if parts >= 2:
        order = np.random.default_rng(0).permutation(len(rows))
        groups[rows[order]] = np.arange(len(rows)) % parts
    elif len(rows):
        groups[rows] = 0
    return groups


def _paste(out: np.ndarray, rows: np.ndarray, part: np.ndarray) -> np.ndarray:
    """out[rows] = part, widening out with NaN columns when part is wider (variable-width detection rows)."""
    part = np.asarray(part, dtype=float).reshape(len(rows), -1)
    if part.shape[1] > out.shape[1]:
        out = np.hstack([out, np.full((len(out), part.shape[1] - out.shape[1]), np.nan)])
    out[rows] = np.nan
    out[rows, : part.shape[1]] = part
    return out


def nested_blend(
    fit: BlendFit,
    oofs: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    base: np.ndarray,
    forward: bool = False,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The blend out of fold: each group's rows blended with weights fitted on the other groups' OOF rows only.

    `forward` (folds forward in time, k >= 2): on the earlier folds' rows only, so no weight learns from a later
    period; the first fold, with none before it, is blended with equal weights (which fit nothing).

    `fit(oofs, tests, y, folds)` fits a blend on the rows with folds >= 0 and applies it to `tests`; here the
    held-out group's OOF rows play the test set. `base` (the blend fitted on all rows) fills rows that are not
    scored. Returns the out-of-fold blend (rows x outputs) and, per group, its held-out row indices with the rows
    and blended predictions the blend was fitted on (what calibration needs to be nested the same way).
    """
    groups = nesting_groups(folds)
    out = np.asarray(base, dtype=float).reshape(len(y), -1).copy()
    ids = sorted(int(g) for g in np.unique(groups[groups >= 0]))
    parts: list[dict[str, Any]] = []
    if len(ids) < 2:
        return out, parts
    forward = forward and len(np.unique(np.asarray(folds)[np.asarray(folds) >= 0])) >= 2  # not a holdout's parts
    for g in ids:
        held = np.flatnonzero(groups == g)
        inner = np.where((groups >= 0) & learns_from(groups, g, forward), groups, -1)
        fit_rows = np.flatnonzero(inner >= 0)
        if not len(fit_rows):  # forward, first fold: nothing before it to fit on
            equal = np.full(len(oofs), 1.0 / len(oofs))
            b = {"test": blend([np.asarray(o)[held] for o in oofs.values()], equal), "oof": np.asarray(base)}
            b["weights"] = dict(zip(oofs, equal.tolist(), strict=True))
        else:
            b = fit(oofs, {n: np.asarray(o)[held] for n, o in oofs.items()}, y, inner)
        out = _paste(out, held, b["test"])
        parts.append(
            {"held": held, "fit": fit_rows, "fit_pred": np.asarray(b["oof"])[fit_rows], "weights": b["weights"]}
        )
    return out, parts


def refit_per_group(
    nested: list[dict[str, Any]],
    oof: np.ndarray,
    y: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    apply: Callable[[np.ndarray, Any], np.ndarray],
) -> tuple[np.ndarray, list[Any]]:
    """A stage after the blend (or stack), out of fold: each nested group's held rows of `oof` transformed by
    `apply(rows, param)` with `param = fit(fit_pred, y[fit])` fitted on the other groups' rows and predictions only
    (`nested`: nested_blend's parts, or the stack's; a part with no fit rows is left as it is, its param None).
    Returns the transformed copy and each group's param."""
    out = np.asarray(oof, dtype=float).copy()
    params = []
    for part in nested:
        if not len(part["fit"]):  # folds forward in time: the first has no earlier rows, so it stays as it was
            params.append(None)
            continue
        param = fit(np.asarray(part["fit_pred"]), np.asarray(y)[part["fit"]])
        out[part["held"]] = apply(np.asarray(oof, dtype=float)[part["held"]], param)
        params.append(param)
    return out, params
