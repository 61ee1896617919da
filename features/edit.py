"""The scaffolding of the transformers that learn nothing from the training rows (ColumnEdit).

fit checks and records the input columns; transform returns a copy of X changed in place by the subclass's `edit`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class ColumnEdit(TransformerMixin, BaseEstimator):
    """A DataFrame transformer with nothing to learn: subclasses define `edit` (and `check` to refuse an input)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnEdit:
        """Nothing to learn: check the input and record its columns."""
        self.check(X)
        self.feature_names_in_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """A copy of X, changed by `edit`."""
        X = X.copy()
        self.edit(X)
        return X

    def check(self, X: pd.DataFrame) -> None:
        """Raise ValueError for an input `edit` cannot work on (default: any is fine)."""

    def edit(self, X: pd.DataFrame) -> None:
        """Change the copy X in place."""
        raise NotImplementedError
