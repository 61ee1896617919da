"""Validate a CSV submission against the competition's sample submission before it is accepted."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError


class SubmissionError(ContractError):
    """A submission file that Kaggle would reject or mis-score."""


def _rows(index: Iterable[int], limit: int = 5) -> str:
    rows = [int(i) + 2 for i in list(index)[:limit]]  # +2: 1-based and the header line
    return ", ".join(f"line {r}" for r in rows)


def validate_submission(
    path: Path | str,
    sample_path: Path | str,
    allowed: dict[str, Iterable[str]] | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Check header, ids (set and order) and values of `path` against `sample_path`; return the frame.

    Numeric columns of the sample must be finite numbers in the submission; text columns must be non-empty and,
    when `allowed` names the column, one of the allowed values. `bounds` optionally limits numeric columns.
    """
    path, sample_path = Path(path), Path(sample_path)
    try:
        sample = pd.read_csv(sample_path)
    except Exception as e:
        raise SubmissionError(f"Cannot read the sample submission {sample_path}: {e}") from None
    try:
        sub = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except Exception as e:
        raise SubmissionError(f"{path.name}: cannot be read as CSV: {e}") from None
    name = path.name
    if list(sub.columns) != list(sample.columns):
        raise SubmissionError(
            f"{name}: wrong header. Expected columns {list(sample.columns)}, got {list(sub.columns)}."
        )
    id_col = sample.columns[0]
    want_ids = sample[id_col].astype(str).str.strip().to_numpy()
    got_ids = sub[id_col].fillna("").astype(str).str.strip().to_numpy()
    dup = pd.Series(got_ids).duplicated(keep="first").to_numpy()
    if dup.any():
        idx = np.flatnonzero(dup)
        raise SubmissionError(f"{name}: duplicate {id_col} {got_ids[idx[0]]!r} at {_rows(idx)}.")
    want_set, got_set = set(want_ids), set(got_ids)
    missing = [i for i in want_ids if i not in got_set]
    if missing:
        raise SubmissionError(
            f"{name}: {len(missing)} {id_col}(s) of the sample submission are missing, first: {missing[:5]}."
        )
    extra = np.flatnonzero([i not in want_set for i in got_ids])
    if len(extra):
        raise SubmissionError(
            f"{name}: {len(extra)} {id_col}(s) not in the sample submission, first {got_ids[extra[0]]!r} "
            f"at {_rows(extra)}."
        )
    moved = np.flatnonzero(got_ids != want_ids)
    if len(moved):
        raise SubmissionError(
            f"{name}: ids are not in the sample submission's order; first difference at {_rows(moved)}: "
            f"expected {want_ids[moved[0]]!r}, got {got_ids[moved[0]]!r}."
        )
    for col in sample.columns[1:]:
        values = sub[col]
        empty = np.flatnonzero(values.isna().to_numpy())
        if len(empty):
            raise SubmissionError(f"{name}: column {col} is empty (missing value) at {_rows(empty)}.")
        if pd.api.types.is_numeric_dtype(sample[col]):
            nums = pd.to_numeric(values, errors="coerce")
            lowered = values.str.strip().str.lower()
            bad = np.flatnonzero(nums.isna().to_numpy() & ~lowered.isin(["nan", "-nan"]).to_numpy())
            if len(bad):
                raise SubmissionError(
                    f"{name}: column {col} must be numeric; non-numeric value {values.iloc[bad[0]]!r} at {_rows(bad)}."
                )
            arr = nums.to_numpy(dtype=float)
            nan = np.flatnonzero(np.isnan(arr))
            if len(nan):
                raise SubmissionError(f"{name}: column {col} has NaN at {_rows(nan)}.")
            inf = np.flatnonzero(np.isinf(arr))
            if len(inf):
                raise SubmissionError(f"{name}: column {col} has an infinite value at {_rows(inf)}.")
            if bounds and col in bounds:
                lo, hi = bounds[col]
                out = np.flatnonzero((arr < lo) | (arr > hi))
                if len(out):
                    raise SubmissionError(
                        f"{name}: column {col} must lie in [{lo}, {hi}]; got {arr[out[0]]} at {_rows(out)}."
                    )
        elif allowed and col in allowed:
            ok = set(allowed[col])
            bad = np.flatnonzero(~values.isin(ok).to_numpy())
            if len(bad):
                raise SubmissionError(
                    f"{name}: column {col} has unknown value {values.iloc[bad[0]]!r} at {_rows(bad)}; "
                    f"valid values: {', '.join(sorted(ok)[:20])}{' ...' if len(ok) > 20 else ''}."
                )
    return sub
