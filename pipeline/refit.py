"""The refit on every training row (Config.refit): whether a run refits, and the parameters its folds hand the refit.

After a model's folds, the runner (runner._refit) fits it once more on every training row, with no validation rows,
for the submission's test predictions. A fitted fold estimator with `refit_params(n_rows) -> dict` says how (the
tabular boosters: the trees it stopped at, scaled to the rows); the folds' are combined here and set on a clone.
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


def clone_with(estimator: Any, params: dict[str, Any]) -> Any:
    """An unfitted clone of `estimator` with `params` set (the refit's); the estimator itself when there are none."""
    if not params:
        return estimator
    from sklearn.base import clone

    return clone(estimator).set_params(**params)
