"""Pseudo-labelling (Config.pseudo_label): each model fitted a second time on its fold's training rows plus the test
rows the first round's models label, as a model of its own, "<model>+pseudo" (the runner's second round).

The teacher of fold k is the equal-weight mean of the first round's fold-k test predictions: every one of those
models was fitted without fold k's rows, so no label of fold k reaches fold k's student and its out-of-fold score is
as honest as its teacher's. Neither the blend (its weights are fitted on every OOF row, fold k's labels included)
nor the mean over the folds (the other folds' models learned from fold k's rows) would be: on test rows that are
near-copies of training rows, either hands fold k's own labels to the student that fold k then scores.

Classification: a test row joins fold k's training rows, with the teacher's likeliest class as its label, where the
teacher's top probability is at least pseudo_label. Regression: pseudo_label is the share of the test rows that join
(1: every one), with the teacher's value as their label; those whose first-round models agree most (the smallest
standard deviation between their predictions; ties, and a single model, in a seeded random order).

With Config.pseudo_label_balance (classes only, off by default), the rows the threshold takes keep the training
labels' class shares: each class is capped at its share times the rows kept, as many rows as the class scarcest for
its share allows, each class's most confident first; a class with no test row at the threshold leaves that fit none.
A high threshold otherwise takes the easy classes only, and the students learn a class balance the data never had.

A model refitted on every training row (Config.refit) has a student refitted the same way; its teacher is the mean
of the first round's submission predictions (their refits', else their folds' merged), which is honest there since
no score is reported for a refit.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, competition_hook
from pipeline.folds import runs_forward
from pipeline.runfolder import FULL, fit_name

SUFFIX = "+pseudo"  # a student's model name: the first round's model's, with this after it


def student(model: str) -> str:
    """The name of `model`'s student in the run's results, parts/, models/ and the summary."""
    return f"{model}{SUFFIX}"


def setting(cfg: Any) -> float | None:
    """Config.pseudo_label as a number, or None when off (a Config without the field never pseudo-labels)."""
    value = getattr(cfg, "pseudo_label", None)
    return None if value is None else float(value)


def balanced(cfg: Any) -> bool:
    """Config.pseudo_label_balance: whether the pseudo-labelled rows keep the training class shares (a Config
    without the field never caps them)."""
    return bool(getattr(cfg, "pseudo_label_balance", False))


def check_setting(cfg: Any) -> None:
    """Refuse a pseudo_label that is neither None nor a number in (0, 1], and a pseudo_label_balance that is not a
    bool or is set without pseudo_label, naming the field, before any fit."""
    value, balance = getattr(cfg, "pseudo_label", None), getattr(cfg, "pseudo_label_balance", False)
    if not isinstance(balance, bool):
        raise ContractError(
            f"Config.pseudo_label_balance must be true or false, got {balance!r}: true caps each class's "
            "pseudo-labelled test rows at its share of the training labels."
        )
    if value is None:
        if balance:
            raise ContractError(
                "Config.pseudo_label_balance is true and pseudo_label is None (off): set pseudo_label (e.g. 0.9) to "
                "pseudo-label the test rows, or pseudo_label_balance=false."
            )
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 < value <= 1:
        raise ContractError(
            f"Config.pseudo_label must be None (off) or a number in (0, 1], got {value!r}: for classes the "
            "probability a test row's likeliest class needs to join the training rows (e.g. 0.95), for a "
            "regression the share of the test rows that join (1: all)."
        )


def unsuited(cfg: Any, module: Any, y: np.ndarray, classification: bool = True) -> str:
    """Why this competition's data cannot be pseudo-labelled ("" when it can, or when the option is off): the
    runner asks at load, before the run folder exists."""
    if setting(cfg) is None:
        return ""
    why = ""
    if balanced(cfg) and not classification:
        return (
            "Config.pseudo_label_balance: it keeps the training labels' class shares, and this target is a "
            "regression (pseudo_label takes a share of its test rows); set pseudo_label_balance=false."
        )
    if np.asarray(y).ndim != 1:
        why = f"it labels one target, and this data has {np.asarray(y).shape[1]}"
    elif any(competition_hook(module, hook, cfg) is not None for hook in ("blend", "merge_folds")):
        why = "the competition merges its models' predictions with hooks of its own (boxes, masks), not by a mean"
    elif runs_forward(module):
        why = "the folds run forward in time, where a test row lies after every fold it would join"
    return f"Config.pseudo_label: {why}; set pseudo_label=None." if why else ""


@dataclass(frozen=True)
class PseudoRows:
    """The test rows that join one fit's training rows (indices into X_test, in order) and their labels."""

    rows: np.ndarray
    labels: np.ndarray
    top: float = float("nan")  # classes: the highest mean probability of any test row's likeliest class
    # Config.pseudo_label_balance: the classes no test row reached the threshold for, where the threshold took rows
    # and the balance kept none of them
    scarce: tuple[int, ...] = ()

    def digest(self) -> str:
        """What a student's part key covers of its teacher: exactly the rows and labels it was fitted on."""
        h = hashlib.sha256(np.ascontiguousarray(self.rows, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.labels, dtype=np.float64).tobytes())
        return h.hexdigest()

    def key(self, base: str) -> str:
        """A student fit's part key: the runner's key of its config, seed, folds and name, and these rows."""
        return hashlib.sha256(json.dumps({"key": base, "pseudo": self.digest()}).encode()).hexdigest()[:16]

    def added_to(self, X_tr: Any, y_tr: np.ndarray, X_test: Any) -> tuple[Any, np.ndarray]:
        """The fit's training rows with these test rows after them (a DataFrame, an array of paths or of decoded
        images, or a list: as X_test is)."""
        if not len(self.rows):
            return X_tr, y_tr
        y = np.concatenate([np.asarray(y_tr), self.labels.astype(np.asarray(y_tr).dtype, copy=False)])
        if isinstance(X_tr, pd.DataFrame | pd.Series):
            return pd.concat([X_tr, X_test.iloc[self.rows]], ignore_index=True), y
        if isinstance(X_tr, list):
            return [*X_tr, *(X_test[i] for i in self.rows)], y
        if isinstance(X_tr, np.ndarray):
            return np.concatenate([X_tr, np.asarray(X_test)[self.rows]]), y
        raise ContractError(f"Config.pseudo_label: cannot add test rows to training inputs of {type(X_tr).__name__}.")


def teach(
    tests: dict[str, np.ndarray],
    share: float,
    n_classes: int | None,
    seed: int,
    what: str = "fold",
    priors: np.ndarray | None = None,
) -> PseudoRows:
    """The pseudo-labelled test rows of one fit from its teachers' test predictions (model -> rows x outputs): for
    classes (`n_classes`), the rows whose mean probability of their likeliest class is at least `share`, with
    `priors` (each class's share of the training labels, Config.pseudo_label_balance) as many of each class as keep
    those shares; for values, that share of the rows, those the models agree on most. `what` names the fit in
    errors."""
    preds = [np.asarray(p, dtype=np.float64) for p in tests.values()]
    shapes = {p.shape for p in preds}
    if len(shapes) != 1 or preds[0].ndim != 2:
        raise ContractError(f"Config.pseudo_label: the {what}'s test predictions differ in shape: {sorted(shapes)}.")
    mean = np.mean(preds, axis=0)
    n = len(mean)
    if n_classes is not None:
        if mean.shape[1] != n_classes:
            raise ContractError(
                f"Config.pseudo_label: {', '.join(tests)} predict {mean.shape[1]} column(s) of the test rows, not the "
                f"{n_classes} class probabilities a pseudo label is read from."
            )
        top = mean.max(axis=1)
        rows = np.flatnonzero(top >= share)
        labels = mean[rows].argmax(axis=1)
        if priors is None:
            return PseudoRows(rows, labels, float(top.max(initial=0.0)))
        kept = keep_balance(labels, top[rows], priors)
        scarce = tuple(int(c) for c in np.flatnonzero((priors > 0) & (np.bincount(labels, minlength=n_classes) == 0)))
        return PseudoRows(rows[kept], labels[kept], float(top.max(initial=0.0)), scarce if len(rows) else ())
    spread = np.std(preds, axis=0).mean(axis=1)
    order = np.lexsort((np.random.default_rng(seed).permutation(n), spread))  # the smallest spread first
    rows = np.sort(order[: int(round(share * n))])
    return PseudoRows(rows, mean[rows, 0])


def keep_balance(labels: np.ndarray, top: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Which of the rows a threshold took (their `labels` and likeliest class's mean probability, `top`) keep the
    training labels' class shares, `priors` (Config.pseudo_label_balance): each class capped at its share times the rows
    kept, the rows kept as many as the class scarcest for its share allows (none where a class with training rows
    has no row here); within a class its most confident rows, ties the earlier row. Indices into `labels`, in order."""
    found = np.bincount(labels, minlength=len(priors))
    present = priors > 0
    total = min(float(len(labels)), float(np.min(found[present] / priors[present])))
    caps = np.minimum(found, np.floor(priors * total + 1e-9).astype(int))
    kept = []
    for c in np.flatnonzero(caps):
        mine = np.flatnonzero(labels == c)
        kept.append(mine[np.argsort(-top[mine], kind="stable")][: caps[c]])
    return np.sort(np.concatenate(kept)) if kept else np.array([], dtype=np.int64)


def class_priors(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Each class's share of the training labels (class indices 0 .. n_classes - 1)."""
    counted = np.bincount(np.asarray(y).astype(np.int64), minlength=n_classes)
    return counted / max(1, counted.sum())


def teaching(
    fold_tests: dict[str, dict[int, np.ndarray]],
    refits: dict[str, np.ndarray] | None,
    share: float,
    n_classes: int | None,
    seed: int,
    priors: np.ndarray | None = None,
) -> dict[int | str, PseudoRows]:
    """Each student fit's pseudo-labelled test rows: fold k's from the teachers' fold-k test predictions
    (`fold_tests`: model -> fold -> rows x outputs, each from a model that never saw fold k's rows); with `refits`
    (each teacher's submission predictions, Config.refit), the refit's (runfolder.FULL) from those. `priors`: the
    training labels' class shares the rows keep (Config.pseudo_label_balance), None: uncapped."""
    folds = list(next(iter(fold_tests.values())))
    out: dict[int | str, PseudoRows] = {
        f: teach({m: tests[f] for m, tests in fold_tests.items()}, share, n_classes, seed, fit_name(f), priors)
        for f in folds
    }
    if refits is not None:
        out[FULL] = teach(refits, share, n_classes, seed, fit_name(FULL), priors)
    return out


def counts(
    taught: dict[int | str, PseudoRows], teachers: list[str], n_test: int, classes: list[Any] | None = None
) -> str:
    """The run's log line of the second round: its teachers and how many test rows each fit learns from, with
    `classes` (their names) how many of each class."""
    each = ", ".join(f"{fit_name(f)} {len(r.rows)}{_per_class(r, classes)}" for f, r in taught.items())
    return f"pseudo labels of the {n_test} test rows from the mean of {', '.join(teachers)}: {each}"


def _per_class(taught: PseudoRows, classes: list[Any] | None) -> str:
    """How many of a fit's pseudo-labelled rows are of each class, as " (a=3, b=0, c=5)" ("" for values, or none)."""
    if classes is None or not len(taught.rows):
        return ""
    found = np.bincount(np.asarray(taught.labels).astype(np.int64), minlength=len(classes))
    return f" ({', '.join(f'{name}={int(n)}' for name, n in zip(classes, found, strict=True))})"


def none_taught(taught: dict[int | str, PseudoRows], share: float, classes: list[Any] | None = None) -> str:
    """The warning when no fit gains a test row (its students would be its teachers again), else ""."""
    if any(len(r.rows) for r in taught.values()):
        return ""
    if scarce := sorted({c for r in taught.values() for c in r.scarce}):
        names = ", ".join(str(classes[c]) if classes is not None else str(c) for c in scarce)
        return (
            f"pseudo_label={share:g} with pseudo_label_balance: no test row of class(es) {names} reaches that "
            "probability by its fold's models' mean, so keeping the training class shares takes no row and no model "
            "has a student: lower pseudo_label, or set pseudo_label_balance=false"
        )
    top = max(r.top for r in taught.values())
    if not np.isfinite(top):  # a regression: the share rounds to no row
        return f"pseudo_label={share:g}: that share of the test rows is no row, so no model has a student"
    return (
        f"pseudo_label={share:g}: no test row's likeliest class reaches that probability by its fold's models' mean"
        f" (the highest is {top:.3f}), so no model has a student; a network trained with label smoothing s rarely "
        "passes 1 - s + s / classes: lower pseudo_label"
    )


def describe(share: float, classification: bool, balance: bool = False) -> str:
    """The option in the run's plan line."""
    options = "pseudo_label"
    if classification:
        chosen = f"the test rows whose likeliest class has a mean probability >= {share:g} by that fold's models"
        if balance:
            chosen += ", as many of each class as keep the training class shares"
            options += ", pseudo_label_balance"
    else:
        rows = "every test row" if share >= 1 else f"the {share:.0%} of the test rows that fold's models agree on most"
        chosen = f"{rows}, valued at their mean"
    return f"then each model again as <model>{SUFFIX} on each fold's training rows plus {chosen} ({options})"
