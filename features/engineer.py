"""Engineered columns from arithmetic on existing ones: totals and ages."""

from __future__ import annotations

import pandas as pd

from features.edit import ColumnEdit


class WeightedSums(ColumnEdit):
    """New columns as weighted sums, e.g. {"TotalBath": {"FullBath": 1, "HalfBath": 0.5, ...}}; NA counts as 0."""

    def __init__(self, sums: dict[str, dict[str, float]] | None = None) -> None:
        self.sums = sums

    def check(self, X: pd.DataFrame) -> None:
        """The source columns must exist."""
        missing = sorted({c for parts in (self.sums or {}).values() for c in parts} - set(X.columns))
        if missing:
            raise ValueError(f"WeightedSums: input lacks columns {missing}.")

    def edit(self, X: pd.DataFrame) -> None:
        """Add the sum columns."""
        for name, parts in (self.sums or {}).items():
            X[name] = sum(X[c].fillna(0).astype(float) * w for c, w in parts.items())


class Differences(ColumnEdit):
    """New columns as a - b, e.g. {"Age": ("YrSold", "YearBuilt")}, clipped at `lower` (no negative ages)."""

    def __init__(self, diffs: dict[str, tuple[str, str]] | None = None, lower: float | None = 0.0) -> None:
        self.diffs = diffs
        self.lower = lower

    def edit(self, X: pd.DataFrame) -> None:
        """Add the difference columns."""
        for name, (a, b) in (self.diffs or {}).items():
            d = X[a].astype(float) - X[b].astype(float)
            X[name] = d.clip(lower=self.lower) if self.lower is not None else d
