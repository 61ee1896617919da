"""One date format per column, so every value of it is read alike.

Read value by value (pandas' format="mixed"), `01/09/2021` is the 9th of January beside `28/08/2021`, the 28th of
August: a day-first column comes out half garbled, its months and days swapped wherever the day is 12 or less, and
the order of its rows with them. A column is written in one format: `date_format` finds it from the values (ISO 8601,
or the month-first or day-first reading that parses the most of them), and `parse_dates` reads every value with it.
A column written in two styles (ISO on most rows, `31/01/2020` on others) gets a second format, found the same way,
for the values the first cannot read.
"""

from __future__ import annotations

import warnings

import pandas as pd
from pandas.tseries.api import guess_datetime_format

MIXED = "mixed"  # pandas' value-by-value reading: the fallback when no one format reads any value
THEN = "|"  # between a column's two formats: the second reads what the first leaves unread


def date_format(values: pd.Series, sample: int = 2000) -> str:
    """The format the column's values are written in: "ISO8601" when that reads the most of them, else the format
    guessed from its values (month-first and day-first) that reads the most, month-first on a tie as pandas; MIXED
    when none reads any. A column written in two styles (`2020-01-31` on most rows, `31/01/2020` on others) gets a
    second format for the values the first leaves unread, found the same way among them: "ISO8601|%d/%m/%Y"
    (parse_dates reads each value with the first that reads it). Judged on up to `sample` distinct values."""
    distinct = pd.Series(values.dropna().astype(str).str.strip().unique(), dtype=object)
    if len(distinct) > sample:
        distinct = distinct.sample(sample, random_state=0)
    first = _one_format(distinct)
    if first == MIXED:
        return MIXED
    unread = distinct[pd.to_datetime(distinct, format=first, errors="coerce", utc=True).isna()]
    second = _one_format(unread) if len(unread) else MIXED
    return first if second in (MIXED, first) else f"{first}{THEN}{second}"


def _one_format(distinct: pd.Series) -> str:
    """The one format that reads the most of these distinct values (date_format's candidates), MIXED if none reads
    any."""
    candidates = ["ISO8601"]
    for value in distinct.iloc[:20]:
        for dayfirst in (False, True):
            with warnings.catch_warnings():  # pandas warns when the guess contradicts dayfirst: that is the point
                warnings.simplefilter("ignore")
                found = guess_datetime_format(value, dayfirst=dayfirst)
            if found and found not in candidates:
                candidates.append(found)
    candidates += [f for f in _numeric_formats(distinct) if f not in candidates]
    best, read = MIXED, 0
    for fmt in candidates:
        n = int(pd.to_datetime(distinct, format=fmt, errors="coerce", utc=True).notna().sum())
        if n > read:
            best, read = fmt, n
    return best


def _numeric_formats(distinct: pd.Series) -> list[str]:
    """Month-first and day-first formats with the values' separator, 4- or 2-digit years, with and without a time:
    what the guesses miss (pandas guesses no 2-digit year)."""
    first = str(distinct.iloc[0]) if len(distinct) else ""
    out = []
    for sep in (s for s in "/-." if s in first):
        for date in (f"%m{sep}%d{sep}%Y", f"%d{sep}%m{sep}%Y", f"%m{sep}%d{sep}%y", f"%d{sep}%m{sep}%y"):
            out += [date, f"{date} %H:%M", f"{date} %H:%M:%S"]
    return out


def parse_dates(values: pd.Series, fmt: str | None = None) -> pd.Series:
    """The column as datetimes without a time zone (a time with an offset, `2020-01-01T10:00:00Z`, as its UTC time),
    every value read with `fmt` (date_format of the values when None; of two formats, the first that reads it); NaT
    where a value is no date in it."""
    formats = (fmt or date_format(values)).split(THEN)
    parsed = pd.to_datetime(values, errors="coerce", format=formats[0], utc=True)
    for later in formats[1:]:
        parsed = parsed.fillna(pd.to_datetime(values, errors="coerce", format=later, utc=True))
    return parsed.dt.tz_localize(None)
