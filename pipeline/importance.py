"""Feature importance of a run: each fold model's importance per input column, averaged, in importance.csv.

Any estimator with scikit-learn's `feature_importances_` and `feature_names_in_` contributes (the generic tabular
recipe's boosters: gain shares summed over the features encoded from each raw column). A column that carries most
of every model's importance is the first place to look for a leak; one that carries none, the first to drop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import runfolder

TOP = 8  # columns named in the run's log line


def of_estimator(est: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(input column names, importances as shares summing to 1) of a fitted estimator, or None when it has none."""
    try:
        values = np.asarray(est.feature_importances_, dtype=float)
        names = np.asarray(est.feature_names_in_, dtype=str)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if values.ndim != 1 or len(values) != len(names) or not np.isfinite(values).all() or (values < 0).any():
        return None
    total = values.sum()
    return names, (values / total if total > 0 else values)


def table(results: dict[str, dict[str, Any]]) -> pd.DataFrame | None:
    """One row per input column, a column per model with importances (the mean over its folds) and their mean,
    sorted by the mean; None when no model has importances."""
    per_model = {m: r["importance"] for m, r in results.items() if r.get("importance") is not None}
    if not per_model:
        return None
    out = pd.DataFrame(per_model).fillna(0.0)
    out["mean"] = out.mean(axis=1)
    out.index.name = "feature"
    return out.sort_values("mean", ascending=False, kind="stable")


def fold_mean(parts: list[dict[str, Any]]) -> pd.Series | None:
    """A model's importance per column averaged over its folds, or None unless every fold has one."""
    if not parts or any("importance" not in p for p in parts):
        return None
    folds = [pd.Series(p["importance"], index=[str(n) for n in p["features"]]) for p in parts]
    return pd.concat(folds, axis=1).fillna(0.0).mean(axis=1)


def write(run_dir: Path, tbl: pd.DataFrame) -> Path:
    """The table as the run folder's importance.csv."""
    return runfolder.write_importance(run_dir, tbl.round(6).to_csv())


def top_line(tbl: pd.DataFrame, k: int = TOP) -> str:
    """The k most important columns with their mean share, for the run's log."""
    shown = ", ".join(f"{name} {share:.3f}" for name, share in tbl["mean"].head(k).items())
    return f"feature importance (share, mean over folds and models): {shown}"
