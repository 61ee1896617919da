"""Reading a table and a target's values as the tabular recipe reads them: CSVs, class names, regression numbers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError


def read_csv(path: Path, text: Sequence[str | int] = ()) -> pd.DataFrame:
    """A CSV, or a one-line error naming the file; `text` columns (names or positions) are read as written, so an id
    such as 000123 keeps its zeros (Kaggle compares ids as text)."""
    try:
        frame = pd.read_csv(path, dtype=dict.fromkeys(text, str) or None)
    except Exception as e:
        raise ContractError(f"{path}: cannot be read as CSV ({type(e).__name__}: {e}).") from None
    return comma_separated(frame, path)


def comma_separated(frame: pd.DataFrame, where: Path | str) -> pd.DataFrame:
    """The frame, unless it came out as one column whose name holds another separator (`id;target`): then an error
    naming it. Kaggle's tables are comma-separated, as the submission must be."""
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header:
                raise ContractError(
                    f"{where}: read as one column {header!r}: its values are separated by {name}, not commas. Save it "
                    f"comma-separated (pandas: pd.read_csv(path, sep={sep!r}).to_csv(path, index=False))."
                )
    return frame


def text_in_train(train: pd.DataFrame, test: pd.DataFrame, skip: Sequence[str] = ()) -> list[str]:
    """Columns train reads as text and test as numbers: a code such as a floor `1`, `2`, `basement` whose test rows
    happen to hold numbers only. Read as numbers, test's values would become `1.0`, `2.0`, levels training never saw;
    the caller reads them again as written."""
    return [
        c
        for c in train.columns
        if c in test.columns
        and c not in skip
        and not pd.api.types.is_numeric_dtype(train[c])
        and pd.api.types.is_numeric_dtype(test[c])
    ]


def empty_columns(frame: pd.DataFrame) -> list[str]:
    """Columns with no value on any row (a test table's placeholder for the target, a feature the test rows lack)."""
    return [c for c in frame.columns if len(frame) and frame[c].isna().all()]


def as_names(values: pd.Series) -> pd.Series:
    """Target values as class-name strings: 1.0 -> "1", True -> "True", text as is."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(str)
    if pd.api.types.is_numeric_dtype(values):
        nums = values.astype(float)
        if (nums.dropna() % 1 == 0).all():
            return nums.map(lambda v: str(int(v)) if pd.notna(v) else v)
        return nums.map(lambda v: str(v) if pd.notna(v) else v)
    return values.map(lambda v: str(v) if pd.notna(v) else v)


def class_names(values: pd.Series) -> list[str]:
    """Sorted class names as strings: numbers in numeric order (2 before 10), booleans as False, True."""
    names = as_names(values).dropna().unique()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return sorted(names, key=float)
    return sorted(names)


def numbers(frame: pd.DataFrame, target: str, where: Path) -> np.ndarray:
    """A regression target column as floats; the first value that is no number is refused, naming its line."""
    y_num = pd.to_numeric(frame[target], errors="coerce")
    bad = np.flatnonzero(y_num.isna().to_numpy())
    if len(bad):
        raise ContractError(
            f"{where}: {target} must be a number for regression; line {frame.index[bad[0]] + 2} has "
            f"{frame[target].iloc[bad[0]]!r}."
        )
    return y_num.to_numpy(dtype=float)
