"""The runner's second round (Config.pseudo_label): each first-round model fitted again as its student
"<model>+pseudo" on its folds' training rows plus the test rows its teachers label (pipeline/pseudo.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import pseudo
from pipeline.fold_fits import fit_model
from pipeline.folds import fold_ids
from pipeline.runstate import RunState


def fit_students(state: RunState, bar: Any, task: Any) -> None:
    """The second round (Config.pseudo_label): each first-round model fitted again as its student "<model>+pseudo",
    every fit on its training rows plus the test rows its teachers label (pipeline/pseudo.py); a model the time
    limit dropped has no student. The students join the results, so the blend and stack choose among them all."""
    share = pseudo.setting(state.cfg)
    if share is None:
        return
    fits = len(fold_ids(state.folds)) + state.plan.refit
    teachers = [m for m in state.plan.selected if m in state.results]
    refits = {m: np.asarray(state.results[m]["test"]) for m in teachers} if state.plan.refit else None
    classes = None if state.data.classes is None else list(state.data.classes)
    priors = None  # Config.pseudo_label_balance: the training labels' class shares each fit's pseudo rows keep
    if pseudo.balanced(state.cfg) and state.n_classes is not None:
        priors = pseudo.class_priors(np.asarray(state.data.y), state.n_classes)
    tests = {m: state.fold_tests[m] for m in teachers}
    teaching = pseudo.teaching(tests, refits, share, state.n_classes, state.opts.seed, priors)
    state.log(pseudo.counts(teaching, teachers, len(state.data.X_test), classes))
    if none := pseudo.none_taught(teaching, share, classes):
        state.log.warn(none)
    for model, estimator in state.plan.selected.items():
        if none or model not in state.results:
            for _ in range(fits):
                state.budget.skip()
            bar.advance(task, fits)
            continue
        name = pseudo.student(model)
        result = fit_model(state, name, estimator, True, bar, task, teaching)
        if result is not None:
            state.results[name] = result
