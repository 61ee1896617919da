"""What every training loop shares around its batches: TrainerCore (device placement, autocast, loaders kept for the
fit, checkpoints, the learning curve, pruner reports, the deadline) and FitState (the model, optimizer, GradScaler,
EMA and counters one fit carries from epoch to epoch, saved in last.pt and restored on resume). The detection and
segmentation loops' fit planned over epochs is planned.py's PlannedTrainer, on this core.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from pipeline.training import checkpoint
from pipeline.training.ema import ModelEma
from pipeline.training.optim import load_optimizer
from pipeline.training.runtime import Runtime

S = TypeVar("S", bound="FitState")


@dataclass
class FitState:
    """The training state of one fit; `checkpoint()` gives the keys every last.pt holds, each loop adds its own."""

    model: nn.Module
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ema: ModelEma | None
    peak_lrs: list[float]  # per parameter group, multiplied by the schedule's factor
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    stop: bool = False
    epoch_t0: float = 0.0  # time.perf_counter() at the start of the current epoch

    @property
    def eval_model(self) -> nn.Module:
        """The network validation and prediction use: the EMA when enabled, else the trained one."""
        return self.ema.module if self.ema is not None else self.model

    def after_step(self, ema_every: int = 1) -> None:
        """Count an optimizer step; move the EMA every `ema_every` steps."""
        self.step += 1
        if self.ema is not None and self.step % ema_every == 0:
            self.ema.update(self.model)

    def checkpoint(self) -> dict[str, Any]:
        """Weights, optimizer, scaler, EMA and counters, in last.pt's keys."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "epoch": self.epoch,
            "step": self.step,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint() (a last.pt read back)."""
        self.model.load_state_dict(state["model"])
        load_optimizer(self.opt, state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.step = state["epoch"], state["step"]


class TrainerCore:
    """The engineering half of a trainer; a loop subclasses it and adds its batches, loss and validation."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.history: list[dict[str, Any]] = []
        self._loaders: dict[int, Any] = {}  # one per dataset for the whole fit: their workers start once

    def loader(self, make: Callable[..., Any], dataset: Any, rows: np.ndarray, batch_size: int, seed: int) -> Any:
        """The dataset's loader over `rows` with `seed`: made by `make` (a loop's make_loader) at its first epoch,
        its workers kept for the fit, the next epochs' rows and seed given through set_epoch (close_loaders ends
        them)."""
        loader = self._loaders.get(id(dataset))  # the fit's datasets live as long as the fit
        if loader is None:
            rt = self.rt
            loader = make(dataset, batch_size, False, seed, rt.num_workers, rt.cuda, rows=rows, persistent=True)
            self._loaders[id(dataset)] = loader
        else:
            loader.batch_sampler.set_epoch(rows, seed)
        return loader

    def close_loaders(self) -> None:
        """End the fit's loaders: their workers stop."""
        self._loaders.clear()

    def autocast(self) -> Any:
        """Mixed precision in the runtime's dtype; a no-op in fp32."""
        return self.rt.autocast()

    def place(self, model: nn.Module) -> nn.Module:
        """The model on the runtime's device, channels_last when asked (in place)."""
        return model.to(self.rt.device, memory_format=self.rt.memory_format)

    def new_state(
        self,
        state_type: type[S],
        model: nn.Module,
        opt: torch.optim.Optimizer,
        peak_lrs: list[float],
        ema_decay: float,
        **fields: Any,
    ) -> S:
        """A new fit's state (a FitState subclass with the loop's `fields`): a GradScaler that scales only under
        fp16, an EMA copy of the model when ema_decay > 0."""
        scaler = torch.amp.GradScaler(enabled=self.rt.dtype == torch.float16)
        ema = ModelEma(model, ema_decay) if ema_decay > 0 else None
        return state_type(model, opt, scaler, ema, peak_lrs, **fields)

    def last_path(self) -> Path | None:
        """The last.pt to resume from, when the runner asked to resume and one exists; None otherwise."""
        return checkpoint.found(self.rt.workdir, checkpoint.LAST) if self.rt.resume else None

    def read_last(self) -> dict[str, Any] | None:
        """The last.pt to resume from, read, when the runner asked to resume and one exists."""
        path = self.last_path()
        return None if path is None else checkpoint.load(path)

    def log_resume(self, finished: bool, epoch: int, planned: int) -> None:
        if finished:
            self.rt.log(f"resume: training already finished ({epoch} epochs); loading its weights")
        else:
            self.rt.log(f"resume: continuing from epoch {epoch} of {planned}")

    def save(self, name: str, state: dict[str, Any]) -> None:
        """A checkpoint in the workdir (atomic); nothing without a workdir."""
        if self.rt.workdir is not None:
            checkpoint.save(self.rt.workdir / name, state)

    def write_history(self) -> None:
        """history.json, the learning curve the run's plots read; nothing without a workdir."""
        if self.rt.workdir is not None:
            checkpoint.write_history(self.rt.workdir, self.history)

    def report(self, epoch: int, score: float | None) -> None:
        """Tell tune's pruner (the runner's `report` callback) an epoch's validation score; it may raise to prune."""
        if self.rt.report is not None and score is not None:
            self.rt.report(epoch, score)

    def training_starts(self, keep: float) -> float | None:
        """Ask for the fit's deadline again as its training starts (Runtime.training_deadline: the run's share from
        now, `keep` seconds kept for what follows the training), so what the fit did before it (the run's first fit:
        building the network, decoding the images) is shared by every fit still to do, not taken from this one's
        training. The new deadline, now rt.deadline; None without a time limit or anyone to ask."""
        if self.rt.deadline is None or self.rt.training_deadline is None:
            return None
        later = self.rt.training_deadline(keep)
        if later is not None:
            self.rt.deadline = later
        return later

    def time_left(self) -> float:
        """Seconds to the deadline (inf without one)."""
        return math.inf if self.rt.deadline is None else self.rt.deadline - time.monotonic()
