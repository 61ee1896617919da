"""The detection training loop: warmup + cosine, EMA, AMP on CUDA, checkpoints every epoch, resume, deadlines."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.atomic import write_json
from pipeline.detection.data import DetectionDataset, make_loader, to_device
from pipeline.vision import checkpoint
from pipeline.vision.ema import ModelEma
from pipeline.vision.progress import EpochBar

SCHEDULES = ("cosine", "constant")
OPTIMIZERS = ("sgd", "adamw")


def lr_factor(kind: str, step: int, total: int, warmup: float) -> float:
    """Linear warmup over a fraction of the steps, then cosine to zero (or constant)."""
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule '{kind}'. Valid schedules: {', '.join(SCHEDULES)}.")
    t = min(step / max(total, 1), 1.0)
    if warmup > 0 and t < warmup:
        return 0.001 + 0.999 * t / warmup
    rest = (t - warmup) / max(1.0 - warmup, 1e-12)
    return 0.5 * (1.0 + math.cos(math.pi * rest)) if kind == "cosine" else 1.0


def plan_epochs(done: int, max_epochs: int, seconds_left: float, epoch_seconds: float) -> int:
    """Total epochs so the remaining ones fit in seconds_left (at least one more, never above max_epochs)."""
    if epoch_seconds <= 0:
        return max_epochs
    return max(min(max_epochs, done + int(max(seconds_left, 0.0) // epoch_seconds)), min(max_epochs, done + 1))


def epoch_seed(seed: int, epoch: int) -> int:
    """One seed per epoch for shuffling and augmentation: a resumed run replays the same epochs."""
    return int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1)[0])


def make_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    """SGD (momentum) or AdamW over trainable parameters; no weight decay on biases and norm weights."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{name}'. Valid optimizers: {', '.join(OPTIMIZERS)}.")
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    return torch.optim.AdamW(groups, lr=lr)


@dataclass
class DetTrainConfig:
    """What shapes training; the estimator builds it from its params."""

    epochs: int = 12
    batch_size: int = 4
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup: float = 0.1
    ema_decay: float = 0.0
    grad_clip: float | None = 10.0
    eval_every: int = 1
    valid_loss: bool = True
    num_workers: int = 0
    seed: int = 0


@dataclass
class DetRuntime:
    """Where and how to run (from the runner's FitContext, or defaults for plain use)."""

    device: str = "cpu"
    dtype: torch.dtype | None = None
    channels_last: bool = False
    workdir: Path | None = None
    deadline: float | None = None
    resume: bool = False
    progress: bool = False
    log: Callable[[str], Any] = lambda s: None
    predict_rows: int = 0
    predict_views: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _batchnorm_eval(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class DetTrainer:
    """Fits a torchvision detector; `evaluate(model) -> (score, details)` scores the validation fold each epoch."""

    def __init__(
        self,
        cfg: DetTrainConfig,
        rt: DetRuntime,
        evaluate: Callable[[nn.Module], tuple[float | None, dict[str, Any]]] | None = None,
    ) -> None:
        self.cfg, self.rt, self.evaluate = cfg, rt, evaluate
        self.history: list[dict[str, Any]] = []
        self.predict_ips = 0.0
        self.last_eval: dict[str, Any] = {}

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA when asked; a no-op otherwise."""
        if self.rt.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.rt.device.split(":")[0], dtype=self.rt.dtype)

    def _time_left(self) -> float:
        return math.inf if self.rt.deadline is None else self.rt.deadline - time.monotonic()

    def _reserve(self) -> float:
        """Seconds kept for the predictions the runner makes after fit (OOF + test, all TTA views)."""
        if self.rt.deadline is None:
            return 0.0
        return 2.0 + 1.2 * self.rt.predict_rows * self.rt.predict_views / max(self.predict_ips or 5.0, 1e-3)

    def _losses(
        self, model: nn.Module, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]
    ) -> torch.Tensor:
        x = to_device(images, self.rt.device, self.rt.channels_last)
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
        for images, targets, _ in make_loader(ds, self.cfg.batch_size, False, num_workers=self.cfg.num_workers):
            total += float(self._losses(model, images, targets)) * len(images)
            n += len(images)
        model.train(was)
        return total / max(n, 1)

    def _save(self, **state: Any) -> None:
        if self.rt.workdir is not None:
            checkpoint.save(self.rt.workdir / checkpoint.LAST, state)
            write_json(self.rt.workdir / "history.json", self.history)

    def fit(self, model: nn.Module, train: DetectionDataset, valid: DetectionDataset | None = None) -> nn.Module:
        """Train; checkpoint each epoch; resume from the workdir when asked; stop at the deadline."""
        cfg, rt = self.cfg, self.rt
        model.to(rt.device, memory_format=torch.channels_last if rt.channels_last else torch.contiguous_format)
        opt = make_optimizer(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum)
        scaler = torch.amp.GradScaler(enabled=rt.dtype == torch.float16)
        ema = ModelEma(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        steps_per_epoch = max(math.ceil(len(train) / cfg.batch_size), 1)
        start, step, planned = 0, 0, cfg.epochs
        state = checkpoint.load(rt.workdir / checkpoint.LAST) if rt.resume and rt.workdir else None
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            if ema is not None and state.get("ema"):
                ema.load_state_dict(state["ema"])
            start, step, self.history = state["epoch"], state["step"], state["history"]
            self.predict_ips = state.get("predict_ips", 0.0)
            planned = state["planned"] if cfg.epochs <= state["config_epochs"] else cfg.epochs
            if state["done"] and cfg.epochs <= state["config_epochs"]:
                rt.log(f"resume: training already finished ({start} epochs); loading its weights")
                return (ema.module if ema is not None else model).eval()
            rt.log(f"resume: continuing from epoch {start} of {planned}")
        epoch, stop = start, False
        while epoch < planned and not stop:
            t0, seed = time.perf_counter(), epoch_seed(cfg.seed, epoch)
            torch.manual_seed(seed)
            model.train()
            loader = make_loader(train, cfg.batch_size, True, seed, cfg.num_workers, rt.device.startswith("cuda"))
            total, seen = 0.0, 0
            with EpochBar(steps_per_epoch, f"epoch {epoch + 1}/{planned}", rt.progress) as bar:
                for i, (images, targets, _) in enumerate(loader):
                    if self._time_left() < self._reserve():
                        rt.log(f"time limit reached during epoch {epoch + 1}: stopping")
                        stop = True
                        break
                    factor = lr_factor(cfg.schedule, step, planned * steps_per_epoch, cfg.warmup)
                    for g in opt.param_groups:
                        g["lr"] = cfg.lr * factor
                    loss = self._losses(model, images, targets)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"detection loss is {float(loss)} at epoch {epoch + 1}, batch {i}; "
                            f"lower lr (now {cfg.lr}) or raise warmup."
                        )
                    scaler.scale(loss).backward()
                    if cfg.grad_clip:
                        scaler.unscale_(opt)
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    scaler.step(opt)
                    scaler.update()
                    opt.zero_grad(set_to_none=True)
                    step += 1
                    if ema is not None:
                        ema.update(model)
                    total += float(loss.detach()) * len(images)
                    seen += len(images)
                    bar.update(i + 1, total / seen, seen / (time.perf_counter() - t0))
            if seen == 0:
                break
            train_s = time.perf_counter() - t0
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": total / seen,
                "valid_loss": None,
                "valid_score": None,
                "lr": opt.param_groups[0]["lr"],
                "seconds": None,
                "images_per_s": seen / train_s,
            }
            eval_model = ema.module if ema is not None else model
            last = stop or epoch + 1 >= planned
            if valid is not None and cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or last):
                if cfg.valid_loss:
                    row["valid_loss"] = self.valid_loss(eval_model, valid)
                if self.evaluate is not None:
                    t1 = time.perf_counter()
                    row["valid_score"], self.last_eval = self.evaluate(eval_model)
                    self.predict_ips = len(valid) / max(time.perf_counter() - t1, 1e-9)
                    row.update({k: v for k, v in self.last_eval.items() if k in ("AP50", "AP75")})
            row["seconds"] = time.perf_counter() - t0
            self.history.append(row)
            if rt.deadline is not None and not stop:
                left = self._time_left() - self._reserve() - 2.0
                new = plan_epochs(epoch + 1, cfg.epochs if epoch == start else planned, left, row["seconds"])
                if new != planned:
                    rt.log(f"time limit: re-planned to {new} epochs")
                planned = new
            self._save(
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                scaler=scaler.state_dict(),
                ema=ema.state_dict() if ema is not None else None,
                epoch=epoch + 1,
                step=step,
                history=self.history,
                planned=planned,
                config_epochs=cfg.epochs,
                done=stop or epoch + 1 >= planned,
                predict_ips=self.predict_ips,
            )
            self._log(row, planned)  # after the checkpoint: an interrupted run resumes from what it logged
            report = rt.extra.get("report")
            if report is not None and row["valid_score"] is not None:  # epoch-level pruning (tune); may raise
                report(
                    {
                        "model": rt.extra.get("model"),
                        "fold": rt.extra.get("fold", 0),
                        "epoch": epoch,
                        "score": row["valid_score"],
                    }
                )
            epoch += 1
        return (ema.module if ema is not None else model).eval()

    def _log(self, row: dict[str, Any], planned: int) -> None:
        parts = [f"epoch {row['epoch']}/{planned}", f"train_loss {row['train_loss']:.4f}"]
        if row["valid_loss"] is not None:
            parts.append(f"valid_loss {row['valid_loss']:.4f}")
        if row["valid_score"] is not None:
            parts.append(f"valid_mAP {row['valid_score']:.4f}")
            if "AP50" in row:
                parts.append(f"AP50 {row['AP50']:.4f}")
        parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.1f}s", f"{row['images_per_s']:.1f} img/s"]
        self.rt.log("  ".join(parts))
