"""Partial sales of huge new houses: kept out of every model's fit, and the reference for test houses of their kind.

De Cock, who compiled the data, advises against using houses over 4000 sq ft: three are partial sales of new houses
that "likely don't represent actual market values". Kaggle's train.csv holds two of them (Edwards, sold new for
about $30 a sq ft, a fifth of comparable prices) and test.csv holds houses of that size and sale kind too. Dropping
the two rows keeps them from bending every model, but a model that never saw them prices such a test house by
extrapolating ordinary sales, several times too high.

So the recipe keeps them (Data.train_only: in every fold's training rows, never scored, so the CV is over the same
rows as when they were dropped) and wraps each model: the model is fitted without the rule's rows; a house that
looks like them in its features alone (GrLivArea over the rule's area and SaleCondition "Partial") is priced at their
median log price per sq ft of living area times its own area. Without such rows in the training data (a fold or a
data set without them) nothing is rerouted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

SALE_KIND = "Partial"  # what the documented outliers are: sales of houses not finished at the time of sale


def documented_outliers(X: pd.DataFrame, price: np.ndarray, area: float, max_price: float) -> np.ndarray:
    """The rule's rows: living area over `area` sold under `max_price` (a boolean mask)."""
    return (X["GrLivArea"].to_numpy(float) > area) & (np.asarray(price, dtype=float) < max_price)


def looks_like_them(X: pd.DataFrame, area: float) -> np.ndarray:
    """Houses the rule's rows stand for, from features alone: over `area` sq ft and sold partially built."""
    return (X["GrLivArea"].to_numpy(float) > area) & (X["SaleCondition"].astype(str).to_numpy() == SALE_KIND)


class SeparateOutliers(RegressorMixin, BaseEstimator):
    """`model` fitted without the rule's rows; rows that look like them priced from those rows' price per sq ft."""

    def __init__(self, model: Any = None, area: float = 4000.0, max_price: float = 300000.0) -> None:
        self.model = model
        self.area = area
        self.max_price = max_price

    def fit(self, X: pd.DataFrame, y: Any) -> SeparateOutliers:
        y = np.asarray(y, dtype=float)
        rule = documented_outliers(X, y, self.area, self.max_price)
        self.model_ = clone(self.model).fit(X[~rule], y[~rule])
        reference = rule & looks_like_them(X, self.area)
        per_sqft = np.log(y[reference]) - np.log(X["GrLivArea"].to_numpy(float)[reference])
        self.log_price_per_sqft_ = float(np.median(per_sqft)) if reference.any() else None
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        pred = np.asarray(self.model_.predict(X), dtype=float)
        if self.log_price_per_sqft_ is None:
            return pred
        rows = looks_like_them(X, self.area)
        pred = pred.copy()
        pred[rows] = np.exp(self.log_price_per_sqft_ + np.log(X["GrLivArea"].to_numpy(float)[rows]))
        return pred
