"""A target's own past per series as features: lags and rolling means, fitted on a fold's training rows only.

A series is the rows that share the values of the series columns (Store Sales' store_nbr and family); the time column
places each row on the series' regular time step (TimeStep: days, weeks, months, hours, or the common difference of
numbers). `SeriesLags.fit(X, y)` keeps the training rows' target per (series, step) in one dense table; `transform(X)`
looks up, for each row, its series' target `lag` steps before the row's time, for each lag, and the mean of its
series' targets over `window` steps ending at the first lag. A value the table lacks (the series or that step not
among the training rows: before the series began, or inside a later period the fold validates) is NaN; nothing else
is read, so a row's features never hold a target the fit was not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.dates import date_format, parse_dates

DAY = np.timedelta64(1, "D").astype("timedelta64[ns]").astype(np.int64)
HOUR = DAY // 24
SEP = "\x1f"  # between the series columns' values in a series' key
MAX_SPAN = 200  # a step that puts more steps than this many times the distinct times is no regular step


@dataclass(frozen=True)
class TimeStep:
    """How far apart a time column's values are: `unit` "month" (`size` months), "ns" (`size` nanoseconds: days,
    weeks, hours) or "number" (a common difference `size`), counted from `origin`."""

    unit: str
    size: float
    origin: float

    @property
    def name(self) -> str:
        """The step in words: "day", "7 days" is "week", "month", "hour", else its size."""
        if self.unit == "month":
            return "month" if self.size == 1 else f"{self.size:g} months"
        if self.unit == "ns":
            for unit, ns in (("week", 7 * DAY), ("day", DAY), ("hour", HOUR)):
                if self.size == ns:
                    return unit
            return f"{self.size / 1e9:g} seconds"
        return f"{self.size:g}" if self.size != 1 else "1"

    def index(self, times: np.ndarray) -> np.ndarray:
        """Each time's step number from the origin (a float: NaN for a missing time or one between the steps)."""
        raw = _raw(times, self.unit)
        steps = (raw - self.origin) / self.size
        whole = np.round(steps)
        return np.where(np.isfinite(steps) & (np.abs(steps - whole) < 1e-6), whole, np.nan)


def _raw(times: np.ndarray, unit: str) -> np.ndarray:
    """Times as floats in the step's unit: months since year 0, nanoseconds since 1970, or the numbers."""
    times = np.asarray(times)
    if times.dtype.kind != "M":
        return np.asarray(times, dtype=float)
    missing = np.isnat(times)
    if unit == "month":
        stamps = pd.DatetimeIndex(times)
        raw = (stamps.year * 12 + stamps.month - 1).to_numpy(dtype=float)
    else:
        raw = times.astype("datetime64[ns]").astype(np.int64).astype(float)
    return np.where(missing, np.nan, raw)


def time_step(times: np.ndarray) -> TimeStep | None:
    """The regular step of a column's times (dates as datetime64, or numbers), or None when it has none: fewer than
    two distinct times, or no step that every difference is a whole multiple of without putting more than MAX_SPAN
    times as many steps as distinct times between the first and the last. Dates all on one day of the month (the
    1st, ...) at least 28 days apart step by months; other dates by the greatest common divisor of their
    differences (a day, a week, an hour)."""
    times = np.asarray(times)
    if times.dtype.kind == "M":
        distinct = np.unique(times[~np.isnat(times)].astype("datetime64[ns]"))
    else:
        values = np.asarray(times, dtype=float)
        distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) < 2:
        return None
    step = _date_step(distinct) if distinct.dtype.kind == "M" else _number_step(distinct)
    if step is None:
        return None
    span = (_raw(distinct[-1:], step.unit)[0] - step.origin) / step.size
    return step if span <= MAX_SPAN * len(distinct) else None


def _date_step(distinct: np.ndarray) -> TimeStep | None:
    """The step of distinct sorted dates: months (each on one day of the month, at midnight, 28 days apart or more),
    else the greatest common divisor of their differences in nanoseconds."""
    stamps = pd.DatetimeIndex(distinct)
    ns = distinct.astype(np.int64)
    gaps = np.diff(ns)
    midnight = bool((stamps == stamps.normalize()).all())
    if midnight and stamps.day.nunique() == 1 and gaps.min() >= 28 * DAY:
        months = _raw(distinct, "month")
        size = int(np.gcd.reduce(np.diff(months).astype(np.int64)))
        return TimeStep("month", float(size), float(months[0])) if size > 0 else None
    size = int(np.gcd.reduce(gaps))
    return TimeStep("ns", float(size), float(ns[0])) if size > 0 else None


def _number_step(distinct: np.ndarray) -> TimeStep | None:
    """The step of distinct sorted numbers: their smallest difference, when every difference is a whole multiple of
    it."""
    gaps = np.diff(distinct)
    size = float(gaps.min())
    ratio = gaps / size
    if not np.allclose(ratio, np.round(ratio), atol=1e-6):
        return None
    return TimeStep("number", size, float(distinct[0]))


def read_times(values: pd.Series, fmt: str | None) -> np.ndarray:
    """A time column's values as datetime64[ns] (read with the date format `fmt`) or, with `fmt` None, as floats."""
    if fmt is None:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return parse_dates(values, fmt).to_numpy(dtype="datetime64[ns]")


def parse_times(values: pd.Series) -> tuple[str | None, np.ndarray]:
    """A time column's date format (None for numbers) and its values as read_times reads them with it."""
    fmt = None if pd.api.types.is_numeric_dtype(values) else date_format(values)
    return fmt, read_times(values, fmt)


def series_keys(X: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """Each row's series: its values of the series columns as one string (a missing value written as "nan")."""
    parts = [X[c].astype(str).to_numpy(dtype=object) for c in columns]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + SEP + part
    return keys.astype(str)


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class SeriesLags(TransformerMixin, BaseEstimator):
    """The columns `lag_<L>` (the row's series' target L steps before the row's time) for each of `lags`, and
    `mean_<W>` (its mean over the W steps ending at the first lag) for each of `windows`, added to X."""

    series: tuple[str, ...] = ()
    time: str = ""
    lags: tuple[int, ...] = ()
    windows: tuple[int, ...] = ()

    def fit(self, X: pd.DataFrame, y: Any, times: tuple[str | None, np.ndarray] | None = None) -> SeriesLags:
        """Keep the training rows' target per (series, step): the mean where a series has several rows at a time.
        `times`: X's time column as parse_times read it, where the caller has read it already."""
        missing = [c for c in (*self.series, self.time) if c not in X]
        if missing:
            raise ValueError(f"SeriesLags: no column {missing[0]!r} among the features; columns: {list(X.columns)}.")
        self.date_format_, read = parse_times(X[self.time]) if times is None else times
        step = time_step(read)
        if step is None:
            raise ValueError(f"SeriesLags: the time column {self.time!r} has no regular step (days, weeks, months...).")
        self.step_ = step
        index = self.step_.index(read)
        self.series_ = pd.Index(pd.unique(series_keys(X, self.series)))
        codes = self.series_.get_indexer(series_keys(X, self.series))
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(index) & np.isfinite(y)
        self.start_ = int(np.nanmin(index[ok])) if ok.any() else 0
        span = int(np.nanmax(index[ok])) - self.start_ + 1 if ok.any() else 1
        sums, counts = np.zeros((len(self.series_), span)), np.zeros((len(self.series_), span))
        cols = (index[ok] - self.start_).astype(np.int64)
        np.add.at(sums, (codes[ok], cols), y[ok])
        np.add.at(counts, (codes[ok], cols), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.table_ = (sums / counts).astype(np.float32)  # NaN where the series has no row at that step
        self.names_ = self._names(list(X.columns))
        return self

    def _names(self, columns: list[str]) -> dict[str, str]:
        """The added columns' names (lag_<L>, mean_<W>), each with a suffix where the table has a column of its name."""
        out: dict[str, str] = {}
        for base in [*(f"lag_{lag}" for lag in self.lags), *(f"mean_{w}" for w in self.windows)]:
            name, k = base, 2
            while name in columns or name in out.values():
                name, k = f"{base}_{k}", k + 1
            out[base] = name
        return out

    def features(self, X: pd.DataFrame) -> pd.DataFrame:
        """The lag and mean columns of the rows of X (NaN where the training rows hold no such value)."""
        codes = self.series_.get_indexer(series_keys(X, self.series))
        index = self.step_.index(read_times(X[self.time], self.date_format_)) - self.start_
        known = (codes >= 0) & np.isfinite(index)
        at = np.where(known, index, -1).astype(np.int64)
        span = self.table_.shape[1]
        out: dict[str, np.ndarray] = {}
        for lag in self.lags:
            col = at - lag
            ok = known & (col >= 0) & (col < span)
            values = np.full(len(X), np.nan)
            values[ok] = self.table_[codes[ok], col[ok]]
            out[self.names_[f"lag_{lag}"]] = values
        if self.windows:
            present = np.isfinite(self.table_)
            zero = np.zeros((len(self.table_), 1))
            sums = np.concatenate([zero, np.cumsum(np.where(present, self.table_, 0.0), 1)], 1)
            counts = np.concatenate([zero, np.cumsum(present, 1)], 1)
            end = at - min(self.lags) if self.lags else at  # inclusive
            for w in self.windows:
                hi, lo = np.clip(end + 1, 0, span), np.clip(end - w + 1, 0, span)
                ok = known & (hi > lo)
                values = np.full(len(X), np.nan)
                n = counts[codes[ok], hi[ok]] - counts[codes[ok], lo[ok]]
                total = sums[codes[ok], hi[ok]] - sums[codes[ok], lo[ok]]
                with np.errstate(invalid="ignore", divide="ignore"):
                    values[ok] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
                out[self.names_[f"mean_{w}"]] = values
        return pd.DataFrame(out, index=X.index)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with the lag and mean columns after its own."""
        return pd.concat([X, self.features(X)], axis=1)
