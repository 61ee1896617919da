"""Randomised tree ensembles for the generic tabular recipe: scikit-learn's extremely randomised trees ("extratrees")
and random forest ("randomforest"), as AutoGluon's stacks use them beside the boosters.

Each tree grows deep on random cuts (extra trees) or a bootstrap (random forest) and the forest averages them: no
learning rate, no early stopping, nothing fitted on the fold's validation rows. Their errors differ from the
boosters' (every tree fits the whole target, not the residual of the trees before it), which is what a stack gains
from.

Under --time-limit a forest grows in steps of a tenth of its trees (scikit-learn's warm_start: the same trees a
single fit grows, in the same order) and stops before a step that would end past the fit's deadline, as the boosters
stop adding trees; every tree it did grow is kept.

Features: the boosters' encoding (`TabularEncoder` family "lightgbm": numbers with their missing values, dates split,
codes and text as token and frequency features, high-cardinality columns target-encoded out of fold), each
categorical column as its level's code; scikit-learn's trees split on missing values natively.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from features.tabular import TabularEncoder
from pipeline.tabular.models import fit_target, inverse_target

KINDS = ("extratrees", "randomforest")
GROWTH_STEPS = 10  # under a deadline a forest grows in this many steps, checking the time before each


def category_codes(E: pd.DataFrame) -> np.ndarray:
    """An encoded frame as floats: each categorical column as its level's code, missing (and a level unseen in
    training, which the encoder made missing) as NaN; every other column as it is."""
    columns = {
        c: E[c].cat.codes.astype(float).where(E[c].notna()) if isinstance(E[c].dtype, pd.CategoricalDtype) else E[c]
        for c in E.columns
    }
    return pd.DataFrame(columns, index=E.index).to_numpy(dtype=float)


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class Forest(BaseEstimator):
    """A forest of `n_estimators` trees on the boosters' features, for regression or classification.
    `max_features` "auto" is scikit-learn's default per task: every feature for a regression, the square root of
    their number for a classifier. `max_leaf_nodes` holds each tree to 15,000 leaves, as AutoGluon does: a tree grown
    to single rows on a million rows has a million leaves, and 300 of them fill gigabytes (fewer training rows than
    that: no effect). A classifier's probabilities are the trees' mean class shares."""

    kind: str = "extratrees"
    task: str = "regression"
    n_estimators: int = 300
    min_samples_leaf: int = 1
    max_features: float | str = "auto"
    max_leaf_nodes: int | None = 15000  # per tree: caps a forest's memory on large data (AutoGluon's cap)
    target_transform: str | None = None  # regression: "log1p" fits log(1 + y)
    random_state: int = 0
    n_jobs: int = 1

    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> Forest:
        """Encode the training rows (target encoding cross-fitted), then grow the forest on them: every tree, or
        under the runner's deadline (`context.deadline`, --time-limit) as many as fit in it, at least a tenth."""
        if self.kind not in KINDS:
            raise ValueError(f"Forest: kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        X, y = pd.DataFrame(X).reset_index(drop=True), np.asarray(y)
        y_fit, classes = fit_target(y, self.task, self.target_transform)
        if classes is not None:
            self.classes_ = classes
        self.encoder_ = TabularEncoder("lightgbm", self.task, random_state=self.random_state)
        E = self.encoder_.fit_transform(X, y_fit)
        self.encoded_names_ = list(E.columns)
        self.model_ = self._grow(category_codes(E), y_fit, getattr(context, "deadline", None))
        return self

    def _grow(self, A: np.ndarray, y: np.ndarray, deadline: float | None) -> Any:
        """The fitted forest: all its trees at once with no deadline; else grown a step at a time (warm_start adds
        trees to those grown, drawing each tree's seed as one fit would), stopping before a step that the last
        step's time says would end past the deadline (deadline_reached_ then says so)."""
        model = self._model()
        self.deadline_reached_ = False
        if deadline is None:
            return model.fit(A, y)
        step = max(1, -(-self.n_estimators // GROWTH_STEPS))
        model.set_params(warm_start=True)
        grown = 0
        while grown < self.n_estimators:
            started = time.monotonic()
            grown = min(self.n_estimators, grown + step)
            model.set_params(n_estimators=grown).fit(A, y)
            now = time.monotonic()
            if grown < self.n_estimators and now + (now - started) > deadline:
                self.deadline_reached_ = True
                break
        return model.set_params(warm_start=False)

    def _model(self) -> Any:
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        regression = self.task == "regression"
        classes = {
            ("extratrees", True): ExtraTreesRegressor,
            ("extratrees", False): ExtraTreesClassifier,
            ("randomforest", True): RandomForestRegressor,
            ("randomforest", False): RandomForestClassifier,
        }
        features = self.max_features if self.max_features != "auto" else (1.0 if regression else "sqrt")
        return classes[self.kind, regression](
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=features,
            max_leaf_nodes=self.max_leaf_nodes,
            random_state=self.random_state,
            n_jobs=self.n_jobs if self.n_jobs else None,
        )

    @property
    def feature_names_in_(self) -> np.ndarray:
        return np.asarray(self.encoder_.feature_names_in_, dtype=object)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Impurity importance per input column (feature_names_in_): the shares of the features encoded from it,
        summed."""
        return self.encoder_.by_input_column(pd.Series(self.model_.feature_importances_, index=self.encoded_names_))

    def _encoded(self, X: pd.DataFrame) -> np.ndarray:
        return category_codes(self.encoder_.transform(pd.DataFrame(X).reset_index(drop=True)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels."""
        if self.task == "regression":
            return inverse_target(self.model_.predict(self._encoded(X)), self.target_transform)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        return self.model_.predict_proba(self._encoded(X))
