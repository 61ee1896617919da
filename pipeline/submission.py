"""Validate a CSV submission against the competition's sample submission before it is accepted.

Ids are compared as text on both sides (zero-padded ids stay distinct from plain ones); numeric columns of the
sample must hold finite numbers; a competition may add value rules per column (e.g. House Prices' SalePrice > 0).
Messages say what the file has, not only what is missing.
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed


class SubmissionError(ContractError):
    """A submission file that Kaggle would reject or mis-score."""


@dataclass(frozen=True)
class ValueRule:
    """Bounds on a numeric submission column, and why (shown in the message)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # True: values must be > low (not >=)
    high_open: bool = False
    why: str = ""

    def violations(self, values: np.ndarray) -> np.ndarray:
        """Indices of values outside the rule."""
        below = values <= self.low if self.low_open else values < self.low
        above = values >= self.high if self.high_open else values > self.high
        return np.flatnonzero(below | above)

    def describe(self) -> str:
        """'be > 0', 'lie in [0, 1]' ..."""
        if math.isfinite(self.low) and math.isfinite(self.high):
            return f"lie in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        lo = None if self.low == -math.inf else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = None if self.high == math.inf else f"{'<' if self.high_open else '<='} {self.high:g}"
        return "be " + (" and ".join(p for p in (lo, hi) if p) or "any number")


_MAGIC = {
    b"\x1f\x8b": ("gzip-compressed", ".csv.gz"),
    b"PK\x03\x04": ("a zip archive", ".zip"),
    b"BZh": ("bzip2-compressed", ".csv.bz2"),
    b"\xfd7zXZ": ("xz-compressed", ".csv.xz"),
}
_COMPRESSED_SUFFIXES = {".gz", ".zip", ".bz2", ".xz", ".zst"}


def _rows(index: Iterable[int], limit: int = 5) -> str:
    rows = [int(i) + 2 for i in list(index)[:limit]]  # +2: 1-based and the header line
    return ", ".join(f"line {r}" for r in rows)


def _check_bytes(path: Path) -> None:
    """Refuse files that are not plain CSV text under their name: missing, empty, compressed, UTF-16."""
    if not path.exists():
        raise SubmissionError(f"{path}: no such file.")
    if path.is_dir():
        raise SubmissionError(f"{path}: is a folder, not a submission file.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise SubmissionError(f"{path.name}: the file is empty (0 bytes).")
    compressed = path.suffix.lower() in _COMPRESSED_SUFFIXES
    for magic, (kind, suffix) in _MAGIC.items():
        if head.startswith(magic) and not compressed:
            raise SubmissionError(f"{path.name}: the file is {kind}: name it {path.stem}{suffix} or decompress it.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubmissionError(f"{path.name}: the file is UTF-16 text; save it as UTF-8 (plain CSV).")


def read_header(path: Path | str) -> list[str]:
    """The column names of a CSV submission; a SubmissionError (never a pandas error) for unreadable files."""
    path = Path(path)
    _check_bytes(path)
    try:
        return list(pd.read_csv(path, nrows=0, index_col=False).columns)
    except Exception as e:
        raise SubmissionError(f"{path.name}: cannot be read as CSV: {_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as UTF-8"
    return text.splitlines()[0] if text else type(e).__name__


def _long_row(path: Path, width: int) -> tuple[int, list[str]] | None:
    """The first line with more fields than the header (1-based line number, its fields)."""
    if path.suffix.lower() in _COMPRESSED_SUFFIXES:
        return None
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.reader(f), start=1):
            if len(row) > width:
                return i, row
    return None


def without_trailing_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame less its last columns that pandas names `Unnamed: N` (no header) and that are empty on every row: a
    comma at the end of every line, the header's included, leaves one. A sample submission read with it would ask for
    a value column that is no target (written beside the target, or taken for a class)."""
    cols = list(frame.columns)
    while len(cols) > 1 and re.fullmatch(r"Unnamed: \d+", str(cols[-1])) and frame[cols[-1]].isna().all():
        cols.pop()
    return frame[cols] if len(cols) < frame.shape[1] else frame


def read_submission_csv(path: Path | str, what: str = "") -> pd.DataFrame:
    """Every cell as text (empty cells NaN), columns never shifted by trailing commas; SubmissionError if unreadable."""
    path = Path(path)
    _check_bytes(path)
    label = what or path.name
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    except pd.errors.EmptyDataError:
        raise SubmissionError(f"{label}: the file has no header line (nothing but blank lines).") from None
    except Exception as e:
        raise SubmissionError(f"{label}: cannot be read as CSV: {_first_line(e)}") from None
    # pandas drops fields past the header without a word when every row has them (trailing commas): look.
    found = _long_row(path, len(frame.columns))
    if found or any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        if found:
            line, row = found
            extra = ", ".join(repr(v) for v in row[len(frame.columns) :])
            hint = " (a trailing comma?)" if all(v == "" for v in row[len(frame.columns) :]) else ""
            raise SubmissionError(
                f"{label}: line {line} has {len(row)} fields, the header has {len(frame.columns)}; "
                f"extra field(s) {extra}{hint}."
            )
        raise SubmissionError(f"{label}: some rows have more fields than the header.")
    return frame


def is_number(text: str) -> bool:
    """Whether a field's text reads as a number (Python's float: "1e-3", " 2 ", "nan" and "inf" do)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_numeric(values: pd.Series) -> bool:
    return len(values) > 0 and bool(pd.to_numeric(values, errors="coerce").notna().all())


def _header_problem(got: list[str], want: list[str]) -> str:
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    lower = {c.lower().strip(): c for c in want}
    if missing:
        near = {c: lower[c.lower().strip()] for c in extra if c.lower().strip() in lower}
        if near:
            c, w = next(iter(near.items()))
            return f"column {c!r} should be {w!r} (as in the sample submission)"
        more = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
        return f"column {missing[0]!r} is missing{more}" + (f"; unexpected column {extra[0]!r}" if extra else "")
    if extra:
        return f"unexpected column {extra[0]!r}" + (f" ({len(extra)} extra in all)" if len(extra) > 1 else "")
    if len(got) != len(set(got)):
        dup = next(c for c in got if got.count(c) > 1)
        return f"column {dup!r} appears twice"
    i = next(i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b)
    return f"columns are in a different order: column {i + 1} is {got[i]!r}, the sample has {want[i]!r}"


def _id_kind(ids: np.ndarray) -> str | None:
    """'integers', 'floats' or None for ids given as text."""
    nums = pd.to_numeric(pd.Series(ids), errors="coerce")
    if len(ids) == 0 or nums.isna().any():
        return None
    return "floats" if any("." in i or "e" in i.lower() for i in ids) else "integers"


def _id_hint(got: np.ndarray, want: np.ndarray) -> str:
    """Why ids that mean the same number differ as text: floats for integers, lost zero padding."""
    g, w = _id_kind(got), _id_kind(want)
    if g == "floats" and w == "integers":
        return f"; ids are floats ({got[0]}); expected integers as in the sample ({want[0]})"
    if g and w and len(got) and len(want):
        padded = [i for i in want if i.startswith("0") and len(i) > 1]
        if padded:
            return f"; the sample's ids are zero-padded text ({padded[0]}): write them as text, not numbers"
    return ""


def read_against_sample(
    path: Path | str, sample_path: Path | str, key: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample submission and the submission at `path`, both read as text, once the submission has the sample's
    header (in its order), at least one row and the sample's ids, each once, in the sample's order: the checks every
    submission passes whatever its values (a table's, a PredictionString of boxes). `key`: the columns that name a
    row together, where the first alone does not (Severstal's ImageId and ClassId, one row per image and class)."""
    path, sample_path = Path(path), Path(sample_path)
    try:
        sample = without_trailing_empty(read_submission_csv(sample_path))
    except SubmissionError as e:
        raise SubmissionError(f"the sample submission {sample_path}: {e}") from None
    sub = read_submission_csv(path)
    name = path.name
    if list(sub.columns) != list(sample.columns):
        raise SubmissionError(
            f"{name}: wrong header: {_header_problem(list(sub.columns), list(sample.columns))}. "
            f"Expected columns {short_columns(list(sample.columns))}, got {short_columns(list(sub.columns))}."
        )
    if len(sub) == 0:
        raise SubmissionError(f"{name}: no rows (only a header); the sample submission has {len(sample)}.")
    if key:
        check_ids(name, _keyed(sample, key), _keyed(sub, key))
    else:
        check_ids(name, sample, sub)
    return sample, sub


def _keyed(frame: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """A frame of one id column joining the `key` columns' cells ("0002cc93b.jpg 3"), named after them."""
    cells = [frame[c].fillna("").astype(str).str.strip() for c in key]
    joined = cells[0].str.cat(cells[1:], sep=" ") if len(cells) > 1 else cells[0]
    return pd.DataFrame({"+".join(key): joined})


def validate_submission(
    path: Path | str,
    sample_path: Path | str,
    allowed: dict[str, Iterable[str]] | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
    rules: dict[str, ValueRule] | None = None,
    text: Iterable[str] = (),
) -> pd.DataFrame:
    """Check header, ids (set and order) and values of `path` against `sample_path`; return the frame (as text).

    Numeric columns of the sample must be finite numbers in the submission; text columns must be non-empty and,
    when `allowed` names the column, one of the allowed values. `bounds` (closed intervals) and `rules`
    optionally limit numeric columns. Columns named in `text` are text whatever the sample holds (tags named by
    numbers: Human Protein Atlas' sample of "0" beside cells of "0 5 25").
    """
    sample, sub = read_against_sample(path, sample_path)
    name = Path(path).name
    limits = dict(rules or {})
    for col, (lo, hi) in (bounds or {}).items():
        limits.setdefault(col, ValueRule(lo, hi))
    for col in sample.columns[1:]:
        _check_column(name, col, sample[col], sub[col], limits.get(col), allowed, col in set(text))
    return sub


def check_ids(name: str, sample: pd.DataFrame, sub: pd.DataFrame) -> None:
    """The ids of the first column: no duplicates, none missing or extra, in the sample's order (compared as text)."""
    id_col = sample.columns[0]
    want_ids = sample[id_col].fillna("").astype(str).str.strip().to_numpy()
    got_ids = sub[id_col].fillna("").astype(str).str.strip().to_numpy()
    dup = pd.Series(got_ids).duplicated(keep="first").to_numpy()
    if dup.any():
        idx = np.flatnonzero(dup)
        raise SubmissionError(f"{name}: duplicate {id_col} {got_ids[idx[0]]!r} at {_rows(idx)}.")
    want_set, got_set = set(want_ids), set(got_ids)
    missing = [i for i in want_ids if i not in got_set]
    extra = np.flatnonzero([i not in want_set for i in got_ids])
    if missing:
        hint = _id_hint(got_ids[extra], np.array(missing)) if len(extra) else ""
        raise SubmissionError(
            f"{name}: {len(missing)} {id_col}(s) of the sample submission are missing, first: {missing[:5]}{hint}."
        )
    if len(extra):
        raise SubmissionError(
            f"{name}: {len(extra)} {id_col}(s) not in the sample submission, first {got_ids[extra[0]]!r} "
            f"at {_rows(extra)}."
        )
    moved = np.flatnonzero(got_ids != want_ids)
    if len(moved):
        raise SubmissionError(
            f"{name}: every {id_col} is there, but ids are not in the sample submission's order (first difference at "
            f"{_rows(moved, 1)}: expected {want_ids[moved[0]]!r}, got {got_ids[moved[0]]!r}). Kaggle takes most "
            "competitions' rows in any order, but this project requires the sample's: sort the rows by the sample's "
            f"{id_col} order (pandas: sub.set_index({id_col!r}).loc[sample[{id_col!r}]].reset_index())."
        )


def _check_column(
    name: str,
    col: str,
    sample: pd.Series,
    values: pd.Series,
    rule: ValueRule | None,
    allowed: dict[str, Iterable[str]] | None,
    text: bool = False,
) -> None:
    """One value column: no empty cell; finite numbers (within `rule`, if any) where the sample is numeric (and the
    column not `text`) or a rule limits it; else one of the allowed values where `allowed` names it (True/False for a
    boolean sample column)."""
    empty = np.flatnonzero(values.isna().to_numpy())
    if len(empty):
        raise SubmissionError(f"{name}: column {col} is empty (missing value) at {_rows(empty)}.")
    if (_is_numeric(sample) and not text) or rule is not None:
        arr = _numbers(name, col, values)
        if rule is not None and len(out := rule.violations(arr)):
            why = f" ({rule.why})" if rule.why else ""
            raise SubmissionError(
                f"{name}: column {col} must {rule.describe()}{why}; got {values.iloc[out[0]]} at "
                f"{_rows(out)}{f' ({len(out)} rows in all)' if len(out) > 1 else ''}."
            )
    elif (allowed and col in allowed) or _is_boolean(sample):
        ok = set(allowed[col]) if allowed and col in allowed else {"True", "False"}
        bad = np.flatnonzero(~values.isin(ok).to_numpy())
        if len(bad):
            raise SubmissionError(
                f"{name}: column {col} has unknown value {values.iloc[bad[0]]!r} at {_rows(bad)}; "
                f"valid values: {listed(sorted(ok), 20)}."
            )


def _is_boolean(values: pd.Series) -> bool:
    """A sample column of True/False (Spaceship Titanic's Transported): the submission must use the same words."""
    return len(values) > 0 and bool(values.str.strip().isin(["True", "False"]).all())


def _numbers(name: str, col: str, values: pd.Series) -> np.ndarray:
    """The column as finite floats, or a SubmissionError naming the first bad line."""
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
    return arr


def short_columns(cols: list[str], limit: int = 8) -> str:
    """A header for a message: the first `limit` column names, and how many there are in all."""
    shown = ", ".join(repr(c) for c in cols[:limit])
    return f"[{shown}{f', ... ({len(cols)} in all)' if len(cols) > limit else ''}]"


def describe_valid(path: Path | str, frame: pd.DataFrame | None = None) -> str:
    """'N rows, columns a, b' for a submission that passed."""
    frame = frame if frame is not None else read_submission_csv(Path(path))
    return f"{len(frame)} rows, columns {short_columns(list(frame.columns))}"
