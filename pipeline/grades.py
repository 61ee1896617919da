"""Ordered integer grades scored by quadratic weighted kappa (QWK): the kappa as Kaggle computes it, and the cut
points that turn a regression's values into grades, fitted on out-of-fold values.

A target of ordered grades (a wine's quality 3..8, an adoption speed 0..4) is fitted as a number: the models learn
that 7 is nearer 8 than 3 is, which QWK rewards. The submission holds grades, so each value is cut into one:
grade g_i where c_{i-1} <= value < c_i for K-1 increasing cuts c. Rounding to the nearest grade cuts at the
midpoints, which is rarely QWK's best: fitted values are pulled toward the mean, so the rare extreme grades are
under-predicted, and QWK weighs the distance of a miss squared. The cuts are fitted by coordinate ascent from the
midpoints (each cut in turn moved to the best of GRID quantiles of the values between its neighbours, until a
pass moves none): the "optimised rounder" of Kaggle's ordinal competitions.

Honest CV, as for the F1/MCC threshold (pipeline/threshold.py): the cuts are applied only when they improve the
out-of-fold score computed with each fold's rows cut at cuts fitted on the other folds' rows (the blend's or the
stack's nested predictions, which never saw the fold's labels). The test values are cut at the cuts fitted on all
OOF rows. Config.threshold switches both stages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.blend import fit_rows

METRICS = ("qwk",)
GRID = 40  # candidate positions of a cut: this many quantiles of the values between its neighbours
PASSES = 10  # at most this many rounds over the cuts (each stops the search when it moves none)


def quadratic_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two integer ratings with quadratic weights, as Kaggle's metric computes it: the ratings
    span min..max of both, and a disagreement of d grades weighs (d / (span - 1))^2 (a grade neither holds still
    counts in the distance, where scikit-learn's cohen_kappa_score counts only the labels present)."""
    a, b = (np.rint(np.asarray(r, dtype=float).ravel()).astype(np.int64) for r in (a, b))
    if len(a) != len(b) or not len(a):
        raise ValueError(f"quadratic kappa needs two ratings of the same rows, got {len(a)} and {len(b)}.")
    lo = min(a.min(), b.min())
    n = int(max(a.max(), b.max()) - lo + 1)
    if n == 1:
        return 1.0  # every rating the same grade: full agreement
    observed = np.bincount((a - lo) * n + (b - lo), minlength=n * n).reshape(n, n).astype(float)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(a)
    i = np.arange(n)
    weights = (i[:, None] - i[None, :]) ** 2 / (n - 1) ** 2
    return float(1.0 - (weights * observed).sum() / (weights * expected).sum())


def grades_of(y: np.ndarray) -> np.ndarray:
    """The sorted distinct grades of a target; refused unless each is a whole number."""
    y = np.asarray(y, dtype=float).ravel()
    y = y[~np.isnan(y)]
    if not len(y) or (y % 1 != 0).any():
        bad = y[y % 1 != 0][:1]
        raise ValueError(f"grades must be whole numbers; the target holds {bad[0]:g}." if len(bad) else "no grades.")
    return np.unique(y)


def midpoints(grades: np.ndarray) -> np.ndarray:
    """The cuts of rounding to the nearest grade."""
    g = np.asarray(grades, dtype=float)
    return (g[1:] + g[:-1]) / 2


def values_of(pred: np.ndarray) -> np.ndarray:
    """The one value a row of a regression's predictions (rows x 1, or a vector)."""
    return np.asarray(pred, dtype=float).reshape(len(pred), -1)[:, 0]


def cut(pred: np.ndarray, cuts: np.ndarray, grades: np.ndarray) -> np.ndarray:
    """Rows x 1 grades: grades[i] for the values between cuts[i-1] (included) and cuts[i]."""
    idx = np.searchsorted(np.asarray(cuts, dtype=float), values_of(pred), side="right")
    return np.asarray(grades, dtype=float)[idx].reshape(-1, 1)


def nearest(pred: np.ndarray, grades: np.ndarray) -> np.ndarray:
    """Rows x 1: each value rounded to the nearest grade (a value half-way goes up)."""
    return cut(pred, midpoints(grades), grades)


def fit_cuts(pred: np.ndarray, y: np.ndarray, grades: np.ndarray) -> np.ndarray:
    """The K-1 increasing cuts whose grades score the best QWK against y on these rows, by coordinate ascent from
    the midpoints (never worse than rounding on them); searched on at most FIT_ROWS of them, a seeded sample, as the
    blend's weights are."""
    rows = fit_rows(np.ones(len(y), dtype=bool))
    v, y = values_of(pred)[rows], np.asarray(y, dtype=float)[rows]
    cuts = midpoints(grades)
    best = quadratic_kappa(y, cut(v, cuts, grades))
    for _ in range(PASSES):
        moved = False
        for i in range(len(cuts)):
            lo = cuts[i - 1] if i > 0 else -np.inf
            hi = cuts[i + 1] if i + 1 < len(cuts) else np.inf
            inside = v[(v > lo) & (v < hi)]
            if not len(inside):
                continue
            for c in np.unique(np.quantile(inside, np.linspace(0, 1, GRID))):
                trial = cuts.copy()
                trial[i] = c
                s = quadratic_kappa(y, cut(v, trial, grades))
                if s > best + 1e-12:
                    best, cuts, moved = s, trial, True
        if not moved:
            break
    return cuts


def apply(
    module: Any, cfg: Any, data: Any, y: np.ndarray, folds: np.ndarray, b: dict[str, Any], run_dir: Any, log: Any
) -> dict[str, Any]:
    """The runner's hook after the stack for a QWK target: `b` with its values cut into grades at cuts fitted out of
    fold when Config.threshold is on and the out-of-fold score improves, else as it was (the submission then rounds
    to the nearest grade); threshold.json records the cuts."""
    from pipeline.cutpoints import apply_out_of_fold

    y = np.asarray(y, dtype=float)
    grades = grades_of(y)
    if len(grades) < 2:
        return b

    def describe(cuts: np.ndarray) -> tuple[dict[str, Any], str]:
        fields = {"grades": grades.tolist(), "cuts": cuts.tolist(), "midpoints": midpoints(grades).tolist()}
        return fields, "grade cuts " + " ".join(f"{c:.2f}" for c in cuts)

    return apply_out_of_fold(
        module,
        b,
        y,
        folds,
        run_dir,
        log,
        fit=lambda pred, y_fit: fit_cuts(pred, y_fit, grades),
        transform=lambda p, c: cut(p, c, grades),
        describe=describe,
        fold_key="fold_cuts",
        baseline="rounded",
        kind="cuts",
    )
