"""Values of a category column that no training row has: the warning `run` and `predict` show of them.

The recipe's encoder (features/tabular.py) reads a category column's value that no training row has as missing: the
row is predicted from its other columns. That is often a data problem (a typo, a new code, a column written in
another format), so the test rows' such values are named. High-cardinality codes (tickets, cabins, product codes)
are not checked: their new values are routine (the encoder gives them frequency 0 and the target's mean). The test
rows' values are named: `run` checks test.csv against the training rows' values (training_levels),
and `predict` a new test set against the values the run recorded (summary.json's "trained" "levels").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from features.columns import column_kind
from pipeline.listing import listed

CODES = ("category",)  # the kinds (features.columns.column_kind) whose values are levels checked here
# a column with more distinct training values is not checked (nor recorded for predict): codes that many are an
# identifier (a customer, a product), whose new values are expected, and summary.json would hold them all
MAX_LEVELS = 10_000
SHOWN = (5, 3)  # columns named, values named per column; then how many more (values.listed)


def training_levels(X: pd.DataFrame) -> dict[str, list[str]]:
    """Each category column's distinct values as the encoder reads them (text; missing aside), sorted: the columns of
    text column_kind reads as categories, those of at most MAX_LEVELS values. Columns of
    numbers are not judged (none is a code), so a wide table of numbers costs nothing here."""
    levels = {}
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or column_kind(s) not in CODES:
            continue
        values = {str(v) for v in s.dropna().unique()}  # as the encoder's astype(str) writes them, each once
        if len(values) <= MAX_LEVELS:
            levels[str(c)] = sorted(values)
    return levels


def unseen_warning(levels: Mapping[str, Sequence[str]], X_test: pd.DataFrame, where: Path | str) -> str:
    """The warning on the rows of X_test (read from `where`) holding a value of a category column that no training row
    has (`levels`: training_levels'), "" when none does: each such column (most rows first) with its rows and its
    values (most frequent first), one that differs from a training value only in case or spaces said as such."""
    found = []
    for c, known in levels.items():
        if c not in X_test:
            continue
        s = X_test[c]
        counts = s[s.notna()].astype(str).value_counts()  # each distinct value once: no per-row work below
        new = counts[~counts.index.isin(known)]
        if len(new):
            found.append((int(new.sum()), c, _shown(list(new.index), known)))
    if not found:
        return ""
    found.sort(key=lambda f: -f[0])
    columns = [f"{c} ({rows} of {len(X_test)} rows: {listed(values, SHOWN[1])})" for rows, c, values in found]
    return (
        f"{where}: values no training row has in {listed(columns, SHOWN[0])}. The models read such a value as missing, "
        "so those rows are predicted from their other columns; if it is a typo, or a code written another way, write "
        "it as the training rows do."
    )


def _shown(values: list[str], known: Sequence[str]) -> list[str]:
    """Each of the first values quoted, one that is a training value but for case or spaces around it as
    "'Yes ' vs training's 'Yes'"."""
    shown = values[: SHOWN[1]]
    plain = {_plain(k): k for k in known} if shown else {}
    out = [repr(v) + (f" vs training's {plain[_plain(v)]!r}" if _plain(v) in plain else "") for v in shown]
    return out + values[SHOWN[1] :]


def _plain(value: str) -> str:
    """A value without case or spaces around it: how a near-miss of a training value is told."""
    return value.strip().casefold()
