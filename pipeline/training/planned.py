"""The fit planned over epochs that the detection and segmentation loops share: PlannedFit (FitState plus the epoch
plan) and PlannedTrainer (TrainerCore plus that fit: the time kept for the fit's own predictions under a deadline,
measured before training and again at each validation; the epochs, each one's batches stepped at the schedule's rate
over the planned steps, its bookkeeping, the plan re-made at a deadline, resume).

A loop subclasses PlannedTrainer and gives its batches' loss (batch_loss), one inference forward (predict_input,
predict_forward), its validation (_validate), what it saves beside the state (saved, restore_saved) and the network
it predicts with (_final).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from pipeline.training import checkpoint
from pipeline.training.core import FitState, TrainerCore
from pipeline.training.data import SeededDataset, epoch_rows
from pipeline.training.deadline import MARGIN_S, plan_epochs, reserve_seconds
from pipeline.training.optim import make_optimizer, optimizer_step, set_lrs
from pipeline.training.progress import EpochBar, epoch_line
from pipeline.training.runtime import Runtime, epoch_seed
from pipeline.training.schedules import lr_factor

PREDICT_IPS_GUESS = 5.0  # images/s of prediction assumed before any is measured
PREDICT_OVERHEAD = 1.2  # the time kept for the predictions after fit: this times their measured time, plus 2 s


@dataclass
class PlannedFit(FitState):
    """FitState plus the epoch plan: the schedule runs over planned x steps_per_epoch steps, the plan re-made at a
    deadline after each epoch (PlannedTrainer._end_epoch)."""

    planned: int = 0
    start: int = 0  # the epoch this fit started (or resumed) at
    steps_per_epoch: int = 1


class PlannedKnobs(Protocol):
    """What PlannedTrainer reads of its loop's config (DetTrainConfig, SegTrainConfig)."""

    epochs: int
    seed: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    warmup: float
    ema_decay: float
    grad_clip: float | None
    eval_every: int


class PlannedTrainer(TrainerCore):
    """A fit planned over cfg.epochs (re-planned at a deadline), validated by `evaluate` (its score logged as
    `metric`), checkpointed each epoch and resumed from the workdir when asked."""

    # the loop's data module's make_loader (how TrainerCore.loader makes its loaders)
    make_loader: ClassVar[Callable[..., Any]]
    # the fit's state type (PlannedFit, or a subclass with what the loop carries beside it)
    state_type: ClassVar[type[PlannedFit]] = PlannedFit
    # the name of the loss when it is not finite, and where the warm-up starts (lr_factor's `start`: None for the
    # schedule's own)
    loss_name = "training"
    warmup_start: float | None = None
    log_extras: tuple[str, ...] = ()  # the row's fields logged beside the validation score

    def __init__(
        self, cfg: PlannedKnobs, rt: Runtime, evaluate: Callable[[nn.Module], Any] | None, metric: str
    ) -> None:
        super().__init__(rt)
        self.cfg, self.evaluate, self.metric = cfg, evaluate, metric
        self.predict_ips = 0.0

    def _reserve(self) -> float:
        """Seconds kept for the predictions the runner makes after fit (OOF + test, all TTA views)."""
        if self.rt.deadline is None:
            return 0.0
        ips = max(self.predict_ips or PREDICT_IPS_GUESS, 1e-3)
        return reserve_seconds(self.rt.predict_rows, self.rt.predict_views, ips, PREDICT_OVERHEAD)

    @torch.no_grad()
    def _measure_predict(self, model: nn.Module, dataset: SeededDataset) -> None:
        """Images/s of inference before training (one warm-up and one timed batch), so the time kept for the
        predictions after fit is measured, not guessed, when the training asks for its deadline; each validation
        measures it again."""
        was = model.training
        model.eval()
        n = min(len(dataset), self.cfg.batch_size)
        x = self.predict_input([dataset[i][0] for i in range(n)])
        for _ in range(2):
            t = time.perf_counter()
            self.predict_forward(model, x)
        self.predict_ips = n / max(time.perf_counter() - t, 1e-9)
        model.train(was)

    def predict_input(self, images: list[torch.Tensor]) -> Any:
        """_measure_predict's hook: the dataset's images as one batch the network's forward takes."""
        raise NotImplementedError(f"{type(self).__name__} gives no predict_input")

    def predict_forward(self, model: nn.Module, x: Any) -> Any:
        """_measure_predict's hook: one inference forward of a predict_input batch, under autocast."""
        raise NotImplementedError(f"{type(self).__name__} gives no predict_forward")

    def fit(self, model: nn.Module, train: SeededDataset, valid: SeededDataset | None = None) -> nn.Module:
        """Train; checkpoint each epoch; resume from the workdir when asked; stop at the deadline."""
        s = self._start(model, train)
        if not self.resume(s, self.cfg.epochs):
            if self.rt.deadline is not None and not self.predict_ips:
                self._measure_predict(s.eval_model, valid if valid is not None else train)
            # the run's share from now: what the fit did so far (the first fit's start-up) is not its training time
            self.training_starts(self._reserve() + MARGIN_S)
            try:
                while s.epoch < s.planned and not s.stop:
                    row = self.train_epoch(s, train, self._reserve())
                    if row is None:
                        break
                    self._validate(s, row, valid)
                    self._end_epoch(s, row)
            finally:
                self.close_loaders()
        return self._final(s)

    def _start(self, model: nn.Module, train: SeededDataset) -> PlannedFit:
        """Model on the device; optimizer, scaler and EMA of a new fit, planned for cfg.epochs."""
        cfg = self.cfg
        self.place(model)
        opt = make_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        peak_lrs = [cfg.lr] * len(opt.param_groups)
        steps = max(math.ceil(len(train) / cfg.batch_size), 1)
        return self.new_state(
            self.state_type, model, opt, peak_lrs, cfg.ema_decay, planned=cfg.epochs, steps_per_epoch=steps
        )

    def resume(self, s: PlannedFit, epochs: int) -> bool:
        """Continue from last.pt when asked: the fit's state, learning curve and plan (all `epochs` when they were
        raised since), the prediction speed measured before and what the loop saved beside them (restore_saved). True
        when its training had finished (nothing left to do)."""
        state = self.read_last()  # these loops are fitted by one process: no broadcast
        if state is None:
            return False
        s.restore(state)
        s.start, self.history = s.epoch, state["history"]
        self.restore_saved(s, state)
        self.predict_ips = state.get("predict_ips", 0.0)
        more = epochs > state["config_epochs"]  # raised on resume: plan for all of them
        s.planned = epochs if more else state["planned"]
        finished = state["done"] and not more
        self.log_resume(finished, s.epoch, s.planned)
        return finished

    def saved(self, s: PlannedFit) -> dict[str, Any]:
        """_end_epoch's hook: what the loop saves in last.pt beside the fit's state and the prediction speed."""
        return {}

    def restore_saved(self, s: PlannedFit, state: dict[str, Any]) -> None:
        """resume's hook: read back from last.pt what the loop saved beside its state (`saved`)."""

    def batch_loss(self, s: PlannedFit, batch: Any, i: int) -> torch.Tensor:
        """train_epoch's hook: the loss of batch `i`, as the loop's loader gives it (its first item the images)."""
        raise NotImplementedError(f"{type(self).__name__} gives no batch_loss")

    def train_epoch(self, s: PlannedFit, train: SeededDataset, reserve: float) -> dict[str, Any] | None:
        """One pass over this epoch's shuffled batches, each batch's loss (batch_loss) stepped at the schedule's rate,
        until only `reserve` seconds (kept for what follows the training) are left: the epoch's history row, or None
        when no batch ran."""
        rt, cfg = self.rt, self.cfg
        s.epoch_t0, seed = time.perf_counter(), epoch_seed(cfg.seed, s.epoch)
        torch.manual_seed(seed)
        s.model.train()
        rows = epoch_rows(len(train), True, seed, cfg.batch_size, False)
        loader = self.loader(self.make_loader, train, rows, cfg.batch_size, seed)  # workers kept for the fit
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

    def _validate(self, s: PlannedFit, row: dict[str, Any], valid: SeededDataset | None) -> None:
        """fit's hook after each epoch's batches: the validation's numbers into the row (`valid_score`: evaluate's),
        the prediction speed measured again."""

    def _end_epoch(self, s: PlannedFit, row: dict[str, Any]) -> None:
        """An epoch's bookkeeping after its batches and validation: the row into the learning curve, the epochs
        re-planned at a deadline (the time for the predictions after fit kept), last.pt with the prediction speed and
        the loop's `saved` beside the fit's state, history.json, the epoch's log line (after the checkpoint: an
        interrupted run resumes from what it logged) and the pruner's report."""
        rt, epochs, reserve = self.rt, self.cfg.epochs, self._reserve()
        saved = {"predict_ips": self.predict_ips} | self.saved(s)
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
        rt.log(epoch_line(row, s.planned, self.metric, extras=self.log_extras, ips_digits=1))
        self.report(s.epoch - 1, row["valid_score"])  # epoch-level pruning (tune); may raise

    def _final(self, s: PlannedFit) -> nn.Module:
        """The network to predict with: the last epoch's (EMA when enabled)."""
        return s.eval_model.eval()
