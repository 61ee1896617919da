"""Encoders that understand DataFrames: ordinal maps, numeric codes as categories, one-hot of the rest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OneHotEncoder

from features.edit import ColumnEdit


class OrdinalMap(ColumnEdit):
    """Map ordered levels to integers (Po < Fa < TA < Gd < Ex); unknown or missing levels map to `default`."""

    def __init__(self, mappings: dict[str, dict[str, int]] | None = None, default: int = 0) -> None:
        self.mappings = mappings
        self.default = default

    def edit(self, X: pd.DataFrame) -> None:
        """Replace mapped columns by their integer codes."""
        for col, mapping in (self.mappings or {}).items():
            if col in X:
                X[col] = X[col].map(mapping).astype(float).fillna(self.default)


class ToCategorical(ColumnEdit):
    """Treat numeric codes as categories (MSSubClass 20/60/..., month sold) so they are one-hot encoded."""

    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def edit(self, X: pd.DataFrame) -> None:
        """Convert the columns to strings."""
        for col in self.columns or []:
            if col in X:
                X[col] = X[col].astype("string").astype(str)


class FrameOneHot(TransformerMixin, BaseEstimator):
    """One-hot encode the non-numeric columns (unknown levels ignored), pass numeric ones through; dense float."""

    def __init__(self, min_frequency: int | None = None) -> None:
        self.min_frequency = min_frequency

    def fit(self, X: pd.DataFrame, y: Any = None) -> FrameOneHot:
        """Learn the levels of each categorical column on the training rows."""
        self.categorical_ = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        self.numeric_ = [c for c in X.columns if c not in self.categorical_]
        self.encoder_ = OneHotEncoder(
            handle_unknown="infrequent_if_exist" if self.min_frequency else "ignore",
            min_frequency=self.min_frequency,
            sparse_output=False,
            dtype=np.float64,
        )
        if self.categorical_:
            self.encoder_.fit(X[self.categorical_].astype(str))
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Numeric columns then one-hot columns, as a float array."""
        parts = [X[self.numeric_].to_numpy(dtype=np.float64)]
        if self.categorical_:
            parts.append(self.encoder_.transform(X[self.categorical_].astype(str)))
        return np.hstack(parts)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns."""
        cats = list(self.encoder_.get_feature_names_out(self.categorical_)) if self.categorical_ else []
        return np.array(self.numeric_ + cats, dtype=object)
