"""The image-network loop: the objective's loss (cross-entropy, per-label or regression losses: objectives.py) with
label smoothing or mixup/cutmix targets, gradient accumulation, a frozen-backbone warm-up, early stopping on the
validation metric, DDP under torchrun.

Device, precision, optimizer steps, schedules, EMA, checkpoints, deadlines and progress come from pipeline/training.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline import distributed
from pipeline.contract import ContractError
from pipeline.keypoints import Keypoints
from pipeline.training import checkpoint
from pipeline.training.core import FitState, TrainerCore
from pipeline.training.deadline import MARGIN_S, ScheduleClock, expected_epochs, reserve_seconds
from pipeline.training.optim import optimizer_step, set_lrs
from pipeline.training.progress import EpochBar, epoch_line
from pipeline.training.runtime import Runtime, epoch_seed
from pipeline.training.schedules import lr_factor
from pipeline.vision.batch_augment import BatchAugment, device_batches, is_identity
from pipeline.vision.data import BatchNormalizer, ImageDataset, make_loader
from pipeline.vision.finetune import Freezer, base_lrs, make_optimizer
from pipeline.vision.mix import Mixer
from pipeline.vision.objectives import Objective, Regression
from pipeline.vision.recipe import TrainKnobs

# What torch and timm raise when a network's layers cannot take the images' size: poolings and convolutions left with
# less than their kernel, a patch embedding built for another size.
TOO_SMALL = (
    "Kernel size can't be greater than actual input size",
    "Output size is too small",
    "doesn't match model",
    "should be divisible by patch size",
)


@dataclass(frozen=True)
class TrainConfig(TrainKnobs):
    """Everything that shapes training: the recipe's knobs plus the rest; built by the estimator from its params."""

    momentum: float = 0.9
    nesterov: bool = True
    final_lr: float = 0.0
    mix_prob: float = 1.0
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
class ClassifierFit(FitState):
    """FitState plus what the classification loop carries: schedule progress, the best epoch, mixing, freezing."""

    freezer: Freezer | None = None
    mixer: Mixer | None = None
    clock: ScheduleClock | None = None
    batches: int = 0  # batches per epoch
    drop_last: bool = True
    progress: float = 0.0  # schedule progress 0..1 (ScheduleClock)
    best: dict[str, Any] = field(default_factory=lambda: {"score": None, "epoch": -1})
    net: nn.Module | None = None  # what the forward runs through: the model, or its DDP wrapper


class Trainer(TrainerCore):
    """Fits a model on an ImageDataset; returns the network to predict with (EMA or best weights when enabled)."""

    def __init__(
        self,
        cfg: TrainConfig,
        rt: Runtime,
        normalizer: BatchNormalizer,
        objective: Objective,
        batch_augment: BatchAugment | None = None,
        keypoints: Keypoints | None = None,
    ) -> None:
        """`objective`: the loss and what the outputs mean (pipeline/vision/objectives.py). `batch_augment`: train on
        the decoded images held on the device, augmented batch by batch (the dataset's own transform is then not
        used for training), and validate on them there too; None: through loaders. `keypoints`: the outputs that are
        places on the image, moved with each augmented image (a Regression's; pipeline/keypoints.py)."""
        super().__init__(rt)
        self.cfg, self.norm, self.objective = cfg, normalizer, objective
        self.batch_augment, self.keypoints = batch_augment, keypoints
        self.eval_ips = 0.0
        self.best_state: dict[str, Any] | None = None
        self._resident: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _reserve(self) -> float:
        """Seconds to keep for the predictions the runner makes after fit."""
        if self.rt.deadline is None:
            return 0.0
        ips = (self.eval_ips or 500.0) * distributed.world_size()  # under DDP each rank predicts its share
        return reserve_seconds(self.rt.predict_rows, self.rt.predict_views, ips, 1.15)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset: ImageDataset) -> tuple[np.ndarray, float]:
        """The outputs over a dataset (class or label probabilities, values) and the objective's mean loss against its
        labels (unsmoothed)."""
        model.eval()
        loader = self._eval_batches(dataset)  # each rank its share under DDP, gathered below
        probs, loss, n, t0 = [], 0.0, 0, time.perf_counter()
        for xb, yb in loader:
            with self.autocast():
                logits = model(self.norm(xb)).float()
            yb = yb.to(logits.device)
            loss += self.objective.loss(logits, yb).item() * len(xb)
            probs.append(self.objective.outputs(logits).cpu().numpy())
            n += len(xb)
        self.eval_ips = n / max(time.perf_counter() - t0, 1e-9)
        if distributed.active():
            empty = np.empty((0, self.objective.n_outputs), np.float32)
            probs = [distributed.gather_rows(np.concatenate(probs or [empty]))]
            loss, n = distributed.all_sum([loss, n])
        return np.concatenate(probs), loss / max(n, 1)

    def _eval_batches(self, dataset: ImageDataset) -> Any:
        """Validation batches of this rank's share: from the images held on the device when training augments there
        and the dataset is decoded with nothing to transform, else from the dataset's loader."""
        lo, hi = distributed.shard_range(len(dataset))  # every row outside DDP
        if self.batch_augment is not None and isinstance(dataset.cache, np.ndarray) and is_identity(dataset.transform):
            images, labels = self._on_device(dataset)
            return device_batches(images, labels, torch.arange(lo, hi, device=images.device), self.cfg.batch_size * 2)
        return self.loader(make_loader, dataset, np.arange(lo, hi), self.cfg.batch_size * 2, 0)

    def _train_batches(self, train: ImageDataset, seed: int, drop_last: bool) -> Any:
        """The epoch's shuffled training batches (this rank's shard under DDP), each image's augmentation drawn from
        (epoch seed, row): batched on the device, or per image through the dataset's transform in its loader."""
        rows, local = distributed.train_rows(len(train), self.cfg.batch_size, seed, drop_last)
        if self.batch_augment is None:
            return self.loader(make_loader, train, rows, local, seed)
        images, labels = self._on_device(train)
        gen = torch.Generator(device=images.device).manual_seed(seed)
        draws = self.batch_augment.draw(images.shape[:3], gen)  # one per row: a row's draw is the same on any rank
        order = torch.as_tensor(rows, device=images.device)
        return device_batches(images, labels, order, local, self.batch_augment, draws, self._mover(images.shape[1:3]))

    def _mover(self, shape: tuple[int, int]) -> Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor] | None:
        """How a batch's labels move with its (h, w) = `shape` images' draws: the keypoints moved in their own units,
        then back on the objective's scale; None where the labels are no places on the image."""
        keypoints, augment, objective = self.keypoints, self.batch_augment, self.objective
        if keypoints is None or augment is None:
            return None
        if not isinstance(objective, Regression):
            raise ContractError(f"keypoints are values on the image: the network must learn values, not {objective}.")
        return lambda yb, draws: objective.in_units(yb, lambda v: keypoints.moved(v, augment, draws, shape))

    def _on_device(self, dataset: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
        """A decoded dataset's images (uint8 NHWC) and labels on the training device, copied once per fit."""
        key = id(dataset)  # the fit's datasets live as long as the fit, and this is cleared with it
        if key not in self._resident:
            labels = dataset.labels if dataset.labels is not None else np.full(len(dataset), -1)
            self._resident[key] = (
                torch.from_numpy(dataset.cache).to(self.rt.device),
                torch.from_numpy(np.asarray(labels)).to(self.rt.device),  # class indices, or float targets
            )
        return self._resident[key]

    @torch.no_grad()
    def _measure_eval(self, model: nn.Module, dataset: ImageDataset) -> None:
        """Images/s of inference (one warm-up and one timed batch): sizes the time kept for the final predictions."""
        model.eval()
        xb = torch.stack([dataset[i][0] for i in range(min(len(dataset), self.cfg.batch_size * 2))])
        for _ in range(2):
            t = time.perf_counter()
            with self.autocast():
                model(self.norm(xb))
        self.eval_ips = len(xb) / max(time.perf_counter() - t, 1e-9)

    def fit(
        self, model: nn.Module, train: ImageDataset, valid: ImageDataset | None = None, y_valid: Any = None
    ) -> nn.Module:
        """Train; checkpoint every epoch; resume from workdir when asked; stop early or at the deadline.

        The schedule runs on progress p in [0, 1]: the share of `epochs` done, or under a deadline the share of the
        time budget used if that is larger, so warm-up and decay always complete before the deadline even when the
        machine slows down or speeds up mid-run (the number of epochs follows from the measured speed).
        """
        s = self._start(model, train)
        if self._resume(s, train):
            return self._final(s)
        if self.rt.deadline is not None:
            self._measure_eval(model, valid if valid is not None else train)
            # the run's share from now: what the fit did so far (the first fit's start-up) is not its training time
            if (later := self.training_starts(self._reserve() + MARGIN_S)) is not None:
                s.clock.deadline = later
        s.clock.start(s.progress)
        try:
            while s.epoch < self.cfg.epochs and not s.stop:
                row = self._train_epoch(s, train)
                if row is None:
                    break
                self._validate(s, row, valid, y_valid)
                self._end_epoch(s, row)
        finally:
            self.close_loaders()
            self._resident.clear()
        return self._final(s)

    def _start(self, model: nn.Module, train: ImageDataset) -> ClassifierFit:
        """Model on the device; optimizer, scaler, EMA, freezing, mixing and the schedule clock of a new fit."""
        cfg = self.cfg
        self.place(model)
        opt = make_optimizer(model, cfg)  # every parameter, frozen or not, so unfreezing needs no new optimizer
        peak_lrs = base_lrs(opt, cfg.lr)  # per group: lr x the group's lr_scale (layer decay, backbone_lr)
        freezer = Freezer(model, cfg.freeze_epochs, cfg.freeze_bn)
        mixer = Mixer(cfg.mixup_alpha, cfg.cutmix_alpha, cfg.mix_prob)
        drop_last = len(train) > cfg.batch_size
        batches = len(train) // cfg.batch_size if drop_last else math.ceil(len(train) / cfg.batch_size)
        total_steps = max(batches // cfg.accum_steps, 1) * cfg.epochs
        clock = ScheduleClock(total_steps, self.rt.deadline, self._reserve, distributed.agree)
        return self.new_state(
            ClassifierFit,
            model,
            opt,
            peak_lrs,
            cfg.ema_decay,
            freezer=freezer,
            mixer=mixer,
            clock=clock,
            batches=batches,
            drop_last=drop_last,
        )

    def _resume(self, s: ClassifierFit, train: ImageDataset) -> bool:
        """Continue from last.pt when asked (True: its training had finished); a new fit initialises from data."""
        # under DDP rank 0 (the only one with a workdir) finds it; every rank that sees that file reads it itself
        state = distributed.load_from_main(self.last_path, checkpoint.load)
        if state is None:
            self._init_from_data(s.model, train)
            return False
        s.restore(state)
        s.best, self.history = state["best"], state["history"]
        more = self.cfg.epochs > state["config_epochs"]  # raised on resume: the schedule stretches over them
        s.progress = s.step / s.clock.total_steps if more else state["progress"]
        finished = state["done"] and not more
        self.log_resume(finished, s.epoch, self.cfg.epochs)
        return finished

    def _init_from_data(self, model: nn.Module, train: ImageDataset) -> None:
        """Data-dependent initialisation (airbench's whitening stem), unless pretrained weights were loaded."""
        if not hasattr(model, "init_from_data") or getattr(model, "pretrained_weights", False):
            return
        n = min(len(train), 5000)
        images = torch.from_numpy(train.cache[:n]) if isinstance(train.cache, np.ndarray) else None
        model.init_from_data(self.norm(images if images is not None else torch.stack([train[i][0] for i in range(n)])))

    def _train_epoch(self, s: ClassifierFit, train: ImageDataset) -> dict[str, Any] | None:
        """One pass over this epoch's shuffled batches (until the schedule completes): its history row, or None when
        no batch ran."""
        cfg, rt = self.cfg, self.rt
        s.epoch_t0, seed = time.perf_counter(), epoch_seed(cfg.seed, s.epoch)
        torch.manual_seed(seed)
        s.mixer.reseed(seed)
        s.model.train()
        s.freezer.apply(s.epoch)  # backbone frozen (BN in eval mode) during the first freeze_epochs
        loader = self._train_batches(train, seed, s.drop_last)
        s.net = distributed.wrap(s.model, rt.device, rt.sync_bn, s.net)  # DDP in a torchrun run
        total_loss, seen = torch.zeros((), device=rt.device), 0
        title = f"epoch {s.epoch + 1}/{expected_epochs(cfg.epochs, s.epoch, s.progress)}"
        with EpochBar(s.batches, title, rt.progress) as bar:
            for i, (xb, yb) in enumerate(loader):
                s.progress = s.clock.progress(s.step, s.progress)
                if s.progress >= 1.0:
                    rt.log(f"time limit: schedule complete during epoch {s.epoch + 1}, stopping")
                    s.stop = True
                    break
                last = (i + 1) % cfg.accum_steps == 0 or i + 1 == s.batches  # reduced over the ranks once a step
                with distributed.syncing(s.net, last):
                    loss = self._loss(s, xb, yb) if s.step or i else self._first_loss(s, xb, yb)
                    s.scaler.scale(loss / cfg.accum_steps).backward()
                total_loss += loss.detach() * len(xb)
                seen += len(xb)
                if (i + 1) % cfg.accum_steps == 0:
                    set_lrs(s.opt, s.peak_lrs, lr_factor(cfg.schedule, s.progress, cfg.warmup, cfg.final_lr))
                    optimizer_step(s.opt, s.scaler, s.model, cfg.grad_clip)
                    s.after_step(cfg.ema_every)
                if i % 10 == 0 or i + 1 == s.batches:
                    bar.update(i + 1, (total_loss / max(seen, 1)).item(), seen / (time.perf_counter() - s.epoch_t0))
        if seen == 0:
            return None
        self._check_finite(s)
        train_s = time.perf_counter() - s.epoch_t0
        train_loss, seen_all = distributed.mean_over_ranks(total_loss, seen)  # over the global batch
        return {
            "epoch": s.epoch + 1,
            "train_loss": train_loss,
            "valid_loss": None,
            "valid_score": None,
            "lr": max(g["lr"] for g in s.opt.param_groups),
            "seconds": None,
            "images_per_s": seen_all / train_s,
        }

    def _check_finite(self, s: ClassifierFit) -> None:
        """Fail naming the first weight an epoch made NaN or infinite (a diverging learning rate; or, on the CPU, a
        padded stride-2 convolution over 1x1 maps, whose weight gradient torch's oneDNN kernel can leave unset),
        rather than go on to predict NaN."""
        named = list(s.model.named_parameters())
        finite = torch.stack([torch.isfinite(p).all() for _, p in named])
        if not bool(finite.all()):  # one device-to-host sync an epoch, not one per weight
            bad = named[int((~finite).nonzero()[0, 0])][0]
            raise FloatingPointError(
                f"training made the weights of {bad} non-finite in epoch {s.epoch + 1}; lower lr (now "
                f"{self.cfg.lr}) or raise warmup. On the CPU, images so small that a stride-2 convolution sees 1x1 "
                "maps can do it too: use larger images or a shallower arch."
            )

    def _first_loss(self, s: ClassifierFit, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The fit's first batch's loss; an architecture that cannot take images of this size (a ConvNeXt's poolings
        on 28 px digits, a ViT built for 224 px) is refused naming both, not with torch's or timm's own words alone."""
        try:
            return self._loss(s, xb, yb)
        except (RuntimeError, AssertionError) as e:
            if not any(words in str(e) for words in TOO_SMALL):
                raise
            arch = getattr(s.model, "pretrained_cfg", {}).get("architecture") or type(s.model).__name__
            size = "x".join(str(d) for d in self.norm(xb[:1]).shape[-2:])  # as the network saw them (N, C, H, W)
            raise ContractError(
                f"the network {arch} cannot take {size} images ({type(e).__name__}: {str(e).splitlines()[0]}). Give "
                "it larger images (the recipe's image size; a table's images: cnn_image_size) or choose another arch."
            ) from e

    def _loss(self, s: ClassifierFit, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The objective's loss on one batch (label-smoothed, or against mixed soft targets when mixing), under
        autocast."""
        x, y = self.norm(xb), yb.to(self.rt.device, non_blocking=True)
        objective, smoothing = self.objective, self.cfg.label_smoothing
        with self.autocast():
            if s.mixer.active:
                x, targets = s.mixer(x, objective.soft(y, smoothing))
                return objective.soft_loss(s.net(x).float(), targets)
            return objective.loss(s.net(x).float(), y, smoothing)

    def _validate(self, s: ClassifierFit, row: dict[str, Any], valid: ImageDataset | None, y_valid: Any) -> None:
        """Validation loss and score into the row (every eval_every epochs and the last); keep the best weights."""
        cfg = self.cfg
        is_last = s.epoch + 1 >= cfg.epochs or s.stop
        if valid is None or cfg.eval_every <= 0 or ((s.epoch + 1) % cfg.eval_every != 0 and not is_last):
            return
        proba, row["valid_loss"] = self.evaluate(s.eval_model, valid)
        if self.rt.score is None:
            return
        row["valid_score"] = float(self.rt.score(y_valid, proba))
        if s.best["score"] is None or self._better(row["valid_score"], s.best["score"]):
            s.best = {"score": row["valid_score"], "epoch": s.epoch + 1}
            if cfg.patience is not None:
                self.best_state = copy.deepcopy(s.eval_model.state_dict())
                self.save(checkpoint.BEST, {"model": self.best_state, "epoch": s.epoch + 1})

    def _end_epoch(self, s: ClassifierFit, row: dict[str, Any]) -> None:
        """Record and log the epoch, decide on early stopping, checkpoint, report to the pruner."""
        cfg, rt = self.cfg, self.rt
        row["seconds"] = time.perf_counter() - s.epoch_t0
        self.history.append(row)
        s.epoch += 1
        s.progress = s.clock.progress(s.step, s.progress)
        rt.log(epoch_line(row, expected_epochs(cfg.epochs, s.epoch, s.progress), rt.metric_name))
        if cfg.patience is not None and s.best["epoch"] > 0 and s.epoch - s.best["epoch"] >= cfg.patience:
            rt.log(f"early stopping: no improvement for {cfg.patience} epochs (best epoch {s.best['epoch']})")
            s.stop = True
        s.stop = distributed.agree(s.stop)  # rank 0 decides for all ranks (their scores are equal anyway)
        self.save(
            checkpoint.LAST,
            s.checkpoint()
            | {
                "progress": s.progress,
                "best": s.best,
                "history": self.history,
                "config_epochs": cfg.epochs,
                "done": s.stop or s.epoch >= cfg.epochs or s.progress >= 1.0,
            },
        )
        self.write_history()
        self.report(s.epoch - 1, row["valid_score"])  # epoch-level pruning (tune); may raise
        if not s.stop and s.progress >= 1.0 and s.epoch < cfg.epochs:
            rt.log(f"time limit: schedule complete after epoch {s.epoch}, stopping")
            s.stop = True

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rt.greater_is_better else a < b

    def _final(self, s: ClassifierFit) -> nn.Module:
        """The network to predict with: best weights under early stopping, else EMA, else the last weights."""
        out = s.eval_model
        if self.cfg.patience is not None and s.best.get("epoch", -1) > 0:
            saved = self.best_state
            if saved is None:  # resumed after the best epoch: best.pt, found by rank 0, read as last.pt is
                best = lambda: checkpoint.found(self.rt.workdir, checkpoint.BEST)  # noqa: E731
                loaded = distributed.load_from_main(best, checkpoint.load)
                saved = loaded["model"] if loaded is not None else None
            if saved is not None:
                out.load_state_dict(saved)
        return out.eval()
