"""Deadline accounting: the time kept for the predictions after fit, and two ways of fitting training into the rest.

- ScheduleClock (image classification): the learning-rate schedule runs on progress, the share of steps done or of
  the time budget used, whichever is further, so warm-up and decay complete before the deadline however fast the
  machine turns out to be; the number of epochs follows from the measured speed.
- plan_epochs (detection and segmentation, planned.py): the schedule runs on steps over a planned number of epochs,
  re-planned after each epoch from the measured epoch time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# the slack kept before a deadline: ScheduleClock's is this share of its budget, at least MARGIN_S; detection's epoch
# re-plan keeps MARGIN_S; both trainers keep MARGIN_S beside their predictions when they ask for their training deadline
MARGIN_SHARE, MARGIN_S = 0.03, 2.0


def reserve_seconds(rows: int, views: int, images_per_s: float, overhead: float) -> float:
    """Seconds to keep for predicting rows x views images after fit: 2 s plus `overhead` times the measured time."""
    return 2.0 + overhead * rows * views / images_per_s


def plan_epochs(done: int, max_epochs: int, seconds_left: float, epoch_seconds: float) -> int:
    """Total epochs so the remaining ones fit in seconds_left (at least one more, never above max_epochs)."""
    if epoch_seconds <= 0:
        return max_epochs
    return max(min(max_epochs, done + int(max(seconds_left, 0.0) // epoch_seconds)), min(max_epochs, done + 1))


def expected_epochs(epochs: int, done: int, progress: float) -> int:
    """The number of epochs a progress-scheduled run is heading for (for display)."""
    if done == 0 or progress <= 0:
        return epochs
    return min(epochs, max(done, round(done / progress)))


class ScheduleClock:
    """Schedule progress in [0, 1]: steps done / total steps, or under a deadline the share of the time budget used
    since start() if that is larger (never going back).

    The budget is the time to the deadline less `reserve()` (asked each time: it follows the measured inference
    speed) and a margin of 3% of the budget, at least 2 s. `agree` makes one process's clock decide for all
    (rank 0's under DDP), so every rank stops at the same step.
    """

    def __init__(
        self,
        total_steps: int,
        deadline: float | None,
        reserve: Callable[[], float],
        agree: Callable[[float], float] = lambda p: p,
    ) -> None:
        self.total_steps, self.deadline, self.reserve, self.agree = total_steps, deadline, reserve, agree
        self.p0, self.t_start = 0.0, time.monotonic()

    def start(self, progress: float) -> None:
        """Start the budget now, from `progress` already made (a resumed run)."""
        self.p0, self.t_start = progress, time.monotonic()

    def margin(self) -> float:
        """Slack before the deadline: 3% of the budget, at least 2 s (MARGIN_SHARE, MARGIN_S)."""
        return max(MARGIN_S, MARGIN_SHARE * ((self.deadline or self.t_start) - self.t_start))

    def progress(self, step: int, floor: float) -> float:
        """Progress after `step` optimizer steps; never below `floor` (the progress reported before)."""
        p = step / self.total_steps
        if self.deadline is not None:
            budget = self.deadline - self.reserve() - self.margin() - self.t_start
            p = max(p, self.p0 + (1 - self.p0) * (time.monotonic() - self.t_start) / max(budget, 1e-9))
            p = self.agree(p)  # rank 0's clock decides: ranks stop at the same step
        return max(floor, p)
