"""The detection loop: the detector computes its own losses from list targets, the schedule is warm-up + cosine over
planned epochs (re-planned at a deadline), validation is the estimator's `evaluate`: the competition's metric (Kaggle's
IoU metric, COCO mAP) where the runner gives one, else COCO mAP, logged under its name, with COCO's AP50 beside it.

Device, precision, optimizer steps, schedules, EMA, checkpoints, deadlines and progress come from pipeline/training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.detection.data import DetectionDataset, make_loader, to_device
from pipeline.detection.recipe import DetTrainConfig
from pipeline.training.core import PlannedFit, TrainerCore
from pipeline.training.deadline import MARGIN_S, reserve_seconds
from pipeline.training.optim import make_optimizer
from pipeline.training.progress import epoch_line
from pipeline.training.runtime import Runtime

WARMUP_START = 0.001  # warm-up starts from a thousandth of the peak rate (detectors diverge from a higher start)


def _batchnorm_eval(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class DetTrainer(TrainerCore):
    """Fits a torchvision detector; `evaluate(model) -> (score, details)` scores the validation fold each epoch, the
    score logged as `metric` (the competition's metric name, "mAP" for COCO's)."""

    loss_name = "detection"
    warmup_start = WARMUP_START

    def __init__(
        self,
        cfg: DetTrainConfig,
        rt: Runtime,
        evaluate: Callable[[nn.Module], tuple[float | None, dict[str, Any]]] | None = None,
        metric: str = "mAP",
    ) -> None:
        super().__init__(rt)
        self.cfg, self.evaluate, self.metric = cfg, evaluate, metric
        self.predict_ips = 0.0
        self.last_eval: dict[str, Any] = {}

    def _reserve(self) -> float:
        """Seconds kept for the predictions the runner makes after fit (OOF + test, all TTA views)."""
        if self.rt.deadline is None:
            return 0.0
        ips = max(self.predict_ips or 5.0, 1e-3)
        return reserve_seconds(self.rt.predict_rows, self.rt.predict_views, ips, 1.2)

    @torch.no_grad()
    def _measure_predict(self, model: nn.Module, dataset: DetectionDataset) -> None:
        """Images/s of inference before training (one warm-up and one timed batch), so the time kept for the
        predictions after fit is measured, not guessed, when the training asks for its deadline; each validation
        measures it again."""
        was = model.training
        model.eval()
        n = min(len(dataset), self.cfg.batch_size)
        x = to_device([dataset[i][0] for i in range(n)], self.rt.device)
        for _ in range(2):
            t = time.perf_counter()
            with self.autocast():
                model(x)
        self.predict_ips = n / max(time.perf_counter() - t, 1e-9)
        model.train(was)

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

    def fit(self, model: nn.Module, train: DetectionDataset, valid: DetectionDataset | None = None) -> nn.Module:
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
        return s.eval_model.eval()

    def _start(self, model: nn.Module, train: DetectionDataset) -> PlannedFit:
        """Model on the device; optimizer, scaler and EMA of a new fit, planned for cfg.epochs."""
        cfg = self.cfg
        self.place(model)
        opt = make_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        peak_lrs = [cfg.lr] * len(opt.param_groups)
        steps = max(math.ceil(len(train) / cfg.batch_size), 1)
        return self.new_state(
            PlannedFit, model, opt, peak_lrs, cfg.ema_decay, planned=cfg.epochs, steps_per_epoch=steps
        )

    def restore_saved(self, s: PlannedFit, state: dict[str, Any]) -> None:
        """On resume (TrainerCore.resume): the prediction speed measured before, as _end_epoch saved it."""
        self.predict_ips = state.get("predict_ips", 0.0)

    def batch_loss(self, s: PlannedFit, batch: Any, i: int) -> torch.Tensor:
        """The detector's summed losses on an (images, targets, rows) batch (TrainerCore.train_epoch's loss)."""
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

    def _end_epoch(self, s: PlannedFit, row: dict[str, Any]) -> None:
        """Record the epoch, re-plan at a deadline, checkpoint, log, report to the pruner (TrainerCore.end_epoch)."""
        saved = {"predict_ips": self.predict_ips}

        def line() -> str:  # read after the re-planning
            return epoch_line(row, s.planned, self.metric, extras=("AP50",), ips_digits=1)

        self.end_epoch(s, row, self.cfg.epochs, self._reserve(), saved, line)
