"""Column typing for raw tabular data: numeric, low/high-cardinality categorical, free text, dates, constants."""

from __future__ import annotations

import re

import pandas as pd

KINDS = ("numeric", "category", "high_cardinality", "text", "date", "constant")
# a date, maybe a time after it, maybe the time's zone (Z, UTC, +05:30, -0800: as pandas writes a time zone)
DATE = re.compile(
    r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s?(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?)?\s*$"
)


def column_kind(s: pd.Series, max_levels: int = 30, text_words: float = 2.0) -> str:
    """The kind of one column, judged from its non-missing values.

    Numbers (and booleans) are numeric; strings are dates when 90% look like `2024-01-31` (time optional, its zone
    too: `2024-01-31T10:00:00Z`), categories up to `max_levels` distinct values, free text when values average
    `text_words` words or more (names, descriptions), and high-cardinality codes otherwise (tickets, cabins, zip
    codes).
    """
    values = s.dropna()
    if values.nunique() <= 1:
        return "constant"
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return "numeric"
    text = values.astype(str)
    head = text.iloc[:500]
    if head.str.match(DATE).mean() >= 0.9:
        return "date"
    counts = text.value_counts(sort=False)  # each distinct value is split into words once, weighted by its rows
    if len(counts) <= max_levels:
        return "category"
    words = pd.Series(counts.index, dtype=object).str.split().str.len().to_numpy()
    if (words * counts.to_numpy()).sum() / counts.sum() >= text_words:
        return "text"
    return "high_cardinality"


def infer_kinds(X: pd.DataFrame, max_levels: int = 30) -> dict[str, str]:
    """Kind of every column of X (see column_kind)."""
    return {c: column_kind(X[c], max_levels) for c in X.columns}
