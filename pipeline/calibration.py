"""Calibration of blended class probabilities: one temperature fitted on the OOF predictions by log loss.

Log-loss metrics punish overconfidence hard, and fine-tuned networks (and averages of them) are rarely calibrated.
Dividing the logits log(p) by one temperature T keeps every ranking (accuracy is unchanged) and only sharpens
(T < 1) or softens (T > 1) the probabilities. T is fitted on OOF rows, which the models never trained on, so it
carries over to the test predictions; with a single parameter fitted on thousands of rows it barely overfits. The
score that decides whether it is applied, and the one reported, is out of fold all the same: each fold's rows are
calibrated with a temperature fitted on the other folds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.blend import refit_per_group
from pipeline.contract import CALIBRATIONS, ContractError, Metric

EPS = 1e-15
T_BOUNDS = (0.05, 20.0)


def rescale_rows(pred: Any) -> np.ndarray:
    """Rows rescaled to sum to 1 (an all-zero row becomes uniform), as Kaggle rescales before scoring."""
    p = np.asarray(pred, dtype=np.float64)
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)


def normalise(p: Any) -> np.ndarray:
    """Rows rescaled to sum to 1 (all-zero rows become uniform), then clipped to [EPS, 1 - EPS] as Kaggle does."""
    return np.clip(rescale_rows(p), EPS, 1 - EPS)


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T): the probabilities p at temperature T (T = 1 returns p, normalised)."""
    z = np.log(normalise(p)) / float(temperature)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(p: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = T_BOUNDS) -> float:
    """The temperature minimising the log loss of p on labels y (bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    z = np.log(normalise(p))
    idx = np.arange(len(z)), np.asarray(y, dtype=np.int64)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[idx]))

    res = minimize_scalar(nll, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded")
    best = float(np.exp(res.x))
    return best if nll(np.log(best)) <= nll(0.0) else 1.0


def calibrate(
    method: str,
    oof: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    score: Callable[[Any, Any], float],
    metric: Metric,
    test_parts: list[np.ndarray] | None = None,
    nested: list[dict[str, Any]] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit `method` on the OOF rows in mask; return (oof, test, info), calibrated only if the OOF score improves.

    The score that decides is out of fold: with `nested` (per fold: its held-out row indices `held`, and the rows
    `fit` with the blended predictions `fit_pred` it was fitted on, see pipeline.blend.nested_blend), each fold's
    rows are calibrated with a temperature fitted on the other folds only; without it (fewer than two scored groups)
    the in-sample score decides and info says `out_of_fold: false`. The temperature for the test predictions is
    fitted on all OOF rows.

    Each OOF row comes from one fold's model, while `test` is usually the mean over the fold models, which is
    already softer than any one of them. Given `test_parts` (the test predictions of each fold's model, whose mean
    is `test`), the temperature is applied to each part before averaging, as it was fitted on single fold models;
    otherwise it is applied to `test`. info records the method, the temperature, the out-of-fold scores before and
    after (`score_before`, `score_after`), the in-sample score after (`in_sample_after`: the temperature fitted on
    the rows it is scored on), the per-fold temperatures and whether it was applied; when it is not, the
    arrays come back unchanged.
    """
    if method not in CALIBRATIONS:
        raise ContractError(f"Unknown calibration {method!r}. Valid: {', '.join(CALIBRATIONS)}.")
    oof, test = np.asarray(oof, dtype=np.float64), np.asarray(test, dtype=np.float64)
    info: dict[str, Any] = {"method": method, "applied": False}
    rows = oof[mask]
    if oof.ndim != 2 or oof.shape[1] < 2 or not np.isfinite(rows).all() or (rows < 0).any() or (test < 0).any():
        info["reason"] = "predictions are not class probabilities (rows x classes, non-negative)"
        return oof, test, info
    yy = np.asarray(y)[mask]
    t = fit_temperature(rows, yy)
    before = float(score(yy, rows))
    in_sample_after = float(score(yy, apply_temperature(rows, t)))
    out = oof.copy()
    if nested:
        out, fold_t = refit_per_group(nested, oof, y, fit_temperature, apply_temperature)
        after = float(score(yy, out[mask]))
        info["fold_temperatures"] = fold_t
    else:
        out[mask] = apply_temperature(rows, t)
        after = in_sample_after
    info.update(
        {
            "temperature": t,
            "score_before": before,
            "score_after": after,
            "out_of_fold": bool(nested),
            "in_sample_after": in_sample_after,
        }
    )
    if not metric.better(after, before):
        info["reason"] = "the out-of-fold score did not improve" if nested else "the OOF score did not improve"
        return oof, test, info
    info["applied"] = True
    info["test_per_fold"] = bool(test_parts)
    return out, apply_saved(info, test, test_parts), info


def apply_saved(saved: dict[str, Any], test: np.ndarray, test_parts: list[np.ndarray] | None) -> np.ndarray:
    """The fitted temperature (calibrate's info, or stages.json's "calibration") applied to the test predictions:
    to each fold model's part before they are averaged when the run applied it so (`test_per_fold`), else to
    `test`."""
    t = float(saved["temperature"])
    if saved.get("test_per_fold"):
        if not test_parts:
            raise ValueError(
                "the calibration was applied per fold model, and no fold model's test predictions are here"
            )
        return np.mean([apply_temperature(part, t) for part in test_parts], axis=0)
    return apply_temperature(np.asarray(test, dtype=np.float64), t)
