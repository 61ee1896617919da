"""A linear model with boosted trees on its residuals: the trees add the interactions the straight lines miss.

Both parts see the same training rows and the same (log) target: the base is fitted, then the trees are fitted to
y - base(X) on those rows. Predictions are base + trees. Inside the runner this is one model per fold like any other,
so its out-of-fold score is honest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone


class ResidualBoosted(RegressorMixin, BaseEstimator):
    """`base` then `trees` fitted on the base's training residuals (scikit-learn estimators, cloned at fit)."""

    def __init__(self, base: Any = None, trees: Any = None) -> None:
        self.base = base
        self.trees = trees

    def fit(self, X: Any, y: Any) -> ResidualBoosted:
        y = np.asarray(y, dtype=float)
        self.base_ = clone(self.base).fit(X, y)
        self.trees_ = clone(self.trees).fit(X, y - self.base_.predict(X))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.base_.predict(X) + self.trees_.predict(X)
