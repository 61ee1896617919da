"""The segmentation loop: BCE + soft Dice on per-class logits, warm-up + cosine over planned epochs (re-planned at a
deadline), validation by the estimator's `evaluate` (the competition's Dice at the grid where the runner gives it,
else mean Dice at 0.5) every epoch, the best epoch's weights kept (best.pt) and predicted with.

Device, precision, optimizer steps, schedules, EMA, checkpoints, deadlines and progress come from pipeline/training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.segmentation.data import SegDataset, make_loader
from pipeline.segmentation.recipe import SegTrainConfig
from pipeline.training import checkpoint
from pipeline.training.core import PlannedFit, TrainerCore
from pipeline.training.deadline import MARGIN_S, reserve_seconds
from pipeline.training.optim import make_optimizer
from pipeline.training.progress import epoch_line
from pipeline.training.runtime import Runtime
from pipeline.vision.data import BatchNormalizer

DICE_SMOOTH = 1.0  # the soft Dice's smoothing: a class empty in the batch and predicted empty scores 1


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice per class over the batch's pixels, averaged over the classes."""
    p = torch.sigmoid(logits).flatten(2)
    t = masks.flatten(2)
    inter = (p * t).sum((0, 2))
    dice = (2 * inter + DICE_SMOOTH) / (p.sum((0, 2)) + t.sum((0, 2)) + DICE_SMOOTH)
    return 1 - dice.mean()


def seg_loss(logits: torch.Tensor, masks: torch.Tensor, dice_weight: float) -> torch.Tensor:
    """Binary cross-entropy per pixel and class plus dice_weight x the soft Dice loss, in float32."""
    logits, masks = logits.float(), masks.float()
    loss = F.binary_cross_entropy_with_logits(logits, masks)
    return loss + dice_weight * soft_dice_loss(logits, masks) if dice_weight else loss


@dataclass
class SegFit(PlannedFit):
    """PlannedFit (the epoch plan) plus the best epoch."""

    best: dict[str, Any] = field(default_factory=lambda: {"score": None, "epoch": -1})


class SegTrainer(TrainerCore):
    """Fits a U-Net; `evaluate(model) -> score` scores the validation fold each epoch (logged as `metric`, better
    when greater unless the runtime says otherwise), and the best epoch's weights are the fit's."""

    loss_name = "segmentation"

    def __init__(
        self,
        cfg: SegTrainConfig,
        rt: Runtime,
        norm: BatchNormalizer,
        evaluate: Callable[[nn.Module], float] | None = None,
        metric: str = "dice",
    ) -> None:
        super().__init__(rt)
        self.cfg, self.norm, self.evaluate, self.metric = cfg, norm, evaluate, metric
        self.predict_ips = 0.0
        self.best_state: dict[str, Any] | None = None

    def _reserve(self) -> float:
        """Seconds kept for the predictions the runner makes after fit (OOF + test, all TTA views)."""
        if self.rt.deadline is None:
            return 0.0
        ips = max(self.predict_ips or 5.0, 1e-3)
        return reserve_seconds(self.rt.predict_rows, self.rt.predict_views, ips, 1.2)

    def logits(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The model's logits for a uint8 NHWC batch, normalised on the device, under autocast."""
        with self.autocast():
            return model(self.norm(images))

    @torch.no_grad()
    def _measure_predict(self, model: nn.Module, dataset: SegDataset) -> None:
        """Images/s of inference before training (a warm-up and a timed batch), so the time kept for the predictions
        after fit is measured when the training asks for its deadline; each validation measures it again."""
        was = model.training
        model.eval()
        n = min(len(dataset), self.cfg.batch_size)
        x = torch.stack([dataset[i][0] for i in range(n)])
        for _ in range(2):
            t = time.perf_counter()
            self.logits(model, x)
        self.predict_ips = n / max(time.perf_counter() - t, 1e-9)
        model.train(was)

    def fit(self, model: nn.Module, train: SegDataset, valid: SegDataset | None = None) -> nn.Module:
        """Train; checkpoint each epoch; resume from the workdir when asked; stop at the deadline."""
        s = self._start(model, train)
        if not self.resume(s, self.cfg.epochs):
            if self.rt.deadline is not None and not self.predict_ips:
                self._measure_predict(s.eval_model, valid if valid is not None else train)
            # the run's share from now: what the fit did so far (the first fit's start-up) is not its training time
            self.training_starts(self._reserve() + MARGIN_S)
            try:
                while s.epoch < s.planned and not s.stop:
                    row = self.train_epoch(s, train, make_loader, self.cfg, self._reserve())
                    if row is None:
                        break
                    self._validate(s, row, valid)
                    self._end_epoch(s, row)
            finally:
                self.close_loaders()
        return self._final(s)

    def _start(self, model: nn.Module, train: SegDataset) -> SegFit:
        """Model on the device; optimizer, scaler and EMA of a new fit, planned for cfg.epochs."""
        cfg = self.cfg
        self.place(model)
        opt = make_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        peak_lrs = [cfg.lr] * len(opt.param_groups)
        steps = max(math.ceil(len(train) / cfg.batch_size), 1)
        return self.new_state(SegFit, model, opt, peak_lrs, cfg.ema_decay, planned=cfg.epochs, steps_per_epoch=steps)

    def restore_saved(self, s: SegFit, state: dict[str, Any]) -> None:
        """On resume (TrainerCore.resume): the prediction speed measured before and the best epoch, as _end_epoch
        saved them."""
        s.best = state["best"]
        self.predict_ips = state.get("predict_ips", 0.0)

    def batch_loss(self, s: SegFit, batch: Any, i: int) -> torch.Tensor:
        """BCE + soft Dice of an (images, masks) batch (TrainerCore.train_epoch's loss)."""
        images, masks = batch
        target = masks.to(self.rt.device, non_blocking=True)
        return seg_loss(self.logits(s.model, images), target, self.cfg.dice_weight)

    def _validate(self, s: SegFit, row: dict[str, Any], valid: SegDataset | None) -> None:
        """`evaluate`'s score into the row every eval_every epochs and the last; the best epoch's weights kept (in
        memory and best.pt)."""
        cfg = self.cfg
        due = (s.epoch + 1) % cfg.eval_every == 0 or s.stop or s.epoch + 1 >= s.planned if cfg.eval_every > 0 else False
        if valid is None or self.evaluate is None or not due:
            return
        t1 = time.perf_counter()
        row["valid_score"] = score = float(self.evaluate(s.eval_model))
        self.predict_ips = len(valid) / max(time.perf_counter() - t1, 1e-9)
        best = s.best["score"]
        if best is None or (score > best if self.rt.greater_is_better else score < best):
            s.best = {"score": score, "epoch": s.epoch + 1}
            self.best_state = copy.deepcopy(s.eval_model.state_dict())
            self.save(checkpoint.BEST, {"model": self.best_state, "epoch": s.epoch + 1})

    def _end_epoch(self, s: SegFit, row: dict[str, Any]) -> None:
        """Record the epoch, re-plan at a deadline, checkpoint, log, report to the pruner (TrainerCore.end_epoch)."""
        saved = {"predict_ips": self.predict_ips, "best": s.best}

        def line() -> str:  # read after the re-planning
            return epoch_line(row, s.planned, self.metric, ips_digits=1)

        self.end_epoch(s, row, self.cfg.epochs, self._reserve(), saved, line)

    def _final(self, s: SegFit) -> nn.Module:
        """The network to predict with: the best validated epoch's weights (from best.pt after a resume), else the
        last (EMA when enabled)."""
        out = s.eval_model
        if s.best.get("epoch", -1) > 0:
            saved = self.best_state
            if saved is None and self.rt.workdir is not None:  # resumed after the best epoch
                loaded = checkpoint.load(self.rt.workdir / checkpoint.BEST)
                saved = loaded["model"] if loaded is not None else None
            if saved is not None:
                out.load_state_dict(saved)
        return out.eval()
