"""The time budget: equal shares of what is left, and which models it drops."""

from __future__ import annotations

import time

import pytest

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


class FakeClock:
    """time.monotonic() for the budget, moved on by hand: a simulated run, no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _simulate(monkeypatch, limit: float, startups: list[float], keep: float, predict: float) -> tuple[Budget, list]:
    """A run of image fits as the runner and the trainer do them: each fit is given fit_deadline, starts up, asks
    training_deadline(keep), trains until `keep` before that deadline, predicts, and is recorded. Returns the budget
    and each fit's (training seconds, end time)."""
    clock = FakeClock()
    monkeypatch.setattr("pipeline.budget.time.monotonic", clock)
    budget = Budget(clock.now + limit, n_models=2, n_folds=2)
    fits = []
    for i, startup in enumerate(startups):
        model = "first" if i < 2 else "second"
        t0 = clock.now
        budget.fit_deadline(model)
        clock.now += startup  # the first fit: building the network, decoding the images, the library's first passes
        deadline = budget.training_deadline(model, keep)
        training = max(0.0, deadline - keep - clock.now)
        clock.now += training + predict
        budget.record(model, clock.now - t0)
        fits.append((training, clock.now))
    return budget, fits


def test_the_first_fits_start_up_is_shared_and_every_fold_trains_about_as_long(monkeypatch) -> None:
    # before: leaves' sample under --time-limit 25: the first fit's 2 s start-up and the 4 s each fit keeps for its
    # predictions and margin came off fold 0's quarter (~5.6 s), which trained for nothing, while the later folds got
    # the time the earlier ones gave back (0, 2, 4 and 8 epochs)
    budget, fits = _simulate(monkeypatch, limit=25.0, startups=[2.0, 0.1, 0.5, 0.1], keep=4.0, predict=0.3)
    trained = [t for t, _ in fits]
    assert trained[0] == pytest.approx((25.0 - budget.reserve - 2.0 - 4.0) / 4)  # the start-up shared by four fits
    assert trained[0] >= max(trained[1:])  # fold 0 is not cut below the later ones
    # the later ones train a little less: each pays a share of the predictions and start-ups before it
    assert min(trained) > 0.75 * trained[0]
    assert fits[-1][1] <= budget.deadline - budget.reserve  # and the run still ends inside its limit


def test_a_re_shared_deadline_never_passes_what_is_left(monkeypatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr("pipeline.budget.time.monotonic", clock)
    budget = Budget(clock.now + 30.0, n_models=1, n_folds=3)
    budget.fit_deadline("m")
    clock.now += 25.0  # a start-up that took almost everything
    end = budget.deadline - budget.reserve
    assert budget.training_deadline("m", keep=4.0) == end  # what is left, not a share plus a keep beyond it
    budget.record("m", 25.0)
    assert budget.training_deadline("m", keep=0.0) == pytest.approx(clock.now + (end - clock.now) / 2)
    assert Budget(None, 1, 3).training_deadline("m", keep=4.0) is None  # no time limit: nothing to share
