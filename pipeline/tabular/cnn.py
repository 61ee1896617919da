"""The tabular recipe's "cnn": a convolutional network on the image each row of a table holds (tabular/pixels.py).

Digit Recognizer's 784 pixel columns are features the boosters split one pixel at a time; a network that sees them as an
image learns strokes wherever they lie. PixelCNN reads the rows' images (Pixels.images) and trains the image pipeline's
own network on them (pipeline/vision: ImageClassifier for classes, ImageRegressor for values), by the same trainer as a
competition of image files: the batches augmented on the device by a random shift of up to `shift` pixels, turn and zoom
(flipped only with `flip`: a flipped digit is another digit), timm or airbench architectures, checkpoints, the deadline,
and on a GPU CUDA, mixed precision and channels_last from the runner's context. Fixed epochs, no early stopping: the
fold's validation rows are scored each epoch but never pick the weights, so its OOF predictions stay out of sample.
Under torchrun every rank trains each fold's network together (DDP), as a competition of image files does. Several
values a row (y rows x values, Facial Keypoints' 30 coordinates) are one network with an output per value, a missing
value (NaN) counting in neither the outputs' scale nor the loss (objectives.Regression), so each output learns from the
rows that have it. Where those values are places on the image (`keypoints`: Facial Keypoints' x / y pairs,
pipeline/keypoints.py) each augmentation moves them with the image, a flip swapping each left keypoint with its
right twin, and a flipped TTA view's predictions are mirrored back before they are averaged. TabularRecipe's `bag` and
`bag_folds` (the boosters' and the MLP's) do not apply to it; its own `bag` (Config.cnn_bag) trains that many networks
a fold, each from its own seed, and averages their probabilities (values): the ensemble of a few networks that Digit
Recognizer's best scores come from, for `bag` times the training. Under a time limit each takes an equal share of what
is left; each keeps its own checkpoints (bag1/, bag2/ beside the first's), so a resumed run picks each up where it was.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline import distributed
from pipeline.keypoints import Keypoints
from pipeline.tabular.models import inverse_target, transform_target
from pipeline.tabular.pixels import Pixels

MIN_SIDE = 28  # images smaller than this are enlarged to it: airbench's three poolings need room (8x8 digits)
# the batch shrinks (to 16 at least) so that an epoch takes this many steps: 2 epochs of 128 images learnt nothing
# from a 150-row fold
MIN_STEPS = 8
BAG_SEED = 1000  # network r of a bag is seeded random_state + BAG_SEED x r: no fold's first network shares its seed


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class PixelCNN(BaseEstimator):
    """A network on the images `pixels` names in each row; predict / predict_proba as the tabular models give them."""

    supports_ddp = True  # under torchrun every rank trains it together (pipeline/distributed.py)

    task: str = "multiclass"  # regression | binary | multiclass
    pixels: Pixels | None = None
    arch: str = "airbench_small"
    image_size: int = 0  # the images' longest side for the network; 0: as stored, but at least MIN_SIDE
    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    shift: int = 2  # training images moved by up to this many pixels each way (0: off)
    rotate: float = 10.0  # training images turned by up to this many degrees each way (0: off)
    zoom: float = 0.1  # training images magnified by 1 +- up to this fraction (0: off)
    flip: bool = False  # training images mirrored left to right half the time (never for digits)
    tta: tuple[str, ...] = ("shift",)  # views averaged at prediction: "shift" (never "hflip" for digits)
    # the outputs that are places on the stored image (pipeline/keypoints.py): moved with it; None: none are
    keypoints: Keypoints | None = None
    target_transform: str | None = None  # regression: "log1p" fits log(1 + y)
    random_state: int = 0
    precision: str = "auto"  # the runner's --precision: mixed precision on CUDA ("fp32" to turn it off)
    bag: int = 1  # networks a fold, each from its own seed, their probabilities (values) averaged

    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> PixelCNN:
        """Read the images, then train the network on them (the fold's validation rows, as images, scored per
        epoch)."""
        images = self._images(X)
        y = np.asarray(y)
        regression = self.task == "regression"
        y_fit = transform_target(y, self.target_transform) if regression else y
        grey = images[..., 0].astype(np.float64) / 255.0
        mean, std = float(grey.mean()), float(grey.std() or 1.0)
        if context is not None and context.eval_set is not None:
            X_va, y_va = context.eval_set
            y_va = transform_target(np.asarray(y_va), self.target_transform) if regression else np.asarray(y_va)
            context = dataclasses.replace(context, eval_set=(self._images(X_va), y_va))
        n = max(1, int(self.bag))
        self.networks_ = []
        for r in range(n):
            network = self._network((mean,) * 3, (std,) * 3, len(images), r)
            self.networks_.append(network.fit(images, y_fit, context=_bagged(context, r, n)))
        return self

    @property
    def network_(self) -> Any:
        """The first network (of `bag`)."""
        return self.networks_[0]

    @property
    def classes_(self) -> np.ndarray:
        """The fitted network's classes (a classification's; a regression has none)."""
        if self.task == "regression":
            raise AttributeError("PixelCNN: a regression has no classes_")
        return self.network_.classes_

    def _images(self, X: pd.DataFrame) -> np.ndarray:
        """The rows' images at the network's size (image_size, else as stored but at least MIN_SIDE)."""
        if self.pixels is None:
            raise ValueError("PixelCNN needs `pixels`: where each row's image lies (pipeline.tabular.Pixels).")
        side = max(self.pixels.height, self.pixels.width)
        return self.pixels.images(X, self.image_size or (MIN_SIDE if side < MIN_SIDE else 0))

    def _network(self, mean: tuple[float, ...], std: tuple[float, ...], rows: int, r: int = 0) -> Any:
        """The unfitted image network `r` of the bag for `rows` training images: ImageRegressor for values, else
        ImageClassifier, seeded random_state + BAG_SEED x r; its batch at most batch_size, and small enough for
        MIN_STEPS steps an epoch (16 at least; shrunk, a multiple of the ranks of a torchrun run, as a batch splits over
        them)."""
        from pipeline.vision.estimator import ImageClassifier
        from pipeline.vision.multioutput import ImageRegressor

        cls = ImageRegressor if self.task == "regression" else ImageClassifier
        batch = min(self.batch_size, max(16, rows // MIN_STEPS))
        if batch < self.batch_size:
            world = distributed.world_size()
            batch = max(world, batch - batch % world)
        return cls(
            arch=self.arch,
            epochs=self.epochs,
            batch_size=batch,
            lr=self.lr,
            weight_decay=self.weight_decay,
            label_smoothing=0.0 if self.task == "regression" else self.label_smoothing,
            batch_augment=self._augment(),
            tta=tuple(self.tta),
            keypoints=self._keypoints(),
            mean=mean,
            std=std,
            precision=self.precision,
            random_state=self.random_state + BAG_SEED * r,
        )

    def _augment(self) -> Any:
        """The training batches' augmentation on the device: turn, magnification, shift, flip; None: off."""
        from pipeline.vision.batch_augment import BatchAugment

        if not (self.shift or self.rotate or self.zoom or self.flip):
            return None
        return BatchAugment(pad=self.shift, flip=bool(self.flip), rotate=float(self.rotate), zoom=float(self.zoom))

    def _keypoints(self) -> Keypoints | None:
        """`keypoints` measured on the stored image (the network's may be resized); None: the values are no places."""
        if self.keypoints is None:
            return None
        if self.task != "regression" or self.pixels is None:
            raise ValueError("PixelCNN: keypoints are values on the image: task regression, with pixels.")
        return dataclasses.replace(self.keypoints, size=(self.pixels.height, self.pixels.width))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression, on the target's scale; the bag's mean) or the most probable class (of the bag's mean
        probabilities)."""
        images = self._images(X)
        if self.task != "regression":
            return self.classes_[self._proba(images).argmax(1)]
        out = np.mean([network.predict(images) for network in self.networks_], axis=0)
        return inverse_target(out, self.target_transform)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_ (averaged over the TTA views and the bag)."""
        return self._proba(self._images(X))

    def _proba(self, images: np.ndarray) -> np.ndarray:
        return np.mean([network.predict_proba(images) for network in self.networks_], axis=0)

    def save_fitted(self, path: str | Path) -> None:
        """Write the parameters and the fitted networks to one file (loaded by load_fitted, on any device)."""
        import torch

        blob = {"params": self.get_params(deep=False), "networks": [n.fitted_blob() for n in self.networks_]}
        torch.save(blob | {"kind": type(self.network_).__name__}, path)

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> PixelCNN:
        """The PixelCNN save_fitted wrote, its network on `device` (default: its own, else CUDA when available)."""
        import torch

        from pipeline.vision.estimator import ImageClassifier
        from pipeline.vision.multioutput import ImageRegressor

        blob = torch.load(path, map_location="cpu", weights_only=False)
        est = cls(**blob["params"])
        kinds = {k.__name__: k for k in (ImageClassifier, ImageRegressor)}
        blobs = blob["networks"] if "networks" in blob else [blob["network"]]  # one network: saved before the bag
        est.networks_ = [kinds[blob["kind"]].from_blob(b, device) for b in blobs]
        return est


def _bagged(context: Any, r: int, n: int) -> Any:
    """The runner's context for network `r` of a bag of `n`: the first's as it is; each later one with checkpoints and
    plots of its own (bag<r>/, <model>_bag<r>) and no report to tune's pruner (its epochs would repeat the first's).
    Each takes an equal share of the time left when it starts: its deadline, and the one the runner re-shares as its
    training starts."""
    if context is None or n == 1:
        return context
    now = time.monotonic()
    deadline = None if context.deadline is None else now + (context.deadline - now) / (n - r)
    asked = context.training_deadline
    later: Callable[[float], float | None] | None = None
    if asked is not None:

        def later(keep: float) -> float | None:
            end, start = asked(keep), time.monotonic()
            return None if end is None else start + (end - start) / (n - r)

    own = {} if r == 0 else {"report": None, "model": f"{context.model}_bag{r}" if context.model else None}
    if r and context.workdir is not None:
        own["workdir"] = Path(context.workdir) / f"bag{r}"
    return dataclasses.replace(context, deadline=deadline, training_deadline=later, **own)
