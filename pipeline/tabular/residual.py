"""A linear-family model with a small LightGBM on its residuals: "linear_boosted" and "svm_boosted" in the generic
tabular recipe (regression only).

The base (the recipe's linear or svm pipeline, its encoding fitted on the training rows) is fitted on the target's
fitting scale (log(1 + y) under target_transform "log1p"); the trees are then fitted on y - base(X) of the same
training rows, on the boosters' encoding of the raw columns, and the prediction is base + trees. The trees add the
interactions and bends the straight lines (or the kernel's smooth surface) miss; competitions/house_prices/boosted.py
is the hand-made recipe's version, whose svr_boosted is its best single model.

The trees are small (5 leaves, 10 rows a leaf, 1,000 of them at learning rate 0.03; each sees 80% of the columns, as
the recipe's boosters do: a tree that sees one column of two cannot fit their product) and their number is fixed:
nothing is stopped early, so nothing looks at the runner's validation rows, and the fold's score is out of sample like
any other model's. `cross_fit = k > 1` fits the trees on cross-fitted residuals instead: each training row's residual
from a base fitted on the k - 1 inner folds without it (k more base fits), as large as the errors the base makes on
rows it never saw; 0 or 1 uses the base's in-sample residuals (smaller: the base saw those rows). Measured in
benchmarks/README.md, "Does a booster on the linear model's residuals earn its place?".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold

from pipeline.fitting import derived_seed
from pipeline.tabular.models import Boosted, inverse_target, transform_target

BASES = ("linear", "svm")  # the recipe's models a residual booster is written for: "<base>_boosted"


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class ResidualBoosted(RegressorMixin, BaseEstimator):
    """`base` (an unfitted estimator on the raw frame, fitted on the target's fitting scale), then `n_estimators`
    LightGBM trees on its training residuals; predictions base + trees, back on the target's scale."""

    base: Any = None
    task: str = "regression"
    n_estimators: int = 1000
    learning_rate: float = 0.03
    num_leaves: int = 5
    min_child_samples: int = 10
    colsample: float = 0.8
    reg_lambda: float = 1.0
    cross_fit: int = 0  # k > 1: the trees fit the residuals of k inner folds' bases; 0: the base's own residuals
    target_transform: str | None = None  # "log1p": both parts fit log(1 + y)
    random_state: int = 0
    n_jobs: int = 1

    def fit(self, X: pd.DataFrame, y: Any) -> ResidualBoosted:
        """Fit the base on every training row, then the trees on its (in-sample or cross-fitted) residuals."""
        if self.task != "regression":
            raise ValueError(
                f"ResidualBoosted: a booster on a linear model's residuals is for a regression, not {self.task}; "
                "leave the *_boosted models out of Config.models."
            )
        if self.base is None:
            raise ValueError("ResidualBoosted: base is None; give it an unfitted estimator (the linear pipeline).")
        X = pd.DataFrame(X).reset_index(drop=True)
        y_fit = transform_target(np.asarray(y), self.target_transform)
        self.base_ = clone(self.base).fit(X, y_fit)
        residuals = y_fit - self._base_values(X, y_fit)
        self.trees_ = self._trees().fit(X, residuals)
        return self

    def _base_values(self, X: pd.DataFrame, y_fit: np.ndarray) -> np.ndarray:
        """The base's values of the training rows the trees' residuals are taken from: its own (in-sample), or with
        cross_fit = k > 1 each row's from a base fitted on the inner folds without it."""
        if self.cross_fit <= 1:
            return np.asarray(self.base_.predict(X), dtype=float)
        values = np.empty(len(y_fit))
        folds = KFold(self.cross_fit, shuffle=True, random_state=derived_seed(self.random_state, 1))
        for tr, va in folds.split(X):
            inner = clone(self.base).fit(X.iloc[tr], y_fit[tr])
            values[va] = inner.predict(X.iloc[va])
        return values

    def _trees(self) -> Boosted:
        """The recipe's LightGBM (its encoding, its fit on every row when nothing stops it early) at this model's
        size, with LightGBM's own defaults for categories (min_data_per_group 100, cat_smooth 10) where the boosters
        set theirs."""
        params = {"num_leaves": self.num_leaves, "min_child_samples": self.min_child_samples}
        params |= {"colsample_bytree": self.colsample, "reg_lambda": self.reg_lambda}
        params |= {"min_data_per_group": 100, "cat_smooth": 10}
        return Boosted(
            "lightgbm",
            "regression",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            early_stopping=0,
            params=params,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """base + trees, on the target's scale."""
        X = pd.DataFrame(X).reset_index(drop=True)
        fitted = np.asarray(self.base_.predict(X), dtype=float) + self.trees_.predict(X)
        return inverse_target(fitted, self.target_transform)
