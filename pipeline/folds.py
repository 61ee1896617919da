"""Seeded cross-validation folds, shared by every model of a run and saved in the run folder."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from pipeline.contract import ContractError

KINDS = ("kfold", "stratified", "group", "stratified_group", "time")


@dataclass(frozen=True)
class FoldPlan:
    """How a run splits its training rows: the competition's fold kind, k, and a holdout fraction (0: k-fold)."""

    kind: str
    k: int
    holdout: float
    replaced_holdout: float = 0.0  # the Config's holdout that an explicit --folds replaced (0: none)

    @property
    def n_folds(self) -> int:
        """Validation folds the run fits per model (a holdout is a single split)."""
        return 1 if self.holdout else int(self.k)


def resolve_folds(module: Any, cfg: Any, folds: int | None) -> tuple[Any, FoldPlan]:
    """The config with --folds applied (when its Config has a `folds` field) and the run's FoldPlan.

    k is --folds, else Config.folds, else 5; the holdout fraction is Config.holdout (absent or 0: k-fold), unless
    --folds is given: asking for k folds, it replaces a holdout a preset or the Config sets (FoldPlan.replaced_holdout
    says so; before, the holdout won without a word). The kind is the competition's FOLDS (default "kfold"). The
    runner and tune's step plan both use this.
    """
    fields = {f.name for f in dataclasses.fields(cfg)}
    replaced = 0.0
    if folds is not None and "folds" in fields:
        cfg = dataclasses.replace(cfg, folds=folds)
    if folds is not None and "holdout" in fields and float(cfg.holdout or 0.0):
        replaced = float(cfg.holdout)
        cfg = dataclasses.replace(cfg, holdout=0.0)
    k = folds or getattr(cfg, "folds", 5)
    if not isinstance(k, int) or k < 2:  # --folds is checked as given; a --set, --params or preset value here
        raise ContractError(f"folds must be at least 2 (and at most the number of training rows), got {k!r}.")
    holdout = float(getattr(cfg, "holdout", 0.0) or 0.0)
    return cfg, FoldPlan(fold_kind(module), k, holdout, replaced)


def fold_kind(module: Any) -> str:
    """The competition's FOLDS (default "kfold")."""
    return getattr(module, "FOLDS", "kfold")


def runs_forward(module: Any) -> bool:
    """Whether the competition's folds run forward in time (FOLDS = "time"): then every stage after the fold models,
    blend weights, stack and cuts, learns from earlier folds only, and the test predictions are the last fold's."""
    return fold_kind(module) == "time"


def make_folds(
    y: np.ndarray,
    k: int,
    seed: int,
    kind: str = "kfold",
    groups: np.ndarray | None = None,
    holdout: float = 0.0,
    train_only: np.ndarray | None = None,
    times: np.ndarray | None = None,
    window: int | None = None,
) -> np.ndarray:
    """Fold index per row (0..k-1); with holdout > 0 a single split: -1 marks training-only rows, 0 validation.

    Rows of the `train_only` mask get -1 (in every fold's training rows, never validated); the other rows are split
    exactly as they would be on their own. Kind "time" orders the rows by `times` (Data.time) instead of drawing
    them, each fold validating `window` distinct times when given (Data.horizon): see time_folds.
    """
    if train_only is not None and np.asarray(train_only, dtype=bool).any():
        keep = ~np.asarray(train_only, dtype=bool)
        fold = np.full(len(y), -1, dtype=np.int64)
        sub_groups = None if groups is None else np.asarray(groups)[keep]
        sub_times = None if times is None else np.asarray(times)[keep]
        fold[keep] = make_folds(np.asarray(y)[keep], k, seed, kind, sub_groups, holdout, times=sub_times, window=window)
        return fold
    n = len(y)
    if kind not in KINDS:
        raise ContractError(f"Unknown fold kind '{kind}'. Valid: {', '.join(KINDS)}.")
    if kind == "time":
        if times is None:
            raise ContractError("Fold kind 'time' needs Data.time (a date or number per training row).")
        return time_folds(np.asarray(times), k, holdout, window)
    fold = np.full(n, -1, dtype=np.int64)
    y = np.asarray(y)
    if holdout:
        if not 0 < holdout < 1:
            raise ContractError(f"holdout must be a fraction in (0, 1), got {holdout}.")
        if kind in ("group", "stratified_group"):  # each group whole on one side, as its k-fold keeps it in one fold
            if groups is None:
                raise ContractError(f"Fold kind '{kind}' needs Data.groups.")
            splitter = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
            _, valid = next(splitter.split(np.zeros(n), y, groups))
        else:
            strat = y if kind == "stratified" and can_stratify_holdout(y, holdout) else None
            _, valid = train_test_split(np.arange(n), test_size=holdout, random_state=seed, stratify=strat)
        fold[valid] = 0
        return fold
    if k < 2:
        raise ContractError(f"--folds must be at least 2 (or use a holdout fraction), got {k}.")
    if kind == "stratified":
        if np.unique(y, return_counts=True)[1].max() < k:
            raise ContractError(f"Stratified folds need a class with {k} rows; none has. Use fewer --folds.")
        with warnings.catch_warnings():  # a class rarer than k is in as many validation folds as it has rows
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y))
    elif kind in ("group", "stratified_group"):
        if groups is None:
            raise ContractError(f"Fold kind '{kind}' needs Data.groups.")
        if kind == "group":
            splits = GroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y, groups)
        else:  # each group whole in one fold, the classes' shares as even across folds as the groups allow
            splits = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y, groups)
    else:
        splits = KFold(k, shuffle=True, random_state=seed).split(np.zeros(n))
    for i, (_, valid) in enumerate(splits):
        fold[valid] = i
    return fold


def can_stratify_holdout(y: np.ndarray, holdout: float) -> bool:
    """Whether a stratified holdout split exists: every class has 2 rows, and each side has room for every class
    (else the split is drawn at random: 176 leaf species do not fit a 0.5% holdout)."""
    counts = np.unique(y, return_counts=True)[1]
    n_valid = int(np.ceil(holdout * len(y)))
    return bool(counts.min() >= 2 and len(counts) <= n_valid <= len(y) - len(counts))


def rarer_than_folds(y: np.ndarray, k: int) -> tuple[int, int]:
    """(how many classes have fewer rows than the k folds, the fewest rows of a class): such a class is validated in
    as many folds as it has rows; a class seen by no training fold is predicted without having been trained on."""
    counts = np.unique(y, return_counts=True)[1]
    return int((counts < k).sum()), int(counts.min())


def time_folds(times: np.ndarray, k: int, holdout: float = 0.0, window: int | None = None) -> np.ndarray:
    """Forward-chaining folds: the rows sorted by time and cut into k + 1 periods of about equal rows (rows of one
    time never split). The first period is -1 (every fold trains on it, none validates it), period i + 1 is fold i,
    and fold i trains on the periods before it only (training_rows). With holdout > 0: the last `holdout` share of
    the rows in time is fold 0, the rest -1. Missing times (NaN, NaT) are refused.

    `window` (Data.horizon: the test lies that many steps after the training rows): each of the k folds validates
    `window` distinct times, the last k such spans of the rows in time, and the first period holds every time before
    them, as the test is validated against all the rows before it; with fewer than (k + 1) x window distinct times,
    each span is their share of (k + 1) equal spans of distinct times instead. A holdout ignores it."""
    order_key = np.asarray(times)
    if order_key.dtype.kind in "mM":
        missing = np.isnat(order_key)
    else:
        order_key = np.asarray(order_key, dtype=float)
        missing = np.isnan(order_key)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise ContractError(
            f"Data.time: {int(missing.sum())} training row(s) have no time (first: row {first}); time folds need one "
            "on every row."
        )
    values, rank = np.unique(order_key, return_inverse=True)  # rows of one time share a rank
    counts = np.bincount(rank, minlength=len(values))
    cum = np.cumsum(counts) / len(order_key)  # share of rows up to and including each time
    periods = 2 if holdout else k + 1
    if len(values) < periods:
        raise ContractError(f"Time folds need at least {periods} distinct times; the data has {len(values)}.")
    if window and not holdout:
        return _window_folds(len(values), k, int(window))[rank]
    if holdout:
        if not 0 < holdout < 1:
            raise ContractError(f"holdout must be a fraction in (0, 1), got {holdout}.")
        cuts = [1.0 - holdout]
    else:
        cuts = [i / periods for i in range(1, periods)]
    # the period of each time: how many cuts the share before it has passed (a time is never split)
    before = cum - counts / len(order_key)
    period = np.searchsorted(np.asarray(cuts), before + 1e-12, side="right")
    if len(np.unique(period)) < periods:  # a period got no time: two cuts fell inside one large time
        raise ContractError(
            f"Time folds: {periods} periods of about equal rows need more distinct times; one time holds "
            f"{counts.max()} of {len(order_key)} rows. Use fewer --folds."
        )
    return (period[rank] - 1).astype(np.int64)


def _window_folds(n_times: int, k: int, window: int) -> np.ndarray:
    """The fold of each of `n_times` distinct times in order (time_folds' `window`): the last k spans of `window`
    times are folds 0..k-1, every time before them -1; spans of n_times // (k + 1) where k + 1 windows do not fit."""
    span = max(1, min(window, n_times // (k + 1)))
    first = n_times - k * span  # the times before the folds' spans
    position = np.arange(n_times)
    return np.where(position < first, -1, (position - first) // span).astype(np.int64)


def learns_from(fold: np.ndarray, f: int, forward: bool) -> np.ndarray:
    """Which rows fold f learns from (a boolean mask): every other fold's and the -1 rows, or, forward in time, only
    the periods before f (and the -1 rows, which come first), so nothing learns from a later period. The fold models
    (training_rows), the blend's nested weights and the stack's meta-models all follow this one rule."""
    fold = np.asarray(fold)
    return fold < f if forward else fold != f


def training_rows(fold: np.ndarray, f: int, kind: str) -> np.ndarray:
    """Indices of the rows that fold f's models train on (learns_from; forward for kind "time")."""
    return np.flatnonzero(learns_from(fold, f, kind == "time"))


def fold_ids(fold: np.ndarray) -> list[int]:
    """The validation fold numbers present (0..k-1; a holdout has just 0)."""
    return sorted(int(f) for f in np.unique(fold) if f >= 0)


def scored_rows(fold: np.ndarray) -> np.ndarray:
    """Rows that have an out-of-fold prediction (all rows for k-fold, the validation rows for a holdout)."""
    return fold >= 0


def fold_score(score: Callable[[Any, Any], float], y: np.ndarray, pred: np.ndarray) -> float:
    """`score` of one fold's rows, or NaN where the metric is not defined on them alone: ROC AUC of a fold whose rows
    hold one class (a class with fewer rows than the folds leaves some folds without it). The out-of-fold score of
    every row together, which the run reports as its CV, stays defined. Any other error is raised."""
    try:
        return float(score(y, pred))
    except ValueError:
        y = np.asarray(y)
        if any(len(np.unique(column)) < 2 for column in y.reshape(len(y), -1).T):
            return float("nan")
        raise


def finite_mean(scores: Sequence[float]) -> tuple[float, float]:
    """The mean and standard deviation of the fold scores that are defined (fold_score), NaN when none is."""
    kept = np.asarray(scores, dtype=float)
    kept = kept[np.isfinite(kept)]
    return (float(kept.mean()), float(kept.std())) if len(kept) else (float("nan"), float("nan"))
