"""Engineered columns from arithmetic on existing ones: totals and ages."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class WeightedSums(TransformerMixin, BaseEstimator):
    """New columns as weighted sums, e.g. {"TotalBath": {"FullBath": 1, "HalfBath": 0.5, ...}}; NA counts as 0."""

    def __init__(self, sums: dict[str, dict[str, float]] | None = None) -> None:
        self.sums = sums

    def fit(self, X: pd.DataFrame, y: Any = None) -> WeightedSums:
        """Check the source columns exist."""
        missing = sorted({c for parts in (self.sums or {}).values() for c in parts} - set(X.columns))
        if missing:
            raise ValueError(f"WeightedSums: input lacks columns {missing}.")
        self.feature_names_in_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Add the sum columns."""
        X = X.copy()
        for name, parts in (self.sums or {}).items():
            X[name] = sum(X[c].fillna(0).astype(float) * w for c, w in parts.items())
        return X


class Differences(TransformerMixin, BaseEstimator):
    """New columns as a - b, e.g. {"Age": ("YrSold", "YearBuilt")}, clipped at `lower` (no negative ages)."""

    def __init__(self, diffs: dict[str, tuple[str, str]] | None = None, lower: float | None = 0.0) -> None:
        self.diffs = diffs
        self.lower = lower

    def fit(self, X: pd.DataFrame, y: Any = None) -> Differences:
        """Nothing to learn."""
        self.feature_names_in_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Add the difference columns."""
        X = X.copy()
        for name, (a, b) in (self.diffs or {}).items():
            d = X[a].astype(float) - X[b].astype(float)
            X[name] = d.clip(lower=self.lower) if self.lower is not None else d
        return X
