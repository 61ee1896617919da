"""Imputers that keep DataFrames: missing by meaning, by group median, and per-column median/mode."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.edit import ColumnEdit


class ConstantFill(ColumnEdit):
    """Fill NA with a constant per column: NA that means 'none' (no pool, no garage) is a value, not a gap."""

    def __init__(self, fill: dict[str, Any] | None = None) -> None:
        self.fill = fill

    def edit(self, X: pd.DataFrame) -> None:
        """Fill the configured columns."""
        for col, value in (self.fill or {}).items():
            if col in X:
                s = X[col]
                if isinstance(value, str) and pd.api.types.is_numeric_dtype(s):
                    s = s.astype(object)  # an all-missing text column was read as float
                X[col] = s.fillna(value)


class GroupMedianImputer(TransformerMixin, BaseEstimator):
    """Fill a numeric column with the training median of its group (e.g. LotFrontage by Neighborhood)."""

    def __init__(self, column: str = "LotFrontage", by: str = "Neighborhood") -> None:
        self.column = column
        self.by = by

    def fit(self, X: pd.DataFrame, y: Any = None) -> GroupMedianImputer:
        """Learn group medians and the overall median from the training rows."""
        self.medians_ = X.groupby(self.by)[self.column].median().dropna().to_dict()
        self.overall_ = float(X[self.column].median())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Fill missing values by group, then by the overall median for unseen groups."""
        X = X.copy()
        fill = X[self.by].map(self.medians_).astype(float).fillna(self.overall_)
        X[self.column] = X[self.column].fillna(fill)
        return X


class FrameImputer(TransformerMixin, BaseEstimator):
    """Median for numeric columns, most frequent level for the others, learned on the training rows."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameImputer:
        """Learn a fill value per column."""
        self.fill_ = {}
        for col in X.columns:
            s = X[col]
            if pd.api.types.is_numeric_dtype(s):
                self.fill_[col] = float(s.median()) if s.notna().any() else 0.0
            else:
                mode = s.mode(dropna=True)
                self.fill_[col] = mode.iloc[0] if len(mode) else "None"
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Fill every remaining gap."""
        return X.fillna({c: v for c, v in self.fill_.items() if c in X})
