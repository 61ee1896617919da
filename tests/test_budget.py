"""The time budget: equal shares of what is left, and which models it drops."""

from __future__ import annotations

import time

from pipeline.budget import Budget


def test_a_model_that_fits_to_its_deadline_is_not_dropped_on_a_projection() -> None:
    budget = Budget(time.monotonic() + 100.0, n_models=2, n_folds=5)
    budget.record("first", 1.0)  # the first model, complete: later ones may be dropped
    budget.record("boosted", 40.0)  # its first fold took 40 s: four more would need 160 s of the ~97 s left
    why = budget.refuse("boosted", have_complete=True)
    assert why is not None and why.startswith("its remaining folds need ~160s")  # a model that cannot be cut short
    assert budget.refuse("boosted", have_complete=True, elastic=True) is None  # it fits to its share of what is left
    assert budget.refuse("boosted", have_complete=False) is None  # the first model always completes


def test_past_the_deadline_every_model_is_refused_once_one_is_complete() -> None:
    budget = Budget(time.monotonic() - 1.0, n_models=2, n_folds=5)
    assert budget.refuse("any", have_complete=True, elastic=True) == "time limit reached"
    assert budget.refuse("any", have_complete=False) is None


def test_a_models_shares_leave_room_for_what_its_folds_do_after_the_deadline() -> None:
    budget = Budget(time.monotonic() + 100.0, n_models=1, n_folds=4)
    first = budget.fit_deadline("boosted") - time.monotonic()
    assert 24.0 < first <= 25.0  # a quarter of the ~97 s after the reserve
    budget.record("boosted", first + 6.0)  # it predicted for 6 s after its deadline
    second = budget.fit_deadline("boosted") - time.monotonic()
    assert abs(second - (max(0.0, budget.remaining()) / 3 - 6.0)) < 0.1  # its share less those 6 s
    budget.record("boosted", second + 4.0)
    third = budget.fit_deadline("boosted") - time.monotonic()
    assert abs(third - (max(0.0, budget.remaining()) / 2 - 5.0)) < 0.1  # less the mean of 6 and 4
