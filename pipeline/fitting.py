"""Fitting one model on one fold: seeds, threads and the runner's FitContext, kept out of competition code."""

from __future__ import annotations

import contextlib
import inspect
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from pipeline.contract import FitContext
from pipeline.machine import cap_threads, usable_cores

# Device settings of deep estimators: the runner's options (RunOptions fields of these names), set on every estimator
# that has such a parameter; never Config fields. name -> type of its value. None (the default): the estimator's own.
ENGINEERING: dict[str, type] = {"precision": str, "num_workers": int, "cache_mb": int}
# A fold fit's BLAS threads (numpy's, scikit-learn's linear models and SVMs) are its n_jobs, as its boosters' are: on
# the small tables for which the runner gives one thread, BLAS's own pool of one thread a core spins on operations
# too small to share (benchmarks/blas_threads.py). False: BLAS's own pool (what that benchmark compares against).
BLAS_FOLLOWS_JOBS = True


def split_saved_config(saved: dict[str, Any], config_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A saved config.json "config": the Config's own keys, and the device settings runs from before saved there
    (ENGINEERING keys the Config no longer declares: runner options now)."""
    legacy = {k: v for k, v in saved.items() if k in ENGINEERING and k not in config_fields}
    return {k: v for k, v in saved.items() if k not in legacy}, legacy


def engineering_from_config_keys(
    sets: list[str], config_fields: Any, old: dict[str, Any]
) -> tuple[list[str], dict[str, Any], list[str]]:
    """Device settings given as Config keys, from before they were the runner's options: `--set num_workers=4`, or
    `old`, those the config.json of a run being resumed holds. Returns the other --set items, the settings (--set
    over the saved ones, values typed) and a log note for each source. Keys the Config declares stay its own.
    """
    from pipeline.contract import ContractError

    kept, given, notes = [], {}, []
    for item in sets:
        key, _, value = (part.strip() for part in item.partition("="))
        if key in ENGINEERING and key not in config_fields:
            given[key] = value
            notes.append(f"--set {key}={value}: {key} is a runner option, not a Config field; applied as one")
        else:
            kept.append(item)
    if old:
        notes.append(f"the saved config.json holds {', '.join(sorted(old))} (runner options now); applied as such")
    values = {}
    for key, raw in (old | given).items():
        try:
            values[key] = ENGINEERING[key](raw)
        except ValueError:
            raise ContractError(f"{key} must be {ENGINEERING[key].__name__}, got {raw!r}.") from None
    return kept, values, notes


def take(X: Any, idx: np.ndarray) -> Any:
    """Rows `idx` of a DataFrame, array or list."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if isinstance(X, list):
        return [X[i] for i in idx]
    return np.asarray(X)[idx]


SEEDS = 2**32  # scikit-learn and numpy take seeds in 0..2**32-1


def derived_seed(seed: int, offset: int) -> int:
    """seed + offset (a fold's, a bag member's) within the seeds every library takes: --seed 4294967295 is valid,
    and its fold 1 would otherwise be refused by scikit-learn mid-run."""
    return (int(seed) + int(offset)) % SEEDS


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if loaded) torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def pick_device() -> str:
    """'cuda' when torch sees a GPU, else 'cpu'."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare(estimator: Any, seed: int, n_jobs: int, engineering: dict[str, Any] | None = None) -> Any:
    """An unfitted clone with every nested random_state/seed and n_jobs parameter set by the runner, and the
    engineering settings (ENGINEERING names, None: left alone) on the parameters of those names."""
    given = {k: v for k, v in (engineering or {}).items() if v is not None}
    est = clone(estimator)
    params = est.get_params(deep=True)
    updates: dict[str, Any] = {}
    for key in params:
        leaf = key.rsplit("__", 1)[-1]
        if leaf in ("random_state", "seed"):
            updates[key] = seed
        elif leaf in ("n_jobs", "thread_count", "num_threads") and not _n_jobs_deprecated(est, params, key):
            updates[key] = n_jobs
        elif leaf in given:
            updates[key] = given[leaf]
    est.set_params(**updates)
    return est


def _n_jobs_deprecated(est: Any, params: dict[str, Any], key: str) -> bool:
    """True for an unset n_jobs that setting would only deprecate: scikit-learn's LogisticRegression (1.8+) warns
    that n_jobs has no effect. `params`: est.get_params(deep=True), which holds every nested estimator by its path."""
    from sklearn.linear_model import LogisticRegression

    if params[key] is not None:
        return False
    owner = params[key.rsplit("__", 1)[0]] if "__" in key else est
    return isinstance(owner, LogisticRegression)


def accepts_context(estimator: Any) -> bool:
    """True when the estimator's fit takes the runner's context (deep-learning estimators, the tabular boosters, forests
    and MLP): it fits to the deadline the context gives. A wrapper whose fit passes the context on to the model it
    wraps (MultiTarget) says through its `takes_context` whether that model takes it."""
    takes = getattr(estimator, "takes_context", None)
    if isinstance(takes, bool):
        return takes
    try:
        return "context" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False


def predict_outputs(est: Any, X: Any, classification: bool, n_classes: int | None = None) -> np.ndarray:
    """Numeric predictions as rows x outputs: class probabilities or values.

    With `n_classes`, probabilities of an estimator that saw only some classes in its fold (`classes_` a subset of
    0..n_classes-1) are put in their own columns, zeros elsewhere, so every fold's columns mean the same classes.
    """
    pred = est.predict_proba(X) if classification and hasattr(est, "predict_proba") else est.predict(X)
    pred = np.asarray(pred, dtype=np.float64)
    pred = pred.reshape(-1, 1) if pred.ndim == 1 else pred
    seen = getattr(est, "classes_", None)
    if classification and n_classes and seen is not None and pred.shape[1] == len(seen) < n_classes:
        full = np.zeros((len(pred), n_classes))
        full[:, np.asarray(seen).astype(int)] = pred
        return full
    return pred


def fit_fold(
    estimator: Any,
    X_tr: Any,
    y_tr: Any,
    seed: int,
    n_jobs: int,
    context: FitContext | None,
    engineering: dict[str, Any] | None = None,
) -> tuple[Any, float]:
    """Fit a prepared clone of `estimator` (see prepare); return it and the seconds taken."""
    seed_everything(seed)
    cap_threads()
    est = prepare(estimator, seed, n_jobs, engineering)
    t0 = time.perf_counter()
    with threadpool_limits(max(1, n_jobs), user_api="blas") if BLAS_FOLLOWS_JOBS else contextlib.nullcontext():
        if context is not None and accepts_context(est):
            if context.workdir is not None:  # None on the ranks > 0 of a torchrun run: they write nothing
                Path(context.workdir).mkdir(parents=True, exist_ok=True)
            est.fit(X_tr, y_tr, context=context)
        else:
            est.fit(X_tr, y_tr)
    return est, time.perf_counter() - t0


# Below this many training cells (rows x columns) a tabular fit is too small to share: thread start-up and
# synchronisation cost more than they save (House Prices' 1458 x 79: LightGBM folds took 14-57 s on 2 busy cores
# with 2 threads instead of 3-5 s with 1).
SMALL_DATA_CELLS = 2_000_000


def default_jobs(n_cells: int | None = None) -> int:
    """Threads for tabular models when --jobs is not given: 1 for small data, else the cores this process may use
    (its CPU affinity and a container's CPU quota: pipeline/machine.py)."""
    if n_cells is not None and n_cells < SMALL_DATA_CELLS:
        return 1
    return usable_cores()
