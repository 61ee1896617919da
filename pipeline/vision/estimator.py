"""ImageNetwork: a timm network behind the scikit-learn contract, images in (file paths, or decoded images as one
uint8 array), outputs out; ImageClassifier, its one-class-per-image kind (class probabilities out). Labels and
values per image: pipeline/vision/multioutput.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from pipeline import distributed
from pipeline.contract import ContractError
from pipeline.stacked import channel_files
from pipeline.views import by_row, flat_views, has_views, row_means, views_of

if TYPE_CHECKING:
    import torch

    from pipeline.vision.objectives import Objective

LOSSES = ("auto", "cross_entropy", "bce", "mse")


class ImageNetwork(BaseEstimator):
    """Train any timm architecture on image files with the framework's trainer (see TrainConfig for the knobs); what
    it learns (the objective: pipeline/vision/objectives.py) is its subclass's: ImageClassifier, ImageMultiLabel,
    ImageRegressor. X is image paths, or the images themselves as one uint8 (N, H, W, 3) array (a table's pixels:
    pipeline/tabular/pixels.py), held in memory as decoded images are.

    Fine-tuning (docs/finetuning.md): `pretrained` takes the weights of `arch`'s tag from the local Hugging Face
    cache, `pretrained_file` from a file of your own; `freeze_epochs` trains only the head first (`freeze_bn` keeps
    the frozen BatchNorm statistics), `backbone_lr` or `layer_decay` lower the backbone's learning rates.

    `train_transform` / `eval_transform` are albumentations pipelines producing HWC uint8 images (geometry and
    colour); normalisation (`mean`/`std`, default: the timm model's) is done batched on the device. `channels`
    names the channels of images other than RGB (Human Protein Atlas' red, green, blue, yellow: one file each,
    pipeline/vision/channels.py): the network takes len(channels) input channels (timm's in_chans, its pretrained
    first convolution adapted), each normalised by its name (channels.channel_stats). `batch_augment`
    (a BatchAugment) is the training augmentation as whole-batch tensor ops, used instead of `train_transform` where
    `augment_on` says ("auto": when the training images are decoded in memory; "device"; "loader").

    `cache_images` keeps decoded images in the process's memory, up to `cache_mb` MiB for the process (the runner's
    `--cache-mb`; None: a quarter of the machine's memory, shared by the ranks of a torchrun run), so that a k-fold
    run decodes each training, validation and test image once (pipeline/vision/decoded.py).

    `loss`: "auto" is the kind's own (cross-entropy for classes, binary cross-entropy for labels, squared error for
    values); ImageRegressor also takes "bce" (objectives.Regression). `clip_values` (ImageRegressor): its predictions
    clipped to the training targets' range (the other kinds' outputs are probabilities). `keypoints`
    (ImageRegressor; a pipeline.keypoints.Keypoints): the outputs that are places on the image, moved with each
    image `batch_augment` moves (a flip swapping left and right twins), each TTA view's predictions taken back to the
    image's own places before they are averaged.
    """

    supports_ddp = True  # under torchrun every rank trains it together (pipeline/distributed.py)
    losses: tuple[str, ...] = ("cross_entropy",)  # what `loss` may name besides "auto"
    fitted_attrs: tuple[str, ...] = ()  # a kind's own fitted attributes, saved with the network

    @property
    def _parameter_constraints(self) -> dict[str, list[Any]]:
        """scikit-learn's parameter checks, which the runner runs before any fold (run_checks.check_estimator_params): a
        bad --set value was a traceback from the trainer (batch_size=0, lr=-1) or, for epochs=0, an untrained
        submission. A property: the optimizer and schedule names come with torch, imported only when checked."""
        from pipeline.training.optim import OPTIMIZERS
        from pipeline.training.schedules import SCHEDULES

        return {
            "epochs": [Interval(Integral, 1, None, closed="left")],
            "batch_size": [Interval(Integral, 1, None, closed="left")],
            "eval_batch_size": [Interval(Integral, 1, None, closed="left")],
            "freeze_epochs": [Interval(Integral, 0, None, closed="left")],
            "lr": [Interval(Real, 0, None, closed="neither")],
            "backbone_lr": [Interval(Real, 0, None, closed="left")],
            "layer_decay": [Interval(Real, 0, 1, closed="right"), None],
            "momentum": [Interval(Real, 0, 1, closed="both")],
            "weight_decay": [Interval(Real, 0, None, closed="left")],
            "warmup": [Interval(Real, 0, 1, closed="both")],
            "final_lr": [Interval(Real, 0, None, closed="left")],
            "label_smoothing": [Interval(Real, 0, 1, closed="left")],
            "mixup_alpha": [Interval(Real, 0, None, closed="left")],
            "cutmix_alpha": [Interval(Real, 0, None, closed="left")],
            "mix_prob": [Interval(Real, 0, 1, closed="both")],
            "ema_decay": [Interval(Real, 0, 1, closed="left")],
            "ema_every": [Interval(Integral, 1, None, closed="left")],
            "accum_steps": [Interval(Integral, 1, None, closed="left")],
            "eval_every": [Interval(Integral, 1, None, closed="left")],
            "patience": [Interval(Integral, 1, None, closed="left"), None],
            "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
            "optimizer": [StrOptions(set(OPTIMIZERS))],
            "schedule": [StrOptions(set(SCHEDULES))],
            "augment_on": [StrOptions({"auto", "device", "loader"})],
            "precision": [StrOptions({"auto", "fp32", "fp16", "bf16"})],
            "loss": [StrOptions(set(LOSSES))],
            "clip_values": ["boolean"],
        }

    def check_params(self) -> None:
        """The checks scikit-learn's constraints cannot state: the TTA views by name, the loss this kind learns by
        (the runner calls this too)."""
        from pipeline.vision.tta import check_tta

        check_tta(self.tta)
        if self.loss not in ("auto", *self.losses):
            raise ValueError(
                f"{type(self).__name__}: loss {self.loss!r}; it learns by {', '.join(('auto', *self.losses))}."
            )

    def __init__(
        self,
        arch: str = "resnet18",
        pretrained: bool = False,
        pretrained_file: str | None = None,
        freeze_epochs: int = 0,
        freeze_bn: bool = True,
        layer_decay: float | None = None,
        backbone_lr: float = 1.0,
        num_classes: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        train_transform: Any = None,
        eval_transform: Any = None,
        batch_augment: Any = None,
        augment_on: str = "auto",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        channels: Sequence[str] | None = None,
        epochs: int = 10,
        batch_size: int = 128,
        optimizer: str = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 5e-4,
        schedule: str = "onecycle",
        warmup: float = 0.2,
        final_lr: float = 0.0,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        ema_decay: float = 0.0,
        ema_every: int = 1,
        accum_steps: int = 1,
        grad_clip: float | None = None,
        patience: int | None = None,
        eval_every: int = 1,
        tta: Sequence[str] = ("hflip",),
        precision: str = "auto",
        channels_last: bool = True,
        num_workers: int | None = None,
        cache_images: bool = True,
        cache_mb: int | None = None,
        eval_batch_size: int = 256,
        device: str | None = None,
        deterministic: bool = True,
        checkpoint_dir: str | None = None,
        random_state: int | None = 0,
        verbose: bool = False,
        loss: str = "auto",
        clip_values: bool = True,
        keypoints: Any = None,
    ) -> None:
        for name, value in locals().items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> ImageNetwork:
        """An image network from a competition's Config (an ImageRecipe): every parameter the Config declares by
        name, then `overrides` (what is not a Config field: arch per model, transforms, mean/std, num_classes)."""
        from pipeline.vision.recipe import recipe_params

        names = [n for n in inspect.signature(cls).parameters if n not in overrides]
        return cls(**recipe_params(cfg, names), **overrides)

    def _train_config(self, seed: int) -> Any:
        from pipeline.vision.trainer import TrainConfig

        names = inspect.signature(TrainConfig).parameters
        return TrainConfig(**{k: getattr(self, k) for k in names if k not in ("seed", "num_workers")}, seed=seed)

    def _runtime(self, context: Any) -> Any:
        from pipeline.training.runtime import Runtime, resolve_device, resolve_precision, resolve_workers, with_context
        from pipeline.vision.tta import check_tta, n_views

        # the run's device first (under torchrun each rank's own GPU), as the detector's and segmenter's; `device` is
        # for use outside a run
        device = resolve_device((getattr(context, "device", None) if context is not None else None) or self.device)
        rt = Runtime(
            device=device,
            dtype=resolve_precision(self.precision, device),
            channels_last=bool(self.channels_last),
            predict_views=n_views(check_tta(self.tta)),
        )
        rt.num_workers = resolve_workers(self.num_workers, device)
        rt.log = print if self.verbose else (lambda s: None)
        if self.checkpoint_dir is not None:
            rt.workdir = Path(self.checkpoint_dir)
        rt = with_context(rt, context)
        if rt.workdir is not None:
            rt.workdir.mkdir(parents=True, exist_ok=True)
        return rt

    def _objective(self, y: np.ndarray, context: Any) -> Objective:
        """The fitted objective for training targets y (and the fitted attributes that go with it: classes_)."""
        raise NotImplementedError

    def _labels(self, y: np.ndarray) -> np.ndarray:
        """The dataset's labels for targets y: what the objective's loss takes."""
        return self.objective_.targets(y)

    def fit(self, X: Any, y: Any, context: Any = None) -> ImageNetwork:
        """Train on images X (paths or a uint8 array) and targets y; `context` (a FitContext) supplies eval set,
        deadline, workdir."""
        from timm.data import resolve_model_data_config

        from pipeline.training.runtime import seed_everything
        from pipeline.vision.batch_augment import resolve_batch_augment
        from pipeline.vision.data import BatchNormalizer, ImageDataset
        from pipeline.vision.finetune import check_policy
        from pipeline.vision.pretrained import create_model
        from pipeline.vision.trainer import Trainer

        check_policy(self.freeze_epochs, self.layer_decay, self.backbone_lr)
        self.check_params()
        (paths, images), y = _source(X, self._in_chans), np.asarray(y)
        if len(paths) != len(y) or len(paths) == 0:
            raise ContractError(f"fit expects as many targets as images (got {len(paths)} images, {len(y)} targets).")
        self._check_channels(paths, images)
        self.objective_ = self._objective(y, context)
        y_idx = self._labels(y)
        seed = self.random_state if self.random_state is not None else (context.seed if context is not None else 0)
        rt = self._runtime(context)
        seed_everything(int(seed), self.deterministic)
        model, self.weights_ = create_model(
            self.arch,
            self.objective_.n_outputs,
            self.pretrained,
            self.pretrained_file,
            self.model_kwargs,
            self._in_chans,
        )
        if self.pretrained or self.pretrained_file:
            rt.log(self.weights_)
        self.mean_, self.std_ = self._normalisation(resolve_model_data_config(model))
        norm = BatchNormalizer(self.mean_, self.std_, rt.device, rt.channels_last)
        cache = self._decoded(paths, images, rt.num_workers)
        train = ImageDataset(paths, y_idx, self.train_transform, cache, self._in_chans)
        valid, y_valid = None, None
        if context is not None and context.eval_set is not None:
            (v_paths, v_images), y_valid = _source(context.eval_set[0], self._in_chans), np.asarray(context.eval_set[1])
            cache = self._decoded(v_paths, v_images, rt.num_workers)
            valid = ImageDataset(v_paths, self._labels(y_valid), self.eval_transform, cache, self._in_chans)
        augment, where = resolve_batch_augment(self.augment_on, self.batch_augment, train.cache, rt.device)
        rt.log(where)
        self._check_keypoints(augment)
        trainer = Trainer(self._train_config(int(seed)), rt, norm, self.objective_, augment, self.keypoints)
        self.model_ = trainer.fit(model, train, valid, y_valid)
        self.history_ = trainer.history
        self.world_size_ = distributed.world_size()  # > 1: trained by every rank of a torchrun run
        self.device_, self.dtype_, self.normalizer_, self.workers_ = rt.device, rt.dtype, norm, rt.num_workers
        return self

    @property
    def _in_chans(self) -> int:
        """The network's input channels: one per named channel, else RGB's three."""
        return len(self.channels) if self.channels else 3

    def _check_channels(self, paths: np.ndarray, images: np.ndarray | None) -> None:
        """Images of as many channel files as `channels` names (pipeline/stacked.py), or RGB files read as three."""
        if not self.channels or images is not None:
            return  # decoded images: _source checked their channels
        files = len(channel_files(views_of(paths[0])[0]))
        if files != len(self.channels) and not (files == 1 and len(self.channels) == 3):
            raise ContractError(
                f"{type(self).__name__}: channels names {len(self.channels)} ({', '.join(self.channels)}), but each "
                f"image is {files} file(s) ({paths[0]}); the Config's channels are what load reads: name them there."
            )

    def _normalisation(self, data_cfg: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Each input channel's mean and std: `mean` and `std` when given (one per channel), else the network's
        (timm's data config), per named channel by channels.channel_stats."""
        from pipeline.vision.channels import channel_stats

        mean, std = data_cfg["mean"], data_cfg["std"]
        if self.channels:
            mean, std = channel_stats(self.channels, mean, std)
        mean, std = tuple(self.mean or mean), tuple(self.std or std)
        if self.channels and (len(mean) != self._in_chans or len(std) != self._in_chans):
            raise ContractError(
                f"{type(self).__name__}: mean and std give one value per channel; channels names {self._in_chans} "
                f"({', '.join(self.channels)}), mean has {len(mean)} and std {len(std)}."
            )
        return mean, std

    def _check_keypoints(self, augment: Any) -> None:
        """Keypoints are refused where their outputs are no values, where two images are mixed, or where the images
        would move in the loader's transform, which cannot move them."""
        from pipeline.vision.batch_augment import is_identity
        from pipeline.vision.objectives import Regression

        if self.keypoints is None:
            return
        if not isinstance(self.objective_, Regression):
            raise ContractError(f"{type(self).__name__}: keypoints are values: train them with an ImageRegressor.")
        if (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.mix_prob > 0:
            raise ContractError(
                f"{type(self).__name__}: keypoints are places on one face; mixup or cutmix would blend two faces' "
                "places into a point neither shows: set mixup_alpha=0 and cutmix_alpha=0."
            )
        if augment is None and not is_identity(self.train_transform):
            raise ContractError(
                f"{type(self).__name__}: keypoints move only with the device's batch_augment, but the training images "
                "are augmented by train_transform in the loader: set augment_on=device or train_transform=None."
            )

    def _undo(self, shape: tuple[int, int]) -> Any:
        """How predict_tta takes each view's predictions back to the image's places (None: as they are)."""
        if self.keypoints is None:
            return None
        return lambda view, values: self.keypoints.undo(view, values, shape)

    def _held(self, paths: np.ndarray, workers: int) -> list[np.ndarray] | None:
        """The decoded images of `paths` from the process's store, those it lacks decoded by `workers` loader
        processes (None: cache_images off, or over budget)."""
        from pipeline.vision.decoded import budgeted

        if not self.cache_images:
            return None
        return budgeted(self.cache_mb).images(paths, workers)

    def _decoded(self, paths: np.ndarray, images: np.ndarray | None, workers: int) -> np.ndarray | list[Any] | None:
        """A dataset's cache: the images given as an array, else its held images as one array when they share a size
        (what training on the device needs), else as a list (read by its loader's transform), or None; rows of
        several views (pipeline/views.py) as a list of each row's held views."""
        from pipeline.vision.decoded import uniform

        if images is not None:
            return images
        if any(has_views(p) for p in paths):  # a row's views held as a list, one drawn each epoch (ImageDataset)
            flat, rows = flat_views(paths)
            held = self._held(flat, workers)
            return None if held is None else by_row(held, rows, len(paths))
        images = self._held(paths, workers)
        same = uniform(images)
        return same if same is not None else images

    def _outputs(self, X: Any) -> np.ndarray:
        """The objective's outputs (rows x outputs: class or label probabilities, values), streamed in batches,
        averaged over the TTA views; a row of several images (pipeline/views.py) the mean of its images' outputs.

        Images the process holds decoded (cache_images) go to the model straight from memory when the eval transform
        is the identity; others through a loader's workers. A model trained under torchrun is predicted by every rank
        on its share of the rows, gathered on every rank: all ranks must call it (the runner does).
        """
        import torch

        from pipeline.vision.tta import predict_tta

        check_is_fitted(self, "model_")
        paths, images = _source(X, self._in_chans)
        n_rows, (paths, rows) = len(paths), flat_views(paths)
        shard = getattr(self, "world_size_", 1) > 1 and distributed.active()
        if shard:
            lo, hi = distributed.shard_range(len(paths))
            paths, images = paths[lo:hi], None if images is None else images[lo:hi]
        out = np.empty((len(paths), self.objective_.n_outputs), dtype=np.float32)
        autocast = torch.autocast(
            self.device_.split(":")[0], dtype=self.dtype_ or torch.float32, enabled=self.dtype_ is not None
        )
        self.model_.eval()
        row = 0
        with torch.no_grad(), autocast:
            for xb in self._batches(paths, images):
                undo = self._undo(tuple(xb.shape[1:3]))
                probs = predict_tta(self.model_, self.normalizer_(xb), self.tta, self.objective_.outputs, undo)
                out[row : row + len(xb)] = probs.float().cpu().numpy()
                row += len(xb)
        return row_means(distributed.gather_rows(out) if shard else out, rows, n_rows)

    def _batches(self, paths: np.ndarray, images: np.ndarray | None = None) -> Iterator[torch.Tensor]:
        """uint8 NHWC batches of `paths` (or of `images`, given as one array) in order, for prediction: the held
        images as they are when the eval transform is the identity, else through it in a loader (its workers read
        the held images, or decode)."""
        from pipeline.vision.batch_augment import is_identity
        from pipeline.vision.data import ImageDataset, make_loader
        from pipeline.vision.decoded import one_size

        size = self.eval_batch_size
        held = images if images is not None else self._held(paths, self.workers_)
        if is_identity(self.eval_transform) and (images is not None or one_size(held)):
            import torch

            for i in range(0, len(held), size):
                batch = held[i : i + size]  # a slice of the given array, or a list of held images to stack
                yield torch.from_numpy(batch if images is not None else np.stack(batch))
            return
        dataset = ImageDataset(paths, None, self.eval_transform, held, self._in_chans)
        cuda = self.device_.startswith("cuda")
        for xb, _ in make_loader(dataset, size, False, num_workers=self.workers_, pin_memory=cuda):
            yield xb

    def save_fitted(self, path: str | Path) -> None:
        """Write what predicting needs to one file (fitted_blob)."""
        import torch

        torch.save(self.fitted_blob(), path)

    def fitted_blob(self) -> dict[str, Any]:
        """What predicting needs: the parameters, the objective (and classes), normalisation and the weights (CPU)."""
        check_is_fitted(self, "model_")
        model = getattr(self.model_, "module", self.model_)  # DDP wrapper
        model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        blob = {"params": self.get_params(deep=False), "objective": self.objective_, "mean": self.mean_}
        blob |= {"std": self.std_, "classes": getattr(self, "classes_", None)}
        blob["fitted"] = {name: getattr(self, name) for name in self.fitted_attrs}
        return blob | {"weights": getattr(self, "weights_", ""), "state_dict": state}

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> ImageNetwork:
        """The fitted network saved by save_fitted, on `device` (default: its own, else CUDA when available).

        The network is rebuilt from `arch` without fetching pretrained weights; the saved weights replace them.
        """
        import torch

        return cls.from_blob(torch.load(path, map_location="cpu", weights_only=False), device)

    @classmethod
    def from_blob(cls, blob: dict[str, Any], device: str | None = None) -> ImageNetwork:
        """The fitted network of a fitted_blob, on `device` (load_fitted)."""
        import torch

        from pipeline.training.runtime import resolve_device, resolve_precision, resolve_workers
        from pipeline.vision.data import BatchNormalizer
        from pipeline.vision.objectives import Softmax
        from pipeline.vision.pretrained import create_model

        est = cls(**blob["params"])
        est.mean_, est.std_, est.weights_ = blob["mean"], blob["std"], blob["weights"]
        if blob.get("classes") is not None:
            est.classes_ = blob["classes"]
        for name, value in blob.get("fitted", {}).items():
            setattr(est, name, value)
        # a classifier saved before objectives were saved: its classes are its outputs
        est.objective_ = blob.get("objective") or Softmax(len(blob["classes"]))
        model, _ = create_model(est.arch, est.objective_.n_outputs, False, None, est.model_kwargs, est._in_chans)
        model.load_state_dict(blob["state_dict"])
        est.device_ = resolve_device(device or est.device)
        layout = torch.channels_last if est.channels_last else torch.contiguous_format
        est.model_ = model.to(device=est.device_, memory_format=layout).eval()
        est.dtype_ = resolve_precision(est.precision, est.device_)
        est.normalizer_ = BatchNormalizer(est.mean_, est.std_, est.device_, bool(est.channels_last))
        est.workers_ = resolve_workers(est.num_workers, est.device_)
        est.world_size_, est.history_ = 1, []
        return est


def _source(X: Any, channels: int = 3) -> tuple[np.ndarray, np.ndarray | None]:
    """Image paths as a 1-D array of str (from lists, arrays, Series and one-column frames) and None; or, for decoded
    images (one uint8 (N, H, W, channels) array), a name per row ("row 0", ...: what a dataset names) and the
    images."""
    if isinstance(X, np.ndarray) and X.ndim == 4:
        if X.dtype != np.uint8 or X.shape[3] != channels:
            raise ContractError(
                f"An image network takes decoded images as uint8 (N, H, W, {channels}); got {X.dtype} {tuple(X.shape)}."
            )
        return np.array([f"row {i}" for i in range(len(X))]), X
    return _paths(X), None


def _paths(X: Any) -> np.ndarray:
    """Image paths as a 1-D array of str (accepts lists, arrays, Series and one-column frames)."""
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    arr = np.asarray(X, dtype=object).reshape(len(X), -1)
    if arr.shape[1] != 1:
        raise ContractError(f"An image network expects one image path per row, got rows of {arr.shape[1]} values.")
    return arr[:, 0].astype(str)


class ImageClassifier(ClassifierMixin, ImageNetwork):
    """One class per image: an ImageNetwork trained by cross-entropy (label smoothing, mixup and cutmix on one-hot
    targets); predict_proba gives class probabilities (rows x classes_), predict the most probable class."""

    def _objective(self, y: np.ndarray, context: Any) -> Objective:
        """Softmax over every class of the competition, even one missing from this fold's training rows (the runner
        says how many)."""
        from pipeline.vision.objectives import Softmax

        n_classes = self.num_classes or (context.n_classes if context is not None else None)
        self.classes_ = np.arange(n_classes) if n_classes else np.unique(y)
        return Softmax(len(self.classes_))

    def _labels(self, y: np.ndarray) -> np.ndarray:
        """Class indices of labels y (a label not among classes_ is named)."""
        idx = np.searchsorted(self.classes_, y)
        bad = (idx >= len(self.classes_)) | (self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y)
        if bad.any():
            raise ContractError(f"Label {y[bad][0]!r} is not one of the classes {list(self.classes_)[:20]}.")
        return idx

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (rows x classes_), averaged over the TTA views (ImageNetwork._outputs)."""
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
