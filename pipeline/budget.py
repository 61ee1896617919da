"""Planning under --time-limit: share the remaining wall-clock budget among the fits still to do.

Estimators whose fit takes a FitContext (deep-learning ones, and the generic tabular recipe's boosters, forests and MLP)
get a deadline per fit and fit their epochs, schedule or trees to it; an image or detection fit asks for it again when
its training starts (training_deadline), so its start-up is shared by every fit. Estimators that cannot be cut short
(scikit-learn pipelines such as the tabular linear model and svm) are measured on their first fold; a model whose
remaining folds would overrun the budget is dropped whole (a model with missing folds has no complete OOF predictions to
blend). The first model always completes, so every run ends with a valid submission. The runner fits the models that
cannot be cut short first (runner.fitting_order), so those that fit to a deadline share all that is left. A model's
refit on every training row (Config.refit) has its own check, its folds' time scaled by the rows: refused, it leaves the
model its folds.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class Budget:
    """Wall-clock accounting for one run."""

    def __init__(
        self, deadline: float | None, n_models: int, n_folds: int, reserve_frac: float = 0.03, refits: bool = False
    ) -> None:
        self.deadline = deadline
        self.n_folds = n_folds
        # every fit still to come shares what is left: the folds, and each model's refit on every row (Config.refit)
        self.total_fits = n_models * (n_folds + refits)
        self.done = 0
        self.times: dict[str, list[float]] = defaultdict(list)
        # elastic fits: the share each was given, and the seconds each fold took beyond it (predicting its
        # validation and test rows after the deadline), taken off the model's next shares
        self.given: dict[str, float] = {}
        self.started: dict[str, float] = {}  # when each elastic fit in progress was given its deadline
        self.beyond: dict[str, list[float]] = defaultdict(list)
        start = time.monotonic()
        total = 0.0 if deadline is None else max(0.0, deadline - start)
        # Keep time for blending and writing the submission: a few seconds, never more than a tenth of the budget.
        self.reserve = min(max(2.0, reserve_frac * total), 0.1 * total)

    def remaining(self) -> float:
        """Seconds left for fitting (after the reserve for blending and writing the submission)."""
        return float("inf") if self.deadline is None else self.deadline - self.reserve - time.monotonic()

    def record(self, model: str, seconds: float) -> None:
        """Note a finished fold (and, for a fit given a deadline, how long it ran beyond its share)."""
        self.times[model].append(seconds)
        self.done += 1
        if model in self.given:
            self.beyond[model].append(max(0.0, seconds - self.given.pop(model)))
        self.started.pop(model, None)

    def fit_deadline(self, model: str | None = None) -> float | None:
        """Deadline for the next fit: an equal share of what is left over the fits still to do, less the time the
        model's earlier folds ran beyond their deadlines (they predict after it), so the last fold ends in time."""
        if self.deadline is None:
            return None
        now = time.monotonic()
        if model is not None:
            self.started[model] = now
        return self._deadline(model, now, 0.0)

    def training_deadline(self, model: str | None, keep: float) -> float | None:
        """The deadline of a fit whose training starts now, asked by the fit itself (FitContext.training_deadline)
        and replacing the one fit_deadline gave it: `keep` is what it keeps after its training (the time for its
        predictions and a margin, given back to the fits after it when unused). An equal share, over the fits still
        to do, of what is left once one `keep` is set aside, plus that `keep`; never past what is left.

        So what the fit did before its training (the run's first fit: building the network, decoding the images,
        the first passes through the library) is shared by every fit still to do, not taken from this fit's
        training; and the fits train about as long as each other (each pays a share of the predictions before it),
        where each used to get its share less its own `keep`, plus the `keep`s its predecessors gave back: under a
        short limit the first fit trained for nothing and the last for most of the run.
        """
        if self.deadline is None:
            return None
        return self._deadline(model, time.monotonic(), max(0.0, keep))

    def _deadline(self, model: str | None, now: float, keep: float) -> float:
        """now + (what is left less `keep`) / (the fits still to do) + `keep`, less the model's mean time beyond its
        earlier deadlines; no later than what is left; the share noted for record()."""
        left = max(0.0, self.remaining())
        share = min(left, max(0.0, left - keep) / max(1, self.total_fits - self.done) + keep)
        if model is not None:
            after = self.beyond.get(model)
            share = max(0.0, share - (sum(after) / len(after) if after else 0.0))
            self.given[model] = now + share - self.started.get(model, now)  # from the fit's start, as record's seconds
        return now + share

    def skip(self) -> None:
        """A planned fit that will not run (a refit refused): the fits still to come share what is left."""
        self.done += 1

    def refuse_refit(self, model: str, rows_ratio: float, elastic: bool = False) -> str | None:
        """Why the model's refit on every training row should not start, or None: its folds' mean time scaled by the
        rows (`rows_ratio`: every row over a fold's training rows) would pass the time limit. An `elastic` model fits
        to the deadline it is given, so it goes ahead while time is left."""
        return self._refusal(model, rows_ratio, "it needs", elastic)

    def refuse(self, model: str, have_complete: bool, elastic: bool = False) -> str | None:
        """Why the next fold of `model` should not start, or None to go ahead. An `elastic` model fits to the deadline
        it is given (fit_deadline), so its folds are not projected from the first: each takes its share of what is
        left (projected, a first fold that used its share looked like an overrun and dropped the model whole)."""
        if not have_complete:
            return None
        return self._refusal(model, self.n_folds - len(self.times.get(model, [])), "its remaining folds need", elastic)

    def _refusal(self, model: str, fits: float, what: str, elastic: bool) -> str | None:
        """Why `fits` more of the model's fold times would pass the time limit (no time left at all, or, for a model
        that cannot be cut short, its mean fold time x `fits` beyond what is left); None to go ahead."""
        if self.deadline is None:
            return None
        left = self.remaining()
        if left <= 0:
            return "time limit reached"
        seen = self.times.get(model)
        if seen and not elastic:
            need = (sum(seen) / len(seen)) * fits
            if need > left:
                return f"{what} ~{need:.0f}s, {left:.0f}s left"
        return None


def call_with_deadline(fn: Callable[[], Any], timeout: float) -> Any | None:
    """fn() in a daemon thread; its result, or None if it is still running after `timeout` seconds.

    An abandoned fit keeps its thread until the process exits; the run goes on without that model.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(max(0.0, timeout))
    if thread.is_alive():
        return None
    if "error" in box:
        raise box["error"]
    return box["result"]
