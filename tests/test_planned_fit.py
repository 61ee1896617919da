"""The fit planned over epochs (pipeline/training/planned.py PlannedTrainer, the detection and segmentation loops'):
under a deadline its epochs are re-planned to the time left and an epoch stops where only the time kept for the
predictions is left; resumed with more epochs it plans for all of them. Shown on the segmentation loop (the faster
on the CPU), each training batch taking one second of a clock that moves only then."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_segmentation_model import context, shapes, smoke

from pipeline.segmentation.trainer import SegTrainer
from pipeline.training import checkpoint

BATCH_S = 1.0  # what one training batch takes on the clock: 24 rows in batches of 8, 3 s an epoch


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    X, y = shapes(tmp_path_factory.mktemp("planned_shapes"), 32)
    return {"X": X[:24], "y": y[:24], "Xv": X[24:], "yv": y[24:]}


class Clock:
    """time.monotonic and time.perf_counter, moved only by the training batches."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    monkeypatch.setattr(time, "perf_counter", clock)
    real = SegTrainer.batch_loss

    def one_second(self: SegTrainer, s: Any, batch: Any, i: int) -> Any:
        clock.t += BATCH_S
        return real(self, s, batch, i)

    monkeypatch.setattr(SegTrainer, "batch_loss", one_second)
    return clock


def fit_with_seconds(data: dict[str, np.ndarray], workdir: Path, clock: Clock, seconds: float) -> list[str]:
    """A 10-epoch fit whose training is given `seconds` beside the time it keeps (the 2 s of its predictions and the
    2 s margin); its log."""
    logs: list[str] = []
    ctx = context(workdir, (data["Xv"], data["yv"]), logs.append)
    ctx.deadline = clock.t + 1.0  # as the runner hands it; re-shared as the training starts
    ctx.training_deadline = lambda keep: clock.t + keep + seconds
    smoke(epochs=10).fit(data["X"], data["y"], context=ctx)
    return logs


def test_a_deadline_re_plans_the_epochs_to_the_time_left(
    data: dict[str, np.ndarray], tmp_path: Path, clock: Clock
) -> None:
    # 7 s: after the first epoch (3 s) 4 s are left, time for one more of the 10 planned
    logs = fit_with_seconds(data, tmp_path, clock, 7.0)
    assert logs[0] == "time limit: re-planned to 2 epochs"  # before the epoch's line, which says so
    assert [line.split("  ")[0] for line in logs[1:]] == ["epoch 1/2", "epoch 2/2"]  # both epochs whole
    last = checkpoint.load(tmp_path / checkpoint.LAST)
    assert (last["planned"], last["epoch"], last["done"]) == (2, 2, True)
    assert [r["epoch"] for r in last["history"]] == [1, 2]


def test_an_epoch_stops_where_only_the_time_kept_for_predicting_is_left(
    data: dict[str, np.ndarray], tmp_path: Path, clock: Clock
) -> None:
    # 1 s: the first epoch ends 2 s past it (into the margin), the second stops after one batch, 2 s (the time kept
    # for predicting) before the deadline
    logs = fit_with_seconds(data, tmp_path, clock, 1.0)
    assert [line.split("  ")[0] for line in logs] == [
        "time limit: re-planned to 2 epochs",
        "epoch 1/2",
        "time limit reached during epoch 2: stopping",
        "epoch 2/2",
    ]
    history = json.loads((tmp_path / checkpoint.HISTORY).read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[1]["seconds"] == BATCH_S  # one batch of the epoch's three
    assert history[1]["valid_score"] is not None  # the stopped epoch is the last: validated
    assert checkpoint.load(tmp_path / checkpoint.LAST)["done"]


def test_a_fit_resumed_with_more_epochs_plans_for_all_of_them(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    first = smoke(epochs=2).fit(data["X"], data["y"], context=context(tmp_path))
    logs: list[str] = []
    ctx = context(tmp_path, log=logs.append)
    ctx.resume = True
    more = smoke(epochs=4).fit(data["X"], data["y"], context=ctx)
    assert logs[0] == "resume: continuing from epoch 2 of 4"
    assert [r["epoch"] for r in more.history_] == [1, 2, 3, 4]
    assert more.history_[:2] == first.history_
    # the schedule stretched over the four: epoch 3 trains faster than epoch 2 did at the end of the two
    assert more.history_[2]["lr"] > more.history_[1]["lr"]
    assert checkpoint.load(tmp_path / checkpoint.LAST)["planned"] == 4
