"""Skew correction: Box-Cox(1+x) of numeric columns whose training skewness exceeds a threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import boxcox1p
from scipy.stats import skew
from sklearn.base import BaseEstimator, TransformerMixin


class SkewCorrector(TransformerMixin, BaseEstimator):
    """Apply boxcox1p(x, lmbda) to non-negative numeric columns with |skew| > threshold on the training rows."""

    def __init__(self, threshold: float = 0.75, lmbda: float = 0.15, exclude: list[str] | None = None) -> None:
        self.threshold = threshold
        self.lmbda = lmbda
        self.exclude = exclude

    def fit(self, X: pd.DataFrame, y: Any = None) -> SkewCorrector:
        """Choose the skewed columns from the training rows only."""
        num = X.select_dtypes(include="number")
        skip = set(self.exclude or [])
        self.columns_ = [
            c
            for c in num.columns
            if c not in skip
            and num[c].min() >= 0
            and num[c].nunique() > 2
            and abs(skew(num[c].dropna().to_numpy(dtype=float))) > self.threshold
        ]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Transform the chosen columns (values below 0 are clipped to 0 first)."""
        X = X.copy()
        for c in self.columns_:
            X[c] = boxcox1p(np.clip(X[c].astype(float).to_numpy(), 0, None), self.lmbda)
        return X
