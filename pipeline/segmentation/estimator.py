"""A U-Net with the framework's estimator contract: X = image paths and their run-length cells, y = masks at the grid,
predictions = per-class probabilities at the grid (docs/architecture.md, "Segmentation")."""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from pipeline.contract import ContractError
from pipeline.segmentation.recipe import SegAugment, SegTrainConfig


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class Segmenter(SegTrainConfig, SegAugment, BaseEstimator):
    """U-Net over a timm encoder, one sigmoid output per class. predict(X) -> float32 (images, classes x gh x gw).

    Its parameters: the training loop's (SegTrainConfig: epochs, lr, schedule, dice_weight, seed ...), the
    augmentation's (SegAugment: flips, shift-scale-rotate, brightness/contrast) and the model's, input's and
    output's below. X: an object array whose column 0 is the image's path and columns 1..num_classes its classes'
    run-length cells in `order` (fit decodes them at the image's own size; predict reads column 0 only). y: the masks
    at `grid` (gh, gw), class-major, for scoring the validation fold (None grid: the network's input size).

    Engineering (device, seed, deadline, checkpoints, resume, progress) comes from the runner's FitContext;
    everything here is the science.
    """

    encoder: str = "resnet34"
    num_classes: int = 1
    class_names: tuple[str, ...] | None = None
    grid: tuple[int, ...] | None = None
    order: str = "column"
    pretrained: bool = True
    pretrained_file: str | None = None
    image_size: int | tuple[int, ...] = 512
    tile: int | None = None  # train on random tile x tile crops, predict by blended sliding windows (tiles.py)
    tile_overlap: float = 0.25  # the share of a window its neighbour overlaps
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    precision: str = "auto"
    channels_last: bool = True
    tta: bool = True
    cache_mb: int | None = None  # decoded images the process keeps (pipeline.vision.decoded); None: default_mb()
    num_workers: int | None = None
    device: str | None = None

    # a scikit-learn estimator, not a value: identity, hashable, scikit-learn's repr (not the base dataclasses')
    __eq__ = object.__eq__
    __hash__ = object.__hash__
    __repr__ = BaseEstimator.__repr__

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> Segmenter:
        """A Segmenter from a competition's Config (a SegmentationRecipe): every parameter the Config declares by
        name, then `overrides` (what is not a Config field: the encoder per model, classes, grid, order)."""
        from pipeline.detection.recipe import recipe_params

        names = [n for n in inspect.signature(cls).parameters if n not in overrides]
        return cls(**recipe_params(cfg, names), **overrides)

    def check_params(self) -> None:
        """Refuse settings the loop cannot run (the runner calls this before any fold)."""
        from pipeline.segmentation.models import STRIDE, input_size
        from pipeline.segmentation.rle import ORDERS
        from pipeline.segmentation.tiles import check_tile
        from pipeline.training.optim import OPTIMIZERS
        from pipeline.training.schedules import SCHEDULES

        if self.order not in ORDERS:
            raise ValueError(f"Segmenter: order {self.order!r}; one of {', '.join(ORDERS)}.")
        if self.optimizer not in OPTIMIZERS or self.schedule not in SCHEDULES:
            raise ValueError(
                f"Segmenter: optimizer {self.optimizer!r} (one of {', '.join(OPTIMIZERS)}), schedule "
                f"{self.schedule!r} (one of {', '.join(SCHEDULES)})."
            )
        if self.epochs < 1 or self.batch_size < 1 or self.num_classes < 1 or self.lr <= 0:
            raise ValueError("Segmenter: epochs, batch_size and num_classes at least 1, lr above 0.")
        if self.grid is not None and (len(self.grid) != 2 or min(self.grid) < 1):
            raise ValueError(f"Segmenter: grid is (height, width), got {self.grid!r}.")
        check_tile(self.tile, self.tile_overlap, input_size(self.image_size, self.grid), STRIDE)

    # --- fitting -------------------------------------------------------------------------------------------------
    def _runtime(self, context: Any) -> Any:
        from pipeline.segmentation.models import input_size
        from pipeline.segmentation.tiles import windows
        from pipeline.training.runtime import Runtime, resolve_device, resolve_precision, resolve_workers, with_context

        device = resolve_device((getattr(context, "device", None) if context is not None else None) or self.device)
        # the forwards an image's prediction runs: each TTA view of each window (the trainer times one window's)
        tiles = windows(input_size(self.image_size, self.grid), self.tile, self.tile_overlap)
        rt = Runtime(
            device=device,
            dtype=resolve_precision(self.precision, device, cpu_autocast=False),  # CPU: fp32, deterministic
            channels_last=device.startswith("cuda") and self.channels_last,
            num_workers=resolve_workers(self.num_workers, device),  # None: none on CPU, up to 8 on CUDA
            predict_views=(2 if self.tta else 1) * tiles,
        )
        return with_context(rt, context)

    def _size(self) -> tuple[int, int]:
        """The network's input (height, width) (models.input_size)."""
        from pipeline.segmentation.models import input_size

        return input_size(self.image_size, self.grid)

    def _grid(self) -> tuple[int, int]:
        """The (gh, gw) predictions are resized to: the grid, else the input size."""
        return (int(self.grid[0]), int(self.grid[1])) if self.grid is not None else self._size()

    def _split(self, X: Any, y: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Image paths, their run-length cells (images x classes) and y (images x classes*gh*gw), checked."""
        arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=object)
        if arr.ndim != 2 or arr.shape[1] != 1 + self.num_classes:
            raise ContractError(
                f"Segmenter.fit: X must be rows of an image path and {self.num_classes} run-length cell(s) (one per "
                f"class), got shape {arr.shape}."
            )
        y = np.asarray(y)
        gh, gw = self._grid()
        if y.shape != (len(arr), self.num_classes * gh * gw):
            raise ContractError(
                f"Segmenter.fit: y must be {len(arr)} rows of {self.num_classes} x {gh} x {gw} grid masks, got shape "
                f"{y.shape}."
            )
        return [str(p) for p in arr[:, 0]], arr[:, 1:], y

    def _check_cells(self, paths: list[str], cells: np.ndarray, held: list[tuple[np.ndarray, int, int]] | None) -> None:
        """Every run-length cell is one, inside its image when the image is held decoded (else checked as read),
        before any training: a bad one is named by its image and class."""
        from pipeline.segmentation import rle
        from pipeline.segmentation.data import cell_error

        for i, row in enumerate(cells):
            pixels = held[i][1] * held[i][2] if held is not None else None
            for c, cell in enumerate(row):
                try:
                    rle.runs(cell, pixels)
                except rle.RleError as e:
                    raise cell_error(paths[i], self._class_name(c), e) from None

    def _class_name(self, c: int) -> str:
        return self.class_names[c] if self.class_names else str(c)

    def fit(self, X: Any, y: Any, context: Any = None) -> Segmenter:
        """Train on X's images and run-length masks; with context.eval_set, score it every epoch (by context.score,
        the competition's metric, else mean Dice at 0.5) and keep the best epoch."""
        import torch

        from pipeline.segmentation.data import SegDataset, make_loader, make_transform
        from pipeline.segmentation.models import build_unet, normalisation
        from pipeline.segmentation.trainer import SegTrainer
        from pipeline.vision.data import BatchNormalizer

        self.check_params()
        paths, cells, y = self._split(X, y)
        rt, size = self._runtime(context), self._size()
        held = self._held(paths, rt)
        self._check_cells(paths, cells, held)
        torch.manual_seed(self.seed)
        model, self.weights_ = build_unet(
            self.encoder, self.num_classes, self.decoder_channels, self.pretrained, self.pretrained_file
        )
        if self.pretrained or self.pretrained_file:
            rt.log(self.weights_)
        self.mean_, self.std_ = normalisation(model)
        norm = BatchNormalizer(self.mean_, self.std_, rt.device, rt.channels_last)
        aug = {f.name: getattr(self, f.name) for f in dataclasses.fields(SegAugment)}
        names = self.class_names
        train = SegDataset(paths, cells, size, self.order, make_transform(True, **aug), held, names, self.tile)
        valid, evaluate, label = None, None, "dice"
        eval_set = getattr(context, "eval_set", None) if context is not None else None
        if eval_set is not None and len(eval_set[0]):
            v_paths, v_y = self._paths(eval_set[0]), np.asarray(eval_set[1])
            valid = SegDataset(v_paths, None, size, self.order, None, self._held(v_paths, rt))
            score, metric = getattr(context, "score", None), getattr(context, "metric", None)
            if score is not None:
                label = metric.name if metric is not None else "score"

            def evaluate(m: Any) -> float:
                # the trainer's loader for the fit: its workers start once, not every epoch
                batches = trainer.loader(make_loader, valid, np.arange(len(v_paths)), self._predict_batch(), 0)
                pred = self._predict_with(m, norm, batches, rt, tta=False)
                return float(score(v_y, pred)) if score is not None else grid_dice(v_y, pred, self.num_classes)

        cfg = SegTrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SegTrainConfig)})
        trainer = SegTrainer(cfg, rt, norm, evaluate, label, tile=self.tile)
        t0 = time.perf_counter()
        self.model_ = trainer.fit(model, train, valid)
        self.fit_seconds_ = time.perf_counter() - t0
        self.history_, self.runtime_, self.normalizer_ = trainer.history, rt, norm
        return self

    # --- saving -------------------------------------------------------------------------------------------------
    def save_fitted(self, path: str | Path) -> None:
        """Write what predicting needs to one file: the parameters, the normalisation and the weights (CPU)."""
        import torch

        if not hasattr(self, "model_"):
            raise RuntimeError("Segmenter.save_fitted called before fit.")
        state = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
        blob = {"params": self.get_params(deep=False), "mean": self.mean_, "std": self.std_}
        torch.save(blob | {"weights": self.weights_, "state_dict": state}, path)

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> Segmenter:
        """The fitted segmenter saved by save_fitted, on `device` (default: its own, else CUDA when available); the
        network is rebuilt without fetching any pretrained weights, the saved ones replace them."""
        import torch

        from pipeline.segmentation.models import build_unet
        from pipeline.vision.data import BatchNormalizer

        blob = torch.load(path, map_location="cpu", weights_only=False)
        est = cls(**blob["params"])
        if device is not None:
            est.device = device
        est.mean_, est.std_, est.weights_ = blob["mean"], blob["std"], blob["weights"]
        model, _ = build_unet(est.encoder, est.num_classes, est.decoder_channels)
        model.load_state_dict(blob["state_dict"])
        rt = est._runtime(None)
        est.model_ = model.to(rt.device, memory_format=rt.memory_format).eval()
        est.runtime_, est.history_ = rt, []
        est.normalizer_ = BatchNormalizer(est.mean_, est.std_, rt.device, rt.channels_last)
        return est

    # --- prediction ----------------------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Each image's per-class probabilities at the grid, float32 (images, classes x gh x gw), class-major;
        horizontal-flip TTA averaged when `tta`."""
        if not hasattr(self, "model_"):
            raise RuntimeError("Segmenter.predict called before fit.")
        from pipeline.segmentation.data import SegDataset, make_loader

        rt, paths = self.runtime_, self._paths(X)
        ds = SegDataset(paths, None, self._size(), self.order, None, self._held(paths, rt))
        batches = make_loader(ds, self._predict_batch(), False, num_workers=rt.num_workers, pin_memory=rt.cuda)
        return self._predict_with(self.model_, self.normalizer_, batches, rt, tta=self.tta)

    @staticmethod
    def _paths(X: Any) -> list[str]:
        """The image paths of X: its column 0 (a 1-D X: the paths themselves)."""
        arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=object)
        return [str(p) for p in (arr if arr.ndim == 1 else arr[:, 0])]

    def _held(self, paths: list[str], rt: Any) -> list[tuple[np.ndarray, int, int]] | None:
        """The images of `paths` cut to the input's longest side, with their decoded sizes, from the process's store:
        a run decodes each image once, not once per fold, epoch and prediction (pipeline/vision/decoded.py). None when
        cache_mb is 0 or they exceed it: then the loader decodes them as it reads."""
        from pipeline.vision.decoded import budgeted

        return budgeted(self.cache_mb).cut(paths, max(self._size()), rt.num_workers)

    def _predict_batch(self) -> int:
        return max(self.batch_size * 2, 1)

    def _predict_with(self, model: Any, norm: Any, batches: Iterable[Any], rt: Any, tta: bool) -> np.ndarray:
        """The per-class probabilities of the images in `batches` (a loader of a SegDataset without cells), in their
        order, resized to the grid (bilinear, antialiased when shrinking): float32 (images, classes x gh x gw)."""
        import torch
        import torch.nn.functional as F

        grid = self._grid()
        was = model.training
        model.eval()
        out = []
        with torch.no_grad():
            for images, _ in batches:
                p = self._probs(model, norm(images), rt, tta)
                p = F.interpolate(p, size=grid, mode="bilinear", align_corners=False, antialias=True)
                out.append(p.float().cpu().numpy().reshape(len(p), -1))
        model.train(was)
        if not out:
            return np.zeros((0, self.num_classes * grid[0] * grid[1]), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def _probs(self, model: Any, x: Any, rt: Any, tta: bool) -> Any:
        """The per-class probabilities of a normalised batch at its own size: the whole images through the network,
        or with `tile` its overlapping windows, blended (tiles.sliding_probs); each view averaged with its horizontal
        flip's when `tta`."""
        import torch

        from pipeline.segmentation.tiles import sliding_probs

        def forward(v: Any) -> Any:
            with rt.autocast():
                p = torch.sigmoid(model(v).float())
                if tta:
                    p = (p + torch.sigmoid(model(v.flip(-1)).float()).flip(-1)) / 2
            return p

        if self.tile is None:
            return forward(x)
        batch = self._predict_batch()
        return sliding_probs(
            lambda v: forward(v.contiguous(memory_format=rt.memory_format)), x, self.tile, self.tile_overlap, batch
        )


def grid_dice(y: np.ndarray, pred: np.ndarray, num_classes: int, threshold: float = 0.5) -> float:
    """Mean Dice over every image x class at the grid, predictions cut at `threshold`, an empty truth predicted empty
    scoring 1: the validation score when the runner gives no metric of the competition's."""
    t = np.asarray(y).reshape(len(y), num_classes, -1) > 0
    p = np.asarray(pred).reshape(len(pred), num_classes, -1) > threshold
    inter = (t & p).sum(-1)
    total = t.sum(-1) + p.sum(-1)
    dice = np.where(total == 0, 1.0, 2 * inter / np.maximum(total, 1))
    return float(dice.mean())


def segmenters(cfg: Any, classes: int, grid: tuple[int, int], order: str) -> dict[str, Segmenter]:
    """One Segmenter per timm encoder named in cfg.models (keyed by its name before the first dot), sharing the
    Config's recipe, predicting `classes` channels and with cfg.touching the contact map after them (contact.py);
    an unknown encoder or a pretrained_file that is not there is refused before any fit."""
    from pipeline.vision.pretrained import check_arch

    for name in cfg.models:
        check_arch(name)
    pretrained_file = getattr(cfg, "pretrained_file", None)
    if pretrained_file and not Path(pretrained_file).expanduser().is_file():
        raise ContractError(f"pretrained_file {pretrained_file}: no such file.")
    channels = int(classes) + int(bool(getattr(cfg, "touching", False)))
    out = {
        name.split(".")[0]: Segmenter.from_config(
            cfg, encoder=name, num_classes=channels, grid=tuple(int(v) for v in grid), order=order
        )
        for name in cfg.models
    }
    if len(out) != len(cfg.models):
        raise ContractError(f"models must be distinct encoders, got {', '.join(cfg.models)}.")
    return out
