"""What `new` infers of a download's series: the columns that name each series (SERIES) and the horizon (HORIZON).

With folds forward in time, a regression's rows are often series over time (Store Sales: a store's sales of a
family, day by day), and its target's own past per series, lags and rolling means, is what wins such competitions
(pipeline/tabular/series.py). The series key is the smallest set of the test's columns (other than the id and the
time) whose values, with the time, name each row of train and of test once, and whose every test series has rows in
train: low-cardinality columns (text, or whole numbers) first, sets of one, then two, then three. The horizon is how
many steps of the time column (a day, a week, a month, or the numbers' common difference) the test's last time lies
after the last training time: a lag of that many steps or more is known for every test row. `--series A,B` names the
columns (checked: in both tables, each series and time on one row of train); `--series none` leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from features.columns import column_kind
from features.dates import date_format
from features.lags import TimeStep, read_times, time_step
from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.infer_files import Tables
from pipeline.tabular.series import default_lags, default_windows

MAX_CANDIDATES = 10  # the lowest-cardinality columns tried as series keys
MAX_KEY = 3  # columns in a series key at most


@dataclass(frozen=True)
class Found:
    """SERIES and HORIZON of the generated file, and the step between times (its name, for the notes)."""

    columns: list[str]
    horizon: int
    step: str


@dataclass(frozen=True)
class Timeline:
    """The time column's steps: each training and test row's step number (features.lags.TimeStep)."""

    step: TimeStep
    train: np.ndarray
    test: np.ndarray


def infer_series(
    t: Tables, time_col: str | None, id_col: str, targets: list[str], task: str, given: str | None, notes: list[str]
) -> Found | None:
    """SERIES and HORIZON (see the module docstring), with a note on what was found; None with `--series none`, when
    the folds do not run forward in time, for other tasks than one regression target, or when no set of columns
    names the series (noted). `given` (--series): its columns, checked; refused where they cannot be series."""
    if given is not None and given.strip().lower() == "none":
        return None
    flag = f"--series {given}" if given else None
    why = _unsuited(t, time_col, targets, task)
    if why:
        if flag:
            raise ContractError(f"{flag}: {why}.")
        return None
    assert time_col is not None
    line = _timeline(t, time_col, flag)
    if line is None:
        return None
    horizon = int(np.nanmax(line.test) - np.nanmax(line.train))
    if horizon < 1:
        if flag:
            raise ContractError(
                f"{flag}: no test row's {time_col} is after the last training row's, so the test has no horizon "
                "for lags to reach over; series lags need a test later in time."
            )
        return None
    if given:
        columns = _checked(t, [c.strip() for c in given.split(",") if c.strip()], time_col, line, flag or "")
    else:
        columns = _search(t, id_col, time_col, line)
        if columns is None:
            notes.append(
                f"series: none found (no columns whose values with {time_col} name each row of {t.train} and {t.test} "
                "once); --series A,B names them"
            )
            return None
    found = Found(columns, horizon, line.step.name)
    notes.append(_note(t, found, time_col, given is not None))
    return found


def _unsuited(t: Tables, time_col: str | None, targets: list[str], task: str) -> str:
    """Why the download gets no series lags, or ""."""
    if time_col is None:
        return "series lags need folds forward in time: a date column every test row follows (or --time COL)"
    if task != "regression" or len(targets) != 1:
        return f"series lags are for one regression target; this is {task} on {listed(targets)}"
    if time_col not in t.te:
        return f"the time column {time_col} is not in {t.test}, so its rows' lags cannot be looked up"
    return ""


def _timeline(t: Tables, time_col: str, flag: str | None) -> Timeline | None:
    """Each row's step of the time column, read as the run reads it; None (refused with --series) when its times have
    no regular step or a test time falls between the steps."""
    both = pd.concat([t.tr[time_col], t.te[time_col]], ignore_index=True)
    fmt = None if pd.api.types.is_numeric_dtype(both) else date_format(both)
    train, test = read_times(t.tr[time_col], fmt), read_times(t.te[time_col], fmt)
    step = time_step(train)
    why = ""
    if step is None:
        why = f"{time_col} has no regular step in {t.train} (days, weeks, months, or numbers a common difference apart)"
    elif not np.isfinite(step.index(test)).all():
        why = f"some of {t.test}'s {time_col} fall between the steps of {t.train}'s ({step.name})"
    if why:
        if flag:
            raise ContractError(f"{flag}: {why}.")
        return None
    assert step is not None
    return Timeline(step, step.index(train), step.index(test))


def _codes(t: Tables, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each train and test row's series as one number (the columns' values as written, in both tables alike)."""
    both = pd.concat([t.tr[columns], t.te[columns]], ignore_index=True).astype(str)
    codes = pd.MultiIndex.from_frame(both).factorize()[0] if len(columns) > 1 else pd.factorize(both.iloc[:, 0])[0]
    return codes[: len(t.tr)], codes[len(t.tr) :]


def _repeats(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Which rows share their series and step with an earlier row."""
    return pd.DataFrame({"s": codes, "t": steps}).duplicated().to_numpy()


def _names_rows(t: Tables, columns: list[str], line: Timeline) -> bool:
    """Whether the columns, with the time, name each row of train and of test once, every test series in train."""
    train, test = _codes(t, columns)
    if _repeats(train, line.train).any() or _repeats(test, line.test).any():
        return False
    return bool(np.isin(test, train).all()) and len(np.unique(train)) <= len(train) / 2


def _candidates(t: Tables, id_col: str, time_col: str) -> list[str]:
    """The test's columns that may name series, fewest distinct values first: text or whole numbers (no dates, no
    decimals), repeated (fewer distinct values than half the training rows), at most MAX_CANDIDATES of them."""
    found = []
    for c in t.te.columns:
        if c in (id_col, time_col) or c not in t.tr:
            continue
        values = t.tr[c].dropna()
        if column_kind(t.tr[c]) in ("date", "constant", "text") or values.nunique() > len(t.tr) / 2:
            continue
        if pd.api.types.is_float_dtype(values) and (values % 1 != 0).any():
            continue
        found.append((values.nunique(), c))
    return [c for _, c in sorted(found)[:MAX_CANDIDATES]]


def _search(t: Tables, id_col: str, time_col: str, line: Timeline) -> list[str] | None:
    """The smallest set of candidate columns that names the series (_names_rows): fewer columns first, then fewer
    series (the product of the columns' distinct values); None if none of up to MAX_KEY columns does."""
    columns = _candidates(t, id_col, time_col)
    levels = {c: t.tr[c].nunique() for c in columns}
    most = int(pd.Series(line.train).value_counts().max())  # rows at one time: a key needs as many series
    for size in range(1, MAX_KEY + 1):
        sets = sorted(combinations(columns, size), key=lambda s: int(np.prod([levels[c] for c in s], dtype=float)))
        for key in sets:
            if np.prod([levels[c] for c in key], dtype=float) >= most and _names_rows(t, list(key), line):
                return [c for c in t.te.columns if c in key]  # in the test's order
    return None


def _checked(t: Tables, columns: list[str], time_col: str, line: Timeline, flag: str) -> list[str]:
    """--series's columns, refused where one is not in both tables or where a series has two rows at one time."""
    for c in columns:
        for table, name in ((t.te, t.test), (t.tr, t.train)):
            if c not in table:
                raise ContractError(f"{flag}: no column {c!r} in {name}; columns: {listed(table.columns)}.")
        if c == time_col:
            raise ContractError(f"{flag}: {c} is the time column; name the columns that tell the series apart.")
    for table, name, steps, codes in zip(
        (t.tr, t.te), (t.train, t.test), (line.train, line.test), _codes(t, columns), strict=True
    ):
        twice = _repeats(codes, steps)
        if twice.any():
            row = int(np.flatnonzero(twice)[0])
            values = ", ".join(f"{c}={_plain(table[c].iloc[row])!r}" for c in columns)
            raise ContractError(
                f"{flag}: in {name}, the series {values} has more than one row at {time_col} "
                f"{table[time_col].iloc[row]!r} (line {row + 2}): each series needs one row per time."
            )
    return columns


def _plain(value: object) -> object:
    """A cell as Python writes it: 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def _note(t: Tables, found: Found, time_col: str, given: bool) -> str:
    """What `new` says of the series it writes."""
    n = pd.concat([t.tr[found.columns], t.te[found.columns]]).astype(str).drop_duplicates().shape[0]
    lags, windows = default_lags(found.horizon, found.step), default_windows(found.step)
    steps = f"{found.step}s" if not found.step[0].isdigit() else f"steps of {found.step}"
    change = "--series none leaves them out" if given else "--series A,B names others, --series none leaves them out"
    return (
        f"series: {listed(found.columns)} name {n} series; the test's last {time_col} is {found.horizon} {steps} "
        f"after the last training one (HORIZON): each row's target {lags[0]} to {lags[-1]} {steps} back and its "
        f"means over {' and '.join(map(str, windows))} {steps} (ending {lags[0]} back) are features, and each fold "
        f"validates {found.horizon} {steps} (Config.lags, Config.windows; --set lags= turns them off); {change}"
    )
