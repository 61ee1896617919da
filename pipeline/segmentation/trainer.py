"""The segmentation loop: BCE + soft Dice on per-class logits, warm-up + cosine over planned epochs (re-planned at a
deadline), validation by the estimator's `evaluate` (the competition's Dice at the grid where the runner gives it,
else mean Dice at 0.5) every epoch, the best epoch's weights kept (best.pt) and predicted with.

The planned fit (epochs, batches, the time kept for predictions, checkpoints, resume) is pipeline/training/planned.py's
PlannedTrainer; device, precision, optimizer steps, schedules, EMA, deadlines and progress come from pipeline/training.
"""

from __future__ import annotations

import copy
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
from pipeline.training.planned import PlannedFit, PlannedTrainer
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


class SegTrainer(PlannedTrainer):
    """Fits a U-Net; `evaluate(model) -> score` scores the validation fold each epoch (logged as `metric`, better
    when greater unless the runtime says otherwise), and the best epoch's weights are the fit's."""

    cfg: SegTrainConfig
    make_loader = staticmethod(make_loader)
    state_type = SegFit
    loss_name = "segmentation"

    def __init__(
        self,
        cfg: SegTrainConfig,
        rt: Runtime,
        norm: BatchNormalizer,
        evaluate: Callable[[nn.Module], float] | None = None,
        metric: str = "dice",
        tile: int | None = None,
    ) -> None:
        super().__init__(cfg, rt, evaluate, metric)
        self.norm, self.tile = norm, tile
        self.best_state: dict[str, Any] | None = None

    def logits(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """The model's logits for a uint8 NHWC batch, normalised on the device, under autocast."""
        with self.autocast():
            return model(self.norm(images))

    def predict_input(self, images: list[torch.Tensor]) -> torch.Tensor:
        """The images stacked into one uint8 NHWC batch (PlannedTrainer._measure_predict's batch); with `tile`, one
        window of each (a validation image whole, a training one its crop), as Runtime.predict_views counts the
        windows."""
        if self.tile is not None:
            images = [image[: self.tile, : self.tile] for image in images]
        return torch.stack(images)

    def predict_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The logits of a batch (PlannedTrainer._measure_predict's forward)."""
        return self.logits(model, x)

    def saved(self, s: SegFit) -> dict[str, Any]:
        """The best epoch, saved in last.pt beside the fit's state (PlannedTrainer._end_epoch)."""
        return {"best": s.best}

    def restore_saved(self, s: SegFit, state: dict[str, Any]) -> None:
        """On resume (PlannedTrainer.resume): the best epoch, as `saved` gave it."""
        s.best = state["best"]

    def batch_loss(self, s: SegFit, batch: Any, i: int) -> torch.Tensor:
        """BCE + soft Dice of an (images, masks) batch (PlannedTrainer.train_epoch's loss)."""
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
