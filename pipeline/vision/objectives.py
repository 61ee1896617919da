"""What an image network learns: the loss on its outputs, the targets mixup/cutmix blend, and what its outputs mean.

- Softmax: one class per image. Cross-entropy (label-smoothed); the outputs are class probabilities.
- Sigmoid: any number of labels per image (Planet's tags, plant pathology's one-hot columns). Binary cross-entropy
  per label (smoothing pulls each target towards 0.5); the outputs are each label's probability.
- Regression: one or more numbers per image (PetFinder's Pawpularity). "mse": squared error on targets standardised
  by the training rows' mean and deviation; "bce": binary cross-entropy on targets scaled to [0, 1] by the training
  rows' range (the loss Pawpularity's winners trained on: bounded scores, outputs that never leave the range). The
  outputs are in the targets' own units. A missing target (NaN: Facial Keypoints' keypoints not marked on a face)
  counts in neither the scale nor the loss: each batch's loss is the mean over the values present.

An objective is fitted on the training targets (Regression keeps their scale) and saved with the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.vision.mix import soft_targets

REGRESSION_LOSSES = ("mse", "bce")


@dataclass
class Softmax:
    """One class of n_outputs per image; targets are class indices."""

    n_outputs: int

    def targets(self, y: np.ndarray) -> np.ndarray:
        """The dataset's labels: class indices."""
        return np.asarray(y, dtype=np.int64)

    def soft(self, y: torch.Tensor, smoothing: float) -> torch.Tensor:
        """Rows x classes float targets (one-hot, label-smoothed) for mixing."""
        return soft_targets(y, self.n_outputs, smoothing)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Mean cross-entropy of a batch against class indices."""
        return F.cross_entropy(logits, y, label_smoothing=smoothing)

    def soft_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy against soft (mixed) targets."""
        return torch.sum(-targets * F.log_softmax(logits, 1), 1).mean()

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities."""
        return logits.softmax(1)


@dataclass
class Sigmoid:
    """Any of n_outputs labels per image; targets are rows x labels of 0 and 1."""

    n_outputs: int

    def targets(self, y: np.ndarray) -> np.ndarray:
        """The dataset's labels: rows x labels, float32."""
        return np.asarray(y, dtype=np.float32).reshape(len(y), self.n_outputs)

    def soft(self, y: torch.Tensor, smoothing: float) -> torch.Tensor:
        """The targets, each pulled towards 0.5 by `smoothing`."""
        return y.float() * (1.0 - smoothing) + 0.5 * smoothing

    def loss(self, logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Mean binary cross-entropy over the batch's labels."""
        return self.soft_loss(logits, self.soft(y, smoothing))

    def soft_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy against soft targets in [0, 1]."""
        return F.binary_cross_entropy_with_logits(logits, targets)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Each label's probability."""
        return logits.sigmoid()


@dataclass
class Regression:
    """n_outputs numbers per image, learnt on a scale fitted to the training targets (`fit`)."""

    n_outputs: int
    loss_name: str = "mse"
    center: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.loss_name not in REGRESSION_LOSSES:
            raise ValueError(f"regression loss {self.loss_name!r}: choose one of {', '.join(REGRESSION_LOSSES)}.")

    def fit(self, y: np.ndarray) -> Regression:
        """Set the scale from the training targets present (NaN: missing): mean and deviation (mse) or minimum and
        range (bce). An infinite value, or an output with no value on any row, is refused."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), self.n_outputs)
        if np.isinf(y).any():
            row = int(np.flatnonzero(np.isinf(y).any(axis=1))[0])
            raise ValueError(f"regression targets must be finite numbers; row {row} holds {y[row].tolist()}.")
        if (empty := np.isnan(y).all(axis=0)).any():
            raise ValueError(f"regression output {int(np.flatnonzero(empty)[0])} has no value on any training row.")
        if self.loss_name == "bce":
            lo, spread = np.nanmin(y, axis=0), np.nanmax(y, axis=0) - np.nanmin(y, axis=0)
        else:
            lo, spread = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
        self.center = tuple(float(v) for v in lo)
        self.scale = tuple(float(v) if v > 0 else 1.0 for v in spread)
        return self

    def targets(self, y: np.ndarray) -> np.ndarray:
        """The dataset's labels: rows x outputs on the fitted scale, float32 (a missing value stays NaN)."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), self.n_outputs)
        return ((y - np.asarray(self.center)) / np.asarray(self.scale)).astype(np.float32)

    def in_units(self, y: torch.Tensor, change: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Targets `y` on the fitted scale changed by `change` in the targets' own units (keypoints moved with their
        image, pipeline/keypoints.py), then back on the fitted scale; a missing value (NaN) stays missing."""
        center = torch.as_tensor(self.center, dtype=torch.float32, device=y.device)
        scale = torch.as_tensor(self.scale, dtype=torch.float32, device=y.device)
        return ((change(y.float() * scale + center) - center) / scale).to(y.dtype)

    def soft(self, y: torch.Tensor, smoothing: float) -> torch.Tensor:
        """The targets themselves (smoothing is for classes); mixing blends them."""
        return y.float()

    def loss(self, logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """The batch's mean loss on the fitted scale."""
        return self.soft_loss(logits, y.float())

    def soft_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Squared error on standardised targets, or binary cross-entropy on targets scaled to [0, 1]: the mean over
        the values present (a NaN target, missing, adds nothing; a batch with none present: 0, with a gradient)."""
        present = ~torch.isnan(targets)  # no branch on it: a GPU would wait for the answer every batch
        filled = torch.where(present, targets, torch.zeros_like(targets))
        if self.loss_name == "bce":
            each = F.binary_cross_entropy_with_logits(logits, filled.clamp(0.0, 1.0), reduction="none")
        else:
            each = (logits - filled) ** 2
        weight = present.to(each.dtype)
        return (each * weight).sum() / weight.sum().clamp(min=1.0)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Values in the targets' units."""
        center = torch.as_tensor(self.center, dtype=logits.dtype, device=logits.device)
        scale = torch.as_tensor(self.scale, dtype=logits.dtype, device=logits.device)
        return (logits.sigmoid() if self.loss_name == "bce" else logits) * scale + center


Objective = Softmax | Sigmoid | Regression
