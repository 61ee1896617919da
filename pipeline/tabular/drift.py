"""Adversarial validation: can a model tell the test rows from the training rows, and by which columns?

A gradient-boosted classifier (the recipe's LightGBM, its own encoder fitted inside each fold) learns "is this row
from the test set" on the feature columns of both tables, k-fold; its out-of-fold ROC AUC says how different they
are. 0.5: no model here tells them apart, so the CV on training rows speaks for the test rows. Well above 0.5: the
test rows differ (a later period, another population), the CV may not track the leaderboard, and the columns the
classifier leans on say where. Each fold stops early on 10% of its own training rows, never on the rows it
scores, so an AUC at chance reads as chance. A high-cardinality code is read by its frequency and tokens, not by its
mean label (target encoding): a code held by one row on each side, as a copy of the rows holds every code, would
encode as the other side's label and tell the sides apart by that alone (a copy of Titanic's train.csv against itself
read AUC 0.95, "very different", on Ticket). The same check compares a Playground competition's original dataset
with the competition's own rows (`against="original"`).

The AUC's standard error is Hanley and McNeil's; the verdict counts an AUC within two of them of 0.5 as alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from pipeline.tabular.metrics import binary_auc
from pipeline.tabular.models import Boosted

ROWS = 200_000  # at most this many rows are compared (a seeded sample of each side, in proportion)
# (AUC below which, verdict): the first that holds
VERDICTS = (
    (0.6, "slightly different: a classifier tells them apart a little; the CV should still rank models right"),
    (0.8, "different: the CV on training rows may not track the leaderboard; validate on the most test-like rows"),
    (1.01, "very different: the test rows are another population; the CV will not track the leaderboard"),
)
ALIKE = "alike: no model here tells them apart better than chance, so the CV speaks for the test rows"
# the same verdicts for a Playground competition's original dataset against its own (generated) training rows: what
# they say is whether its rows help the models, which the CV with --set original=add, flag or off measures
VERDICTS_ORIGINAL = (
    (
        0.6,
        "slightly different: the generated rows drift a little from the original's; its rows should still help "
        "(compare the CV with --set original=add and original=flag)",
    ),
    (
        0.8,
        "different: the generated rows drift from the original's; --set original=flag lets the models tell them "
        "apart (compare the CV with original=off)",
    ),
    (1.01, "very different: the original's rows are another population; compare the CV with --set original=off"),
)
ALIKE_ORIGINAL = (
    "alike: no model here tells the original's rows from the competition's better than chance; its rows are more "
    "of the same population (--set original=add)"
)


@dataclass
class Drift:
    """What the check found: the out-of-fold AUC of telling `second` rows from `first` rows and its standard error,
    each fold's AUC, each column's share of the classifier's importance (largest first) and the verdict."""

    first: str
    second: str
    rows: tuple[int, int]
    auc: float
    se: float
    fold_aucs: list[float]
    columns: dict[str, float] = field(default_factory=dict)
    verdict: str = ""


def auc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's standard error of an ROC AUC from n_pos and n_neg rows."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def verdict(auc: float, se: float, against: str = "test") -> str:
    """The verdict line for an AUC and its standard error, of the training rows against the test rows or against the
    original dataset's ("original")."""
    alike, verdicts = (ALIKE_ORIGINAL, VERDICTS_ORIGINAL) if against == "original" else (ALIKE, VERDICTS)
    if auc - 2 * se <= 0.5:
        return alike
    return next(text for limit, text in verdicts if auc < limit)


def sample_rows(n_first: int, n_second: int, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of each side kept when there are more than `limit` rows in all (each side in proportion)."""
    total = n_first + n_second
    if total <= limit:
        return np.arange(n_first), np.arange(n_second)
    rng = np.random.default_rng(seed)
    keep_first = max(1, round(limit * n_first / total))
    pick = [
        np.sort(rng.choice(n, k, replace=False)) for n, k in ((n_first, keep_first), (n_second, limit - keep_first))
    ]
    return pick[0], pick[1]


def adversarial(
    first: pd.DataFrame,
    second: pd.DataFrame,
    names: tuple[str, str] = ("train", "test"),
    folds: int = 5,
    seed: int = 0,
    rows: int = ROWS,
    n_jobs: int = 1,
) -> Drift:
    """Fit the classifier k-fold on `first` (label 0) and `second` (label 1), their shared columns only."""
    columns = [c for c in first.columns if c in second.columns]
    if not columns:
        raise ValueError(f"{names[0]} and {names[1]} share no feature column.")
    a, b = sample_rows(len(first), len(second), rows, seed)
    X = pd.concat([first[columns].iloc[a], second[columns].iloc[b]], ignore_index=True)
    y = np.r_[np.zeros(len(a), dtype=np.int64), np.ones(len(b), dtype=np.int64)]
    if min(len(a), len(b)) < folds:
        raise ValueError(f"{names[0]} has {len(a)} rows and {names[1]} {len(b)}: fewer than the {folds} folds.")
    oof = np.zeros(len(y))
    fold_aucs, shares = [], []
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        model = Boosted(
            "lightgbm",
            task="binary",
            n_estimators=1000,
            learning_rate=0.1,
            early_stopping=50,
            params={"num_leaves": 15},
            valid_fraction=0.1,
            random_state=seed,
            n_jobs=n_jobs,
            target_encoding=False,  # a code's mean label would read its rows on the other side: see the docstring
        ).fit(X.iloc[tr], y[tr])
        oof[va] = model.predict_proba(X.iloc[va])[:, 1]
        fold_aucs.append(binary_auc(y[va], oof[va]))
        shares.append(pd.Series(model.feature_importances_, index=model.feature_names_in_))
    auc = binary_auc(y, oof)
    se = auc_se(auc, len(b), len(a))
    importance = pd.concat(shares, axis=1).fillna(0.0).mean(axis=1).sort_values(ascending=False)
    return Drift(
        first=names[0],
        second=names[1],
        rows=(len(a), len(b)),
        auc=auc,
        se=se,
        fold_aucs=fold_aucs,
        columns={str(c): float(v) for c, v in importance.items()},
        verdict=verdict(auc, se, names[1]),
    )
