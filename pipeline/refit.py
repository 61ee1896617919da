"""The refit on every training row (Config.refit): whether a run refits, and the parameters its folds hand the refit.

After a model's folds, the runner (fold_fits._refit) fits it once more on every training row, with no validation rows,
for the submission's test predictions. A fitted fold estimator with `refit_params(n_rows) -> dict` says how (the
tabular boosters: the trees it stopped at, scaled to the rows); the folds' are combined here and set on a clone.
An estimator that stops early on rows of its own says with `refit_holdout() -> dict` what it still keeps out of the
refit's rows (the MLP's valid_fraction, the boosters' inner bagging folds), and the refit's log line says so.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline.folds import runs_forward

# Config.refit: "auto" refits each model once on every training row when the folds run forward in time, "on" for
# any folds, "off" never (the submission is then the fold models' merged predictions: finish.merge_fold_tests)
CHOICES = ("auto", "on", "off")


def refits(module: Any, cfg: Any) -> bool:
    """Whether the submission comes from each model refitted once on every training row: Config.refit ("auto": when
    the folds run forward in time, whose last fold's models never saw the latest period). A Config without the
    field never refits (a competition of its own opts in by adding `refit: str = "auto"`)."""
    choice = getattr(cfg, "refit", "off") or "off"
    return choice == "on" or (choice == "auto" and runs_forward(module))


def fold_params(estimator: Any, n_rows: int) -> str:
    """A fitted fold model's refit_params for a refit on `n_rows` rows, as the JSON its part keeps ({} without)."""
    from pipeline.atomic import as_json

    return json.dumps(as_json(estimator.refit_params(n_rows) if hasattr(estimator, "refit_params") else {}))


def refit_params(parts: list[dict[str, Any]], forward: bool) -> dict[str, Any]:
    """The refit's parameters from the folds' (each fold model's refit_params, kept in its part as JSON under
    "refit"): the last fold's when the folds run forward in time (its model learned from the most and the latest
    rows), else every number averaged over the folds (rounded where they are whole numbers: the trees the folds
    stopped at)."""
    found = [json.loads(str(p["refit"])) for p in parts if "refit" in p]
    if not found:
        return {}
    return found[-1] if forward else _mean_params(found)


def _mean_params(found: list[Any]) -> Any:
    """Numbers averaged over the folds, lists and dicts element by element, anything else the last fold's."""
    last = found[-1]
    if isinstance(last, dict):
        keys = [k for k in last if all(isinstance(f, dict) and k in f for f in found)]
        return last | {k: _mean_params([f[k] for f in found]) for k in keys}
    if isinstance(last, list) and all(isinstance(f, list) and len(f) == len(last) for f in found):
        return [_mean_params([f[i] for f in found]) for i in range(len(last))]
    if all(isinstance(f, int | float) and not isinstance(f, bool) for f in found):
        mean = float(np.mean(found))
        return round(mean) if all(isinstance(f, int) for f in found) else mean
    return last


def refit_rows(estimator: Any, n_rows: int) -> str:
    """What the refit of `estimator` (the refit's clone, its refit_params set) fits on, for its log line: every one
    of the `n_rows` training rows, or what the estimator still keeps out of them for its own early stopping (its
    `refit_holdout()`: {"fraction": f}, or {"inner_folds": k, "bag": n})."""
    held = estimator.refit_holdout() if hasattr(estimator, "refit_holdout") else {}
    if held.get("inner_folds"):
        k, bag = int(held["inner_folds"]), int(held.get("bag", 1))
        models = f"{bag} x {k}" if bag > 1 else f"{k}"
        return (
            f"as {models} inner-fold models on all {n_rows} training rows, each stopped early on the 1/{k} of them "
            "it leaves out"
        )
    if held.get("fraction"):
        share = float(held["fraction"])
        return (
            f"on all {n_rows} training rows, {share:.0%} of them ({round(share * n_rows)} rows) held out for its "
            "early stopping"
        )
    return f"on all {n_rows} training rows"


def clone_with(estimator: Any, params: dict[str, Any]) -> Any:
    """An unfitted clone of `estimator` with `params` set (the refit's); the estimator itself when there are none."""
    if not params:
        return estimator
    from sklearn.base import clone

    return clone(estimator).set_params(**params)
