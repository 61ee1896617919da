"""Image networks with several outputs per image: ImageMultiLabel (any number of labels per image, each label's
probability out) and ImageRegressor (one or more numbers per image, values out). Both are ImageNetworks: the same
fine-tuning, augmentation, TTA, deadlines, checkpoints and DDP as ImageClassifier; only the objective differs
(pipeline/vision/objectives.py).

As pipeline.tabular.MultiTarget does for tables, ImageMultiLabel.predict gives probabilities, not 0/1: the runner
blends and scores them out of fold, and the competition's write_submission decides how to cut them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from pipeline.contract import ContractError
from pipeline.vision.estimator import ImageNetwork
from pipeline.vision.objectives import Objective, Regression, Sigmoid


def _matrix(y: np.ndarray, what: str) -> np.ndarray:
    """Targets as rows x outputs of floats, or an error naming the first row that is not numbers."""
    try:
        out = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ContractError(f"{what}: the targets must be numbers, got {np.asarray(y).ravel()[:3].tolist()}.") from None
    return out.reshape(len(out), -1)


class ImageMultiLabel(ImageNetwork):
    """Any of several labels per image: y is rows x labels of 0 and 1; one sigmoid per label, binary cross-entropy
    (label smoothing pulls each target towards 0.5; mixup and cutmix blend the label rows). predict and
    predict_proba give each label's probability (rows x labels)."""

    losses = ("bce",)
    fitted_attrs = ("n_outputs_",)

    def _objective(self, y: np.ndarray, context: Any) -> Objective:
        y = _matrix(y, "ImageMultiLabel")
        odd = ~np.isin(y, (0.0, 1.0))
        if odd.any():
            row, col = (int(v[0]) for v in np.nonzero(odd))
            value = float(y[row, col])
            raise ContractError(f"ImageMultiLabel: row {row}, label {col} is {value:g}; labels are 0 or 1.")
        self.n_outputs_ = y.shape[1]
        return Sigmoid(y.shape[1])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each label's probability (rows x labels), averaged over the TTA views."""
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Each label's probability (rows x labels), as predict_proba: the runner blends probabilities."""
        return self._outputs(X)


class ImageRegressor(RegressorMixin, ImageNetwork):
    """One or more numbers per image: y is a value per row, or rows x values. `loss` "mse" (auto) learns standardised
    targets by squared error; "bce" learns targets scaled to [0, 1] by the training range by binary cross-entropy
    (bounded scores such as Pawpularity's 1 to 100; the predictions stay in the range). Mixup and cutmix blend the
    values; label_smoothing does nothing here. A missing target (NaN) counts in neither the scale nor the loss, so one
    network learns every output from the rows that have it (Facial Keypoints' 30 coordinates, most rows marking 8).
    predict gives values in the targets' units (1-D when y was), each output clipped to its training range with
    `clip_values` (the default: squared error's predictions overshoot a bounded score, -10 to 117 of a 0 to 100 one,
    benchmarks/README.md "A value per image")."""

    losses = ("mse", "bce")
    fitted_attrs = ("n_outputs_", "one_target_", "target_range_")

    def _objective(self, y: np.ndarray, context: Any) -> Objective:
        self.one_target_ = np.ndim(y) == 1
        y = _matrix(y, "ImageRegressor")
        self.n_outputs_ = y.shape[1]
        try:
            objective = Regression(y.shape[1], "mse" if self.loss == "auto" else self.loss).fit(y)
        except ValueError as e:
            raise ContractError(f"ImageRegressor: {e}") from None
        self.target_range_ = (np.nanmin(y, axis=0).tolist(), np.nanmax(y, axis=0).tolist())
        return objective

    def predict(self, X: Any) -> np.ndarray:
        """Values in the targets' units, averaged over the TTA views, clipped to the training range with
        `clip_values` (a network saved before the range was has none to clip to): 1-D when trained on one value per
        row."""
        out = self._outputs(X)
        span = getattr(self, "target_range_", None)
        if self.clip_values and span is not None:
            out = np.clip(out, np.asarray(span[0], dtype=out.dtype), np.asarray(span[1], dtype=out.dtype))
        return out[:, 0] if getattr(self, "one_target_", False) else out
