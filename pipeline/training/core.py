"""What the training loops share around their batches: TrainerCore (device placement, autocast, loaders kept for
the fit, checkpoints, the learning curve, pruner reports, the deadline; for the detection and segmentation loops,
which plan their epochs, the whole epoch, its bookkeeping and resume, each loop giving the loss of a batch) and
FitState (the model, optimizer, GradScaler, EMA and counters one fit carries from epoch to epoch, saved in last.pt and
restored on resume; PlannedFit adds the epoch plan).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from pipeline.training import checkpoint
from pipeline.training.data import epoch_rows
from pipeline.training.ema import ModelEma
from pipeline.training.optim import optimizer_step, set_lrs
from pipeline.training.progress import EpochBar
from pipeline.training.runtime import Runtime, epoch_seed
from pipeline.training.schedules import lr_factor

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
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.step = state["epoch"], state["step"]


@dataclass
class PlannedFit(FitState):
    """FitState plus the epoch plan of the detection and segmentation loops: the schedule runs over planned x
    steps_per_epoch steps, the plan re-made at a deadline after each epoch (TrainerCore.end_epoch)."""

    planned: int = 0
    start: int = 0  # the epoch this fit started (or resumed) at
    steps_per_epoch: int = 1


class EpochKnobs(Protocol):
    """What TrainerCore.train_epoch reads of a planned-epoch loop's config (DetTrainConfig, SegTrainConfig)."""

    seed: int
    batch_size: int
    lr: float
    schedule: str
    warmup: float
    grad_clip: float | None


class TrainerCore:
    """The engineering half of a trainer; a loop subclasses it and adds its batches, loss and validation."""

    # a planned-epoch loop's (train_epoch's): the name of its loss when it is not finite, and where its warm-up starts
    # (lr_factor's `start`: None for the schedule's own)
    loss_name = "training"
    warmup_start: float | None = None

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

    def read_last(self) -> dict[str, Any] | None:
        """The last.pt to resume from, when the runner asked to resume and one exists."""
        return checkpoint.load(self.rt.workdir / checkpoint.LAST) if self.rt.resume and self.rt.workdir else None

    def log_resume(self, finished: bool, epoch: int, planned: int) -> None:
        if finished:
            self.rt.log(f"resume: training already finished ({epoch} epochs); loading its weights")
        else:
            self.rt.log(f"resume: continuing from epoch {epoch} of {planned}")

    def resume(self, s: PlannedFit, epochs: int) -> bool:
        """Continue a planned-epoch fit from last.pt when asked: its state, learning curve and plan (all `epochs` when
        they were raised since), and what the loop saved beside them (restore_saved). True when its training had
        finished (nothing left to do)."""
        state = self.read_last()  # these loops are fitted by one process: no broadcast
        if state is None:
            return False
        s.restore(state)
        s.start, self.history = s.epoch, state["history"]
        self.restore_saved(s, state)
        more = epochs > state["config_epochs"]  # raised on resume: plan for all of them
        s.planned = epochs if more else state["planned"]
        finished = state["done"] and not more
        self.log_resume(finished, s.epoch, s.planned)
        return finished

    def restore_saved(self, s: PlannedFit, state: dict[str, Any]) -> None:
        """resume's hook: read back from last.pt what the loop saved beside its state (end_epoch's `saved`)."""

    def batch_loss(self, s: PlannedFit, batch: Any, i: int) -> torch.Tensor:
        """train_epoch's hook: the loss of batch `i`, as the loop's loader gives it (its first item the images)."""
        raise NotImplementedError(f"{type(self).__name__} gives no batch_loss")

    def train_epoch(
        self, s: PlannedFit, train: Any, make: Callable[..., Any], cfg: EpochKnobs, reserve: float
    ) -> dict[str, Any] | None:
        """One pass of a planned-epoch loop over this epoch's shuffled batches (`make`: its make_loader), each batch's
        loss (batch_loss) stepped at the schedule's rate, until only `reserve` seconds (kept for what follows the
        training) are left: the epoch's history row, or None when no batch ran."""
        rt = self.rt
        s.epoch_t0, seed = time.perf_counter(), epoch_seed(cfg.seed, s.epoch)
        torch.manual_seed(seed)
        s.model.train()
        rows = epoch_rows(len(train), True, seed, cfg.batch_size, False)
        loader = self.loader(make, train, rows, cfg.batch_size, seed)  # workers kept for the fit
        total, seen = 0.0, 0
        with EpochBar(s.steps_per_epoch, f"epoch {s.epoch + 1}/{s.planned}", rt.progress) as bar:
            for i, batch in enumerate(loader):
                if self.time_left() < reserve:
                    rt.log(f"time limit reached during epoch {s.epoch + 1}: stopping")
                    s.stop = True
                    break
                progress = s.step / max(s.planned * s.steps_per_epoch, 1)
                set_lrs(s.opt, s.peak_lrs, lr_factor(cfg.schedule, progress, cfg.warmup, start=self.warmup_start))
                loss = self.batch_loss(s, batch, i)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{self.loss_name} loss is {float(loss.detach())} at epoch {s.epoch + 1}, batch {i}; "
                        f"lower lr (now {cfg.lr}) or raise warmup."
                    )
                s.scaler.scale(loss).backward()
                optimizer_step(s.opt, s.scaler, s.model, cfg.grad_clip)
                s.after_step()
                n = len(batch[0])  # the batch's images
                total += float(loss.detach()) * n
                seen += n
                bar.update(i + 1, total / seen, seen / (time.perf_counter() - s.epoch_t0))
        if seen == 0:
            return None
        return {
            "epoch": s.epoch + 1,
            "train_loss": total / seen,
            "valid_loss": None,
            "valid_score": None,
            "lr": s.opt.param_groups[0]["lr"],
            "seconds": None,
            "images_per_s": seen / (time.perf_counter() - s.epoch_t0),
        }

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

    def end_epoch(
        self,
        s: PlannedFit,
        row: dict[str, Any],
        epochs: int,
        reserve: float,
        saved: dict[str, Any],
        line: Callable[[], str],
    ) -> None:
        """An epoch's bookkeeping after its batches and validation (the detection and segmentation loops'): the row
        into the learning curve, the epochs re-planned at a deadline (`reserve` seconds kept for what follows the
        training), last.pt with `saved` beside the fit's state, history.json, the log's `line()` (after the
        checkpoint: an interrupted run resumes from what it logged) and the pruner's report."""
        from pipeline.training.deadline import MARGIN_S, plan_epochs

        rt = self.rt
        row["seconds"] = time.perf_counter() - s.epoch_t0
        self.history.append(row)
        if rt.deadline is not None and not s.stop:
            left = self.time_left() - reserve - MARGIN_S
            new = plan_epochs(s.epoch + 1, epochs if s.epoch == s.start else s.planned, left, row["seconds"])
            if new != s.planned:
                rt.log(f"time limit: re-planned to {new} epochs")
            s.planned = new
        s.epoch += 1
        state = {"history": self.history, "planned": s.planned, "config_epochs": epochs}
        self.save(checkpoint.LAST, s.checkpoint() | state | {"done": s.stop or s.epoch >= s.planned} | saved)
        self.write_history()
        rt.log(line())
        self.report(s.epoch - 1, row["valid_score"])  # epoch-level pruning (tune); may raise

    def time_left(self) -> float:
        """Seconds to the deadline (inf without one)."""
        return math.inf if self.rt.deadline is None else self.rt.deadline - time.monotonic()
