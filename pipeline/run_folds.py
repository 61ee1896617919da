"""A run's folds: --folds checked against the data, the log note on classes rarer than the folds, and the folds
themselves (saved ones on --resume, else made from the seed and saved).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import runfolder
from pipeline.contract import ContractError, Data
from pipeline.folds import FoldPlan, can_stratify_holdout, make_folds, rarer_than_folds
from pipeline.runstate import RunOptions


def fold_note(y: np.ndarray, folding: FoldPlan, data: Data) -> str:
    """A log line when stratified folds cannot give every class to every fold: classes rarer than the folds, or a
    holdout too small (or a class too rare) to stratify. Empty otherwise."""
    if folding.kind != "stratified" or data.classes is None or y.ndim != 1:
        return ""
    if data.train_only is not None:  # the rows the folds are made of, as check_fold_count counts them
        y = y[~np.asarray(data.train_only)]
    if folding.holdout:
        if can_stratify_holdout(y, folding.holdout):
            return ""
        return f"folds: the holdout of {folding.holdout:g} is drawn at random: too few rows to stratify it by class"
    rare, fewest = rarer_than_folds(y, folding.k)
    if not rare:
        return ""
    return (
        f"folds: {rare} class(es) have fewer rows than the {folding.k} folds (the rarest {fewest}); each is validated "
        "in as many folds as it has rows, and predicted there by models that trained on its other rows only"
    )


def check_fold_count(y: np.ndarray, folding: FoldPlan, groups: Any, classes: Any = None) -> None:
    """--folds against the data: at most one fold per row (per group); stratified, at most the rows of the commonest
    class. A class rarer than the folds is no obstacle (make_folds: it is validated in as many folds as it has rows;
    fold_note says so). `classes`: the names y's indices stand for, to name the class as the data does."""
    if folding.holdout:
        return
    k, kind, n = folding.k, folding.kind, len(y)
    if k > n:
        raise ContractError(f"--folds {k} is more than the {n} training rows; use --folds 2..{n}.")
    if kind == "stratified" and n:
        labels, counts = np.unique(y, return_counts=True)
        if counts.max() < k:
            common = labels[counts.argmax()]
            if classes is not None and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
                common = list(classes)[int(common)]
            raise ContractError(
                f"--folds {k}: stratified folds need a class with {k} rows; the commonest class ({common}) has "
                f"{counts.max()}. Use --folds {max(2, int(counts.max()))} or fewer."
            )
    if kind in ("group", "stratified_group") and groups is not None:
        n_groups = len(np.unique(np.asarray(groups)))
        if k > n_groups:
            raise ContractError(f"--folds {k} is more than the {n_groups} groups of the data; use fewer --folds.")


def read_or_make(run_dir: Path, y: np.ndarray, folding: FoldPlan, opts: RunOptions, data: Data) -> np.ndarray:
    """The run's folds: saved ones on resume, else made from the seed (data.train_only rows: -1) and saved."""
    if opts.resume:
        with contextlib.suppress(FileNotFoundError):
            folds = runfolder.read_folds(run_dir)
            if len(folds) != len(y):
                raise ContractError(f"--resume {run_dir}: saved folds cover {len(folds)} rows, the data has {len(y)}.")
            return folds
    folds = make_folds(
        y,
        folding.k,
        opts.seed,
        folding.kind,
        data.groups,
        folding.holdout,
        data.train_only,
        times=data.time,
        window=getattr(data, "horizon", None),
    )
    runfolder.write_folds(run_dir, folds)
    return folds
