"""Reading a table and a target's values as the tabular recipe reads them: CSVs, class names, regression numbers."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.submission import without_trailing_empty


def read_csv(path: Path, text: Sequence[str | int] = (), words: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV, or a one-line error naming the file; `text` columns (names or positions) are read as written, so an id
    such as 000123 keeps its zeros (Kaggle compares ids as text); `words` columns (the targets) keep the words pandas
    reads as missing where they hold text (with_words: a class named None)."""
    try:
        frame = pd.read_csv(path, dtype=dict.fromkeys(text, str) or None)
        frame, _ = with_words(frame, words, lambda cols: pd.read_csv(path, usecols=cols, **AS_WRITTEN))
    except Exception as e:
        raise ContractError(f"{path}: {unreadable(e)}") from None
    return comma_separated(frame, path)


# how with_words reads columns again: every cell as written, only an empty one missing
AS_WRITTEN: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_values": [""]}


def with_words(
    frame: pd.DataFrame, columns: Sequence[str], read_again: Callable[[list[str]], pd.DataFrame]
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The frame with the words pandas reads as missing (None, NA, null, nan ...) put back in those of `columns` that
    hold text, only their empty cells left missing; and, per column, the words put back with their row counts.

    A class named None (the Sleep Health data's `Sleep Disorder`: None, Insomnia, Sleep Apnea) is a class: read as
    missing, its rows would be dropped as unlabelled and the model would never predict it. Columns of numbers keep
    pandas' reading (NA there is a missing number), as do columns holding numbers written with thousands separators
    (grouped_cells: `1,234,567`, as scraped prices are). `read_again(cols)` reads those columns again as written
    (AS_WRITTEN), only when one of them holds text and a missing cell."""
    cols = [
        c
        for c in columns
        if c in frame
        and not pd.api.types.is_numeric_dtype(frame[c])
        and frame[c].isna().any()
        and not grouped_cells(frame[c]).any()
    ]
    if not cols:
        return frame, {}
    again, frame, found = read_again(cols), frame.copy(), {}
    for c in cols:
        back = (frame[c].isna() & again[c].notna()).to_numpy()
        if back.any():
            frame[c] = frame[c].where(~back, again[c])
            found[c] = {str(k): int(v) for k, v in again[c][back].value_counts().items()}
    return frame, found


def word_targets(task: str, targets: Sequence[str]) -> list[str]:
    """The targets whose words with_words keeps: those of classes, where a class named None or NA is a class; none
    of a regression, whose NA is a missing value, as pandas reads it (a word there is refused, naming its line)."""
    return list(targets) if task != "regression" else []


def unreadable(e: Exception) -> str:
    """Why a CSV could not be read, in one line: text in another encoding than UTF-8 named as such (the decoder's
    offset is within pandas' buffer, of no use), else pandas' own error."""
    if isinstance(e, UnicodeDecodeError):
        byte = e.object[e.start : e.start + 1].hex() if isinstance(e.object, bytes | bytearray) else "?"
        return (
            f"is not UTF-8 text (a byte 0x{byte}: Latin-1 or Windows-1252?); save it as UTF-8 "
            "(iconv -f latin1 -t utf-8, or pandas: pd.read_csv(path, encoding='latin-1').to_csv(path, index=False))."
        )
    return f"cannot be read as CSV ({type(e).__name__}: {e})."


def comma_separated(frame: pd.DataFrame, where: Path | str) -> pd.DataFrame:
    """The frame (less the empty column a comma at the end of every line leaves: without_trailing_empty), unless it
    came out as one column whose name holds another separator (`id;target`): then an error naming it. Kaggle's
    tables are comma-separated, as the submission must be."""
    frame = without_trailing_empty(frame)
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


def id_order(test_ids: Sequence[Any], sample_ids: Sequence[Any]) -> np.ndarray | None:
    """The position in test_ids of each sample id: matched as text, as Kaggle compares ids, else as numbers where the
    two files write the same numbers differently (00400 and 400, 400.0 and 400; exact below 2^53). None when a
    sample id has no match, or test_ids repeat one."""
    test, sample = pd.Series(test_ids).astype(str).str.strip(), pd.Series(sample_ids).astype(str).str.strip()
    if test.is_unique and sample.isin(test).all():
        return pd.Series(range(len(test)), index=test).loc[sample].to_numpy()
    a, b = pd.to_numeric(test, errors="coerce"), pd.to_numeric(sample, errors="coerce")
    exact = 2.0**53
    if a.isna().any() or b.isna().any() or (a.abs() >= exact).any() or (b.abs() >= exact).any() or not a.is_unique:
        return None
    if not b.isin(a).all():
        return None
    return pd.Series(range(len(a)), index=a.to_numpy()).loc[b.to_numpy()].to_numpy()


def row_number_columns(frame: pd.DataFrame) -> list[str]:
    """Columns pandas names `Unnamed: N` (no header) holding each row number 0..n-1 (or 1..n) once, in any order: a
    frame saved with its index. Such a column records an order of the rows, not a property of them (saved after
    sorting by target, a model reads the target off it)."""
    found = []
    for c in frame.columns:
        if re.fullmatch(r"Unnamed: \d+", str(c)) and len(frame) and pd.api.types.is_integer_dtype(frame[c]):
            values = np.sort(frame[c].to_numpy())
            if (values == np.arange(len(frame))).all() or (values == np.arange(1, len(frame) + 1)).all():
                found.append(c)
    return found


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
    """Sorted class names as strings: numbers in numeric order (2 before 10), those written with thousands
    separators too (200 before 1,000: holds_grouped; the names stay as written, as the submission writes them),
    booleans as False, True. The order is the one probability columns that do not name their class get."""
    names = as_names(values).dropna().unique()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return sorted(names, key=float)
    written = pd.Series(names, dtype="str")
    if holds_grouped(written):
        value = pd.to_numeric(ungrouped(written).astype("string").str.strip()).to_numpy(dtype=float)
        return [n for _, n in sorted(zip(value, names, strict=True))]
    return sorted(names)


def _shown(value: Any) -> str:
    """A cell as the file wrote it: text quoted, a number (inf, 1e400) as its plain repr."""
    return repr(value) if isinstance(value, str) else repr(float(value))


def numbers(frame: pd.DataFrame, target: str, where: Path) -> np.ndarray:
    """A regression target column as floats, numbers written with thousands separators too (`1,234,567`: ungrouped,
    as the features' are); the first value that is no finite number is refused, naming its line."""
    y_num = pd.to_numeric(ungrouped(frame[target]), errors="coerce")
    bad = np.flatnonzero(~np.isfinite(y_num.to_numpy(dtype=float)))
    if len(bad):
        raise ContractError(
            f"{where}: {target} must be a number for regression; line {frame.index[bad[0]] + 2} has "
            f"{_shown(frame[target].iloc[bad[0]])}."
        )
    return y_num.to_numpy(dtype=float)


# a number written with thousands separators (1,234 or -12,345.6), and one written without (its column's others); a
# first group never starts with 0, so "0,123" (a decimal comma) is no such number and a column holding it stays text
GROUPED = re.compile(r"[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?")
PLAIN = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)")


def grouped_cells(values: pd.Series) -> pd.Series:
    """Which cells of a column are numbers written with thousands separators (`1,234`, `-12,345.6`); none of a
    column of numbers, nor a missing cell."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series(False, index=values.index)
    return values.astype("string").str.strip().str.fullmatch(GROUPED.pattern).fillna(False).astype(bool)


def holds_grouped(values: pd.Series) -> bool:
    """Whether a column holds text of numbers, some written with thousands separators (`1,234`, `12,345,678`) and
    the rest plain (`950`); missing cells aside."""
    values = values.dropna()
    grouped = grouped_cells(values)
    if not grouped.any():
        return False
    plain = values.astype("string").str.strip().str.fullmatch(PLAIN.pattern).fillna(False).astype(bool)
    return bool((grouped | plain).all())


FIRST = 200  # distinct values unit_of and marker_of judge before the rest: most text columns fail on them

# a number with its unit: a currency sign before it, a percent sign or a word of letters after it (`$1,234.50`, `45%`,
# `12 kg`, `128GB`); one unit for a whole column (unit_of) makes it a column of numbers
WITH_UNIT = re.compile(
    rf"(?P<before>[$€£¥]?)\s?(?P<number>{GROUPED.pattern}|{PLAIN.pattern})\s?(?P<after>%|[^\W\d_]{{1,8}})?"
)


def unit_of(values: pd.Series) -> str | None:
    """The one unit every value of a text column is written with around a number (WITH_UNIT: `$` of `$1,234.50`,
    `kg` of `12 kg`, `%`); None when a value is no such number, when the values have several units (`12 kg`,
    `500 g`: a conversion no reader knows; `12A`, `12B`: codes), or none. Missing cells aside."""
    text = _distinct_text(values)
    if not len(text):
        return None
    for some in (text.iloc[:FIRST], text):  # a column of codes or words fails on its first values: a run reads it fast
        parts = some.str.extract(f"^{WITH_UNIT.pattern}$")
        if parts["number"].isna().any():
            return None
    units = set(zip(parts["before"].fillna(""), parts["after"].fillna(""), strict=True))
    if len(units) != 1 or units == {("", "")}:
        return None
    before, after = units.pop()
    return before + after


# what a table writes for a missing number where pandas reads no NA: a mark of one to three signs (`?`, `-`, `.`)
MARKER = re.compile(r"[^\w\s]{1,3}")


def marker_of(values: pd.Series) -> str | None:
    """The mark a text column of numbers writes for a missing one (`?` of `47.16`, `?`, `12`; MARKER), the first
    if several; None unless every other value is a number (at least two distinct ones). Missing cells aside."""
    text = _distinct_text(values)
    for some in (text.iloc[:FIRST], text):  # as unit_of: a column of codes or words fails on its first values
        marks = some[pd.to_numeric(some, errors="coerce").isna()]
        if not marks.str.fullmatch(MARKER.pattern).all():
            return None
    if not len(marks) or len(text) - len(marks) < 2:
        return None
    return str(marks.iloc[0])


def _distinct_text(values: pd.Series) -> pd.Series:
    """Each distinct value of a text column once, stripped, missing cells aside (none for a column of numbers): what
    unit_of and marker_of judge a column by."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series([], dtype="string")
    return pd.Series(values.dropna().astype("string").str.strip().unique(), dtype="string")


def grouped_numbers(train: pd.DataFrame, test: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Columns of `columns` that both tables hold as text of numbers, some written with thousands separators
    (holds_grouped), or all with one unit (unit_of: `$1,234.50`, `12 kg`, `45%`), or with a mark for missing ones
    (marker_of: `?`): numbers to a model, which reads them as such (read_grouped). As text they would be codes or
    words: each value its own level, its size lost."""
    found = []
    for c in columns:
        both = pd.concat([train[c], test[c]], ignore_index=True)
        if (
            holds_grouped(both)
            or unit_of(both) is not None
            or (not pd.api.types.is_numeric_dtype(train[c]) and marker_of(both) is not None)  # test's marks: missing
        ):
            found.append(c)
    return found


def ungrouped(column: pd.Series) -> pd.Series:
    """The column with each cell that is a number written with thousands separators written without them
    ("1,234" -> "1234"); any other cell, and a column of numbers, as it is: how a regression target (numbers) and
    class names (class_names) read such numbers; features read them with their unit too (unit_numbers)."""
    grouped = grouped_cells(column)
    if not grouped.any():
        return column
    return column.where(~grouped, column.astype("string").str.strip().str.replace(",", "", regex=False))


def read_grouped(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The frame with `columns` (grouped_numbers) as numbers: 1,234 -> 1234.0, $1,234.50 -> 1234.5, 12 kg -> 12.0,
    missing cells and marks (`?`) missing."""
    if not columns:
        return frame
    frame = frame.copy()
    for c in columns:
        frame[c] = unit_numbers(frame[c])
    return frame


def unit_numbers(column: pd.Series) -> pd.Series:
    """The number each cell of a text column writes, plainly (`950`, `1e-05`), with thousands separators or with a
    unit (WITH_UNIT: `1,234`, `$1,234.50`, `12 kg`) as floats; missing where a cell holds none (`?`, `0,125`) or
    nothing. A column of numbers as it is."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = column.astype("string").str.strip()
    plain = pd.to_numeric(text, errors="coerce").astype(float)
    number = text.str.extract(f"^{WITH_UNIT.pattern}$")["number"]
    return plain.fillna(pd.to_numeric(number.str.replace(",", "", regex=False)).astype(float))
