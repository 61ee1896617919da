"""The training loop the framework owns: schedules, mixing, EMA, AMP, early stopping, checkpoints, deadlines."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.atomic import write_json
from pipeline.vision import checkpoint, distributed
from pipeline.vision.data import BatchNormalizer, ImageDataset, make_loader
from pipeline.vision.ema import ModelEma
from pipeline.vision.finetune import Freezer, base_lrs, make_optimizer
from pipeline.vision.mix import Mixer, soft_targets
from pipeline.vision.progress import EpochBar
from pipeline.vision.runtime import epoch_seed
from pipeline.vision.schedules import lr_factor


@dataclass
class TrainConfig:
    """Everything that shapes training; built by the estimator from its params."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.2
    final_lr: float = 0.0
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    ema_decay: float = 0.0
    ema_every: int = 1
    accum_steps: int = 1
    grad_clip: float | None = None
    patience: int | None = None
    eval_every: int = 1
    freeze_epochs: int = 0  # fine-tuning (finetune.py): head-only epochs first, then everything
    freeze_bn: bool = True
    layer_decay: float | None = None
    backbone_lr: float = 1.0
    seed: int = 0


@dataclass
class Runtime:
    """Where and how to run, and what the runner asked for (from the FitContext, or defaults)."""

    device: str = "cpu"
    dtype: torch.dtype | None = None
    channels_last: bool = False
    num_workers: int = 0
    workdir: Path | None = None
    deadline: float | None = None
    resume: bool = False
    progress: bool = False
    log: Callable[[str], Any] = lambda s: None
    score: Callable[[Any, Any], float] | None = None
    greater_is_better: bool = True
    metric_name: str = "score"
    predict_rows: int = 0
    predict_views: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # the runner's FitContext.extra (fold, model, report)


class Trainer:
    """Fits a model on an ImageDataset; returns the network to predict with (EMA or best weights when enabled)."""

    def __init__(self, cfg: TrainConfig, rt: Runtime, normalizer: BatchNormalizer, num_classes: int) -> None:
        self.cfg, self.rt, self.norm, self.num_classes = cfg, rt, normalizer, num_classes
        self.history: list[dict[str, Any]] = []
        self.eval_ips = 0.0
        self.best_state: dict[str, Any] | None = None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.rt.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.rt.device.split(":")[0], dtype=self.rt.dtype)

    def _reserve(self) -> float:
        """Seconds to keep for the predictions the runner makes after fit."""
        if self.rt.deadline is None:
            return 0.0
        ips = (self.eval_ips or 500.0) * distributed.world_size()  # under DDP each rank predicts its share
        return 2.0 + 1.15 * self.rt.predict_rows * self.rt.predict_views / ips

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset: ImageDataset) -> tuple[np.ndarray, float]:
        """Class probabilities over a dataset and the mean cross-entropy against its labels."""
        model.eval()
        loader = make_loader(
            distributed.shard_dataset(dataset),  # each rank its share under DDP, gathered below
            self.cfg.batch_size * 2,
            False,
            num_workers=self.rt.num_workers,
            pin_memory=self.rt.device.startswith("cuda"),
        )
        probs, loss, n, t0 = [], 0.0, 0, time.perf_counter()
        for xb, yb in loader:
            with self._autocast():
                logits = model(self.norm(xb)).float()
            yb = yb.to(logits.device)
            loss += F.cross_entropy(logits, yb, reduction="sum").item()
            probs.append(logits.softmax(1).cpu().numpy())
            n += len(xb)
        self.eval_ips = n / max(time.perf_counter() - t0, 1e-9)
        if distributed.active():
            probs = [distributed.gather_rows(np.concatenate(probs or [np.empty((0, self.num_classes), np.float32)]))]
            loss, n = distributed.all_sum([loss, n])
        return np.concatenate(probs), loss / max(n, 1)

    @torch.no_grad()
    def _measure_eval(self, model: nn.Module, dataset: ImageDataset) -> None:
        """Images/s of inference (one warm-up and one timed batch): sizes the time kept for the final predictions."""
        model.eval()
        xb = torch.stack([dataset[i][0] for i in range(min(len(dataset), self.cfg.batch_size * 2))])
        for _ in range(2):
            t = time.perf_counter()
            with self._autocast():
                model(self.norm(xb))
        self.eval_ips = len(xb) / max(time.perf_counter() - t, 1e-9)

    def _save(self, path: Path, **state: Any) -> None:
        if self.rt.workdir is not None:
            checkpoint.save(self.rt.workdir / path, state)

    def fit(
        self, model: nn.Module, train: ImageDataset, valid: ImageDataset | None = None, y_valid: Any = None
    ) -> nn.Module:
        """Train; checkpoint every epoch; resume from workdir when asked; stop early or at the deadline.

        The schedule runs on progress p in [0, 1]: the share of `epochs` done, or under a deadline the share of the
        time budget used if that is larger, so warm-up and decay always complete before the deadline even when the
        machine slows down or speeds up mid-run (the number of epochs follows from the measured speed).
        """
        cfg, rt = self.cfg, self.rt
        model.to(rt.device, memory_format=torch.channels_last if rt.channels_last else torch.contiguous_format)
        opt = make_optimizer(model, cfg)  # every parameter, frozen or not, so unfreezing needs no new optimizer
        peak_lrs = base_lrs(opt, cfg.lr)  # per group: lr x the group's lr_scale (layer decay, backbone_lr)
        freezer = Freezer(model, cfg.freeze_epochs, cfg.freeze_bn)
        scaler = torch.amp.GradScaler(enabled=rt.dtype == torch.float16)
        ema = ModelEma(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        mixer = Mixer(cfg.mixup_alpha, cfg.cutmix_alpha, cfg.mix_prob)
        drop_last = len(train) > cfg.batch_size
        batches = len(train) // cfg.batch_size if drop_last else math.ceil(len(train) / cfg.batch_size)
        total_steps = max(batches // cfg.accum_steps, 1) * cfg.epochs
        # rank 0 reads the checkpoint and broadcasts it under DDP (other ranks have no workdir)
        state = distributed.from_main(
            lambda: checkpoint.load(rt.workdir / checkpoint.LAST) if rt.resume and rt.workdir else None
        )
        best: dict[str, Any] = {"score": None, "epoch": -1}
        epoch, step, progress = 0, 0, 0.0
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            if ema is not None and state.get("ema"):
                ema.load_state_dict(state["ema"])
            epoch, step, best, self.history = state["epoch"], state["step"], state["best"], state["history"]
            progress = state["progress"] if cfg.epochs <= state["config_epochs"] else step / total_steps
            if state["done"] and cfg.epochs <= state["config_epochs"]:
                rt.log(f"resume: training already finished ({epoch} epochs); loading its weights")
                return self._final(model, ema, best)
            rt.log(f"resume: continuing from epoch {epoch} of {cfg.epochs}")
        elif hasattr(model, "init_from_data") and not getattr(model, "pretrained_weights", False):  # keep loaded ones
            n = min(len(train), 5000)
            images = torch.from_numpy(train.cache[:n]) if train.cache is not None else None
            model.init_from_data(
                self.norm(images if images is not None else torch.stack([train[i][0] for i in range(n)]))
            )
        if rt.deadline is not None:
            self._measure_eval(model, valid if valid is not None else train)
        p0, t_start = progress, time.monotonic()

        def advance() -> float:
            """Schedule progress now: epochs done, or the time budget used, whichever is further along."""
            p = step / total_steps
            if rt.deadline is not None:
                budget = rt.deadline - self._reserve() - self._margin(t_start) - t_start
                p = max(p, p0 + (1 - p0) * (time.monotonic() - t_start) / max(budget, 1e-9))
                p = distributed.agree(p)  # rank 0's clock decides: ranks stop at the same step
            return max(progress, p)

        stop, net = False, None
        while epoch < cfg.epochs and not stop:
            t0, seed = time.perf_counter(), epoch_seed(cfg.seed, epoch)
            torch.manual_seed(distributed.rank_seed(seed))
            mixer.reseed(seed)
            model.train()
            freezer.apply(epoch)  # backbone frozen (BN in eval mode) during the first freeze_epochs
            loader = distributed.train_loader(
                train, cfg.batch_size, seed, rt.num_workers, rt.device.startswith("cuda"), drop_last
            )
            net = distributed.wrap(model, rt.device, bool(rt.extra.get("sync_bn")), net)  # DDP in a torchrun run
            total_loss, seen = torch.zeros((), device=rt.device), 0
            with EpochBar(batches, f"epoch {epoch + 1}/{self._expected(epoch, progress)}", rt.progress) as bar:
                for i, (xb, yb) in enumerate(loader):
                    progress = advance()
                    if progress >= 1.0:
                        rt.log(f"time limit: schedule complete during epoch {epoch + 1}, stopping")
                        stop = True
                        break
                    x, y = self.norm(xb), yb.to(rt.device, non_blocking=True)
                    with self._autocast():
                        if mixer.active:
                            x, targets = mixer(x, soft_targets(y, self.num_classes, cfg.label_smoothing))
                            loss = torch.sum(-targets * F.log_softmax(net(x).float(), 1), 1).mean()
                        else:
                            loss = F.cross_entropy(net(x).float(), y, label_smoothing=cfg.label_smoothing)
                    scaler.scale(loss / cfg.accum_steps).backward()
                    total_loss += loss.detach() * len(xb)
                    seen += len(xb)
                    if (i + 1) % cfg.accum_steps == 0:
                        factor = lr_factor(cfg.schedule, progress, cfg.warmup, cfg.final_lr)
                        for group, base in zip(opt.param_groups, peak_lrs, strict=True):
                            group["lr"] = base * factor
                        if cfg.grad_clip:
                            scaler.unscale_(opt)
                            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        scaler.step(opt)
                        scaler.update()
                        opt.zero_grad(set_to_none=True)
                        step += 1
                        if ema is not None and step % cfg.ema_every == 0:
                            ema.update(model)
                    if i % 10 == 0 or i + 1 == batches:
                        bar.update(i + 1, (total_loss / max(seen, 1)).item(), seen / (time.perf_counter() - t0))
            if seen == 0:
                break
            train_s = time.perf_counter() - t0
            train_loss, seen_all = distributed.mean_over_ranks(total_loss, seen)  # over the global batch
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "valid_loss": None,
                "valid_score": None,
                "lr": max(g["lr"] for g in opt.param_groups),
                "seconds": None,
                "images_per_s": seen_all / train_s,
            }
            eval_model = ema.module if ema is not None else model
            is_last = epoch + 1 >= cfg.epochs or stop
            if valid is not None and cfg.eval_every > 0 and ((epoch + 1) % cfg.eval_every == 0 or is_last):
                proba, row["valid_loss"] = self.evaluate(eval_model, valid)
                if rt.score is not None:
                    row["valid_score"] = float(rt.score(y_valid, proba))
                    if best["score"] is None or self._better(row["valid_score"], best["score"]):
                        best = {"score": row["valid_score"], "epoch": epoch + 1}
                        if cfg.patience is not None:
                            self.best_state = copy.deepcopy(eval_model.state_dict())
                            self._save(checkpoint.BEST, model=self.best_state, epoch=epoch + 1)
            row["seconds"] = time.perf_counter() - t0
            self.history.append(row)
            epoch += 1
            progress = advance()
            self._log_epoch(row, self._expected(epoch, progress))
            if cfg.patience is not None and best["epoch"] > 0 and epoch - best["epoch"] >= cfg.patience:
                rt.log(f"early stopping: no improvement for {cfg.patience} epochs (best epoch {best['epoch']})")
                stop = True
            stop = distributed.agree(stop)  # rank 0 decides for all ranks (their scores are equal anyway)
            self._save(
                checkpoint.LAST,
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                scaler=scaler.state_dict(),
                ema=ema.state_dict() if ema is not None else None,
                epoch=epoch,
                step=step,
                progress=progress,
                best=best,
                history=self.history,
                config_epochs=cfg.epochs,
                done=stop or epoch >= cfg.epochs or progress >= 1.0,
            )
            if self.rt.workdir is not None:
                write_json(self.rt.workdir / "history.json", self.history)
            report = rt.extra.get("report")
            if report is not None and row["valid_score"] is not None:  # epoch-level pruning (tune); may raise
                report(
                    {
                        "model": rt.extra.get("model"),
                        "fold": rt.extra.get("fold", 0),
                        "epoch": epoch - 1,
                        "score": row["valid_score"],
                    }
                )
            stop = stop or progress >= 1.0
        return self._final(model, ema, best)

    def _margin(self, t_start: float) -> float:
        """Slack before the deadline: 3% of the budget, at least 2 s."""
        return max(2.0, 0.03 * ((self.rt.deadline or t_start) - t_start))

    def _expected(self, epoch: int, progress: float) -> int:
        """The number of epochs the run is heading for, for display."""
        if epoch == 0 or progress <= 0:
            return self.cfg.epochs
        return min(self.cfg.epochs, max(epoch, round(epoch / progress)))

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rt.greater_is_better else a < b

    def _final(self, model: nn.Module, ema: ModelEma | None, best: dict[str, Any]) -> nn.Module:
        """The network to predict with: best weights under early stopping, else EMA, else the last weights."""
        out = ema.module if ema is not None else model
        if self.cfg.patience is not None and best.get("epoch", -1) > 0:
            saved = self.best_state
            if saved is None:  # resumed after the best epoch: rank 0 reads best.pt, broadcast under DDP
                workdir = self.rt.workdir
                loaded = distributed.from_main(lambda: checkpoint.load(workdir / checkpoint.BEST) if workdir else None)
                saved = loaded["model"] if loaded is not None else None
            if saved is not None:
                out.load_state_dict(saved)
        return out.eval()

    def _log_epoch(self, row: dict[str, Any], planned: int) -> None:
        parts = [f"epoch {row['epoch']}/{planned}", f"train_loss {row['train_loss']:.4f}"]
        if row["valid_loss"] is not None:
            parts.append(f"valid_loss {row['valid_loss']:.4f}")
        if row["valid_score"] is not None:
            parts.append(f"valid_{self.rt.metric_name} {row['valid_score']:.4f}")
        parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.1f}s", f"{row['images_per_s']:.0f} img/s"]
        self.rt.log("  ".join(parts))
