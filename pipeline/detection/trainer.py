"""The detection loop: the detector computes its own losses from list targets, the schedule is warm-up + cosine over
planned epochs (re-planned at a deadline), validation is the estimator's `evaluate`: the competition's metric (Kaggle's
IoU metric, COCO mAP) where the runner gives one, else COCO mAP, logged under its name, with COCO's AP50 beside it.

The planned fit (epochs, batches, the time kept for predictions, checkpoints, resume) is pipeline/training/planned.py's
PlannedTrainer; device, precision, optimizer steps, schedules, EMA, deadlines and progress come from pipeline/training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.detection.data import DetectionDataset, make_loader, to_device
from pipeline.detection.recipe import DetTrainConfig
from pipeline.training.planned import PlannedFit, PlannedTrainer
from pipeline.training.runtime import Runtime

WARMUP_START = 0.001  # warm-up starts from a thousandth of the peak rate (detectors diverge from a higher start)


def _batchnorm_eval(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class DetTrainer(PlannedTrainer):
    """Fits a torchvision detector; `evaluate(model) -> (score, details)` scores the validation fold each epoch, the
    score logged as `metric` (the competition's metric name, "mAP" for COCO's)."""

    cfg: DetTrainConfig
    make_loader = staticmethod(make_loader)
    loss_name = "detection"
    warmup_start = WARMUP_START
    log_extras = ("AP50",)

    def __init__(
        self,
        cfg: DetTrainConfig,
        rt: Runtime,
        evaluate: Callable[[nn.Module], tuple[float | None, dict[str, Any]]] | None = None,
        metric: str = "mAP",
    ) -> None:
        super().__init__(cfg, rt, evaluate, metric)
        self.last_eval: dict[str, Any] = {}

    def predict_input(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """The images on the device, as the detector takes them (PlannedTrainer._measure_predict's batch)."""
        return to_device(images, self.rt.device)

    def predict_forward(self, model: nn.Module, x: list[torch.Tensor]) -> Any:
        """The detector's boxes for a batch, under autocast (PlannedTrainer._measure_predict's forward)."""
        with self.autocast():
            return model(x)

    def _losses(
        self, model: nn.Module, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]
    ) -> torch.Tensor:
        x = to_device(images, self.rt.device)
        t = [{k: v.to(self.rt.device) for k, v in d.items()} for d in targets]
        with self.autocast():
            return sum(model(x, t).values())

    @torch.no_grad()
    def valid_loss(self, model: nn.Module, ds: DetectionDataset) -> float:
        """Mean training loss on the validation fold: train-mode heads, frozen BN statistics, no gradients."""
        was = model.training
        model.train()
        _batchnorm_eval(model)
        total, n = 0.0, 0
        for images, targets, _ in self.loader(make_loader, ds, np.arange(len(ds)), self.cfg.batch_size, 0):
            total += float(self._losses(model, images, targets)) * len(images)
            n += len(images)
        model.train(was)
        return total / max(n, 1)

    def batch_loss(self, s: PlannedFit, batch: Any, i: int) -> torch.Tensor:
        """The detector's summed losses on an (images, targets, rows) batch (PlannedTrainer.train_epoch's loss)."""
        images, targets, _ = batch
        return self._losses(s.model, images, targets)

    def _validate(self, s: PlannedFit, row: dict[str, Any], valid: DetectionDataset | None) -> None:
        """Validation loss, `evaluate`'s score and COCO's AP50 and AP75 into the row, every eval_every epochs and
        the last."""
        cfg = self.cfg
        last = s.stop or s.epoch + 1 >= s.planned
        if valid is None or cfg.eval_every <= 0 or ((s.epoch + 1) % cfg.eval_every != 0 and not last):
            return
        if cfg.valid_loss:
            row["valid_loss"] = self.valid_loss(s.eval_model, valid)
        if self.evaluate is not None:
            t1 = time.perf_counter()
            row["valid_score"], self.last_eval = self.evaluate(s.eval_model)
            self.predict_ips = len(valid) / max(time.perf_counter() - t1, 1e-9)
            row.update({k: v for k, v in self.last_eval.items() if k in ("AP50", "AP75")})
