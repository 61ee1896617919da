"""The original dataset a Playground competition was generated from, added to every fold's training rows.

Kaggle's Playground series generates each competition's data from a public dataset and invites its use; winning
solutions add its rows to their training data. Here they join every fold's training rows (Data.train_only) and are
never validated or scored, so the CV stays a score on the competition's own rows, comparable with a run without
them (`--set original=off`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.headers import checked, named_twice, raw_header
from pipeline.tabular.values import as_names, numbers, read_csv, unit_numbers, word_targets

MODES = ("add", "flag", "off")  # TabularRecipe.original: add its rows; add them and a from_original column; not
FLAG_COLUMN = "from_original"
# how an original may write the values of a competition's True/False column
TRUTH = {"true": True, "1": True, "1.0": True, "yes": True, "false": False, "0": False, "0.0": False, "no": False}


@dataclass(frozen=True)
class Original:
    """Where the original dataset is and how its columns and labels read as the competition's.

    slug: the Kaggle dataset, "owner/name" (`download` fetches it); a name without owner is a local dataset that
    only `new --original` puts in place. file: its CSV. columns: original column name -> the competition's, for the
    names that differ. labels: original target value -> the competition's class name, for values that differ.
    """

    slug: str
    file: str
    columns: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """Its folder under the data cache: datasets/<owner>/<name> (datasets/<name> for a local one)."""
        return "datasets/" + self.slug.strip("/")


def normalised(name: str) -> str:
    """A column name compared loosely: lower case, letters and digits only ("Annual Income" == "annual_income")."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def match_columns(have: Sequence[str], wanted: Sequence[str], given: dict[str, str] | None = None) -> dict[str, str]:
    """original name -> competition name for each wanted column the original holds under another name: the `given`
    renames first, then the same name compared loosely (normalised), when exactly one original column matches."""
    found = {o: c for o, c in (given or {}).items() if o in have}
    for c in wanted:
        if c in have or c in found.values():
            continue
        loose = [o for o in have if o not in found and o not in wanted and normalised(o) == normalised(c)]
        if len(loose) == 1:
            found[loose[0]] = c
    return found


def read_original(
    original: Original,
    folder: Path,
    targets: Sequence[str] = (),
    warnings: list[str] | None = None,
    task: str = "multiclass",
) -> pd.DataFrame:
    """The original dataset's table with the competition's column names (Original.columns applied); the `targets`
    (the competition's names) keep the words pandas reads as missing where they hold text, as the competition's
    own targets do (values.with_words: a class named None), unless the `task` is a regression, whose NA is missing
    (values.word_targets). A target its header names twice is refused; the warning on other columns named
    twice joins `warnings` (target_columns), as the competition's own tables' do."""
    renamed = {theirs: ours for theirs, ours in original.columns.items() if ours in targets}
    theirs = [*renamed, *(t for t in targets if t not in renamed.values())]
    path = Path(folder) / original.file
    frame = read_csv(path, words=word_targets(task, theirs))
    if (warning := target_columns(frame.columns, lambda: raw_header(path), path, theirs)) and warnings is not None:
        warnings.append(warning)
    return frame.rename(columns=original.columns)


# what becomes of an original's other columns named twice (as_features takes the competition's columns by name)
FIRST_KEPT = "the competition's columns are read from the first of each; rename them in the CSV if another is meant"


def target_columns(columns: Sequence[str], header: Any, where: Path | str, targets: Sequence[str]) -> str:
    """Refuse an original whose header names one of its `targets` (its own names) twice, naming the file (a target
    read from whichever column pandas took first would teach the models another column's values); the warning on
    other columns named twice, "" when none (headers.checked). `header` reads the header row as written."""
    return checked(named_twice(columns, header), where, [("target", t) for t in targets], FIRST_KEPT)


def original_targets(
    frame: pd.DataFrame,
    target: str,
    task: str,
    classes: list[str] | None,
    original: Original,
    where: Path,
) -> np.ndarray:
    """One target column of the original as the competition's: numbers, or indices into the competition's classes
    (values read through Original.labels); a value the competition does not have is refused, naming it."""
    if task == "regression":
        return numbers(frame, target, where)
    names = as_names(frame[target]).map(lambda v: original.labels.get(v, v))
    index = {c: i for i, c in enumerate(classes or [])}
    unknown = sorted(set(names) - set(index))
    if unknown:
        line = int(np.flatnonzero(~names.isin(list(index)).to_numpy())[0])
        raise ContractError(
            f"{where}: {target} holds {', '.join(map(repr, unknown[:5]))} (line {frame.index[line] + 2}), not one of "
            f"the competition's classes {', '.join(classes or [])}. Map them in ORIGINAL's labels (`new --original-"
            f"labels {unknown[0]}={(classes or ['?'])[0]}`)."
        )
    return names.map(index).to_numpy(dtype=np.int64)


def is_flags(column: pd.Series) -> bool:
    """A True/False column: bool, or (with missing values) one whose values are all True or False."""
    if pd.api.types.is_bool_dtype(column):
        return True
    present = column.dropna()
    return column.dtype == object and len(present) > 0 and present.map(lambda v: isinstance(v, bool)).all()


def as_features(frame: pd.DataFrame, like: pd.DataFrame) -> tuple[pd.DataFrame, list[str], int]:
    """The original's rows with the competition's feature columns, in its order: a column the original lacks is
    missing in its rows, a number column read as numbers (1,234 too, as the competition's are). Also the columns it
    lacked and the values that could not be read as numbers (a "?" some datasets write for missing)."""
    out = pd.DataFrame(index=frame.index)
    absent, unreadable = [], 0
    for c in like.columns:
        if c not in frame:
            absent.append(c)
            out[c] = pd.Series(np.nan, index=frame.index, dtype=like[c].dtype if like[c].dtype.kind in "fiub" else None)
        elif is_flags(like[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            values = frame[c].map(lambda v: TRUTH.get(str(v).strip().lower()) if pd.notna(v) else None)
            unreadable += int((values.isna() & frame[c].notna()).sum())
            if pd.api.types.is_bool_dtype(like[c]):
                out[c] = values.astype("boolean")  # True/False with missing values
            else:  # the competition's own column misses values: True, False and NaN, as pandas reads it
                out[c] = values.astype(object).where(values.notna(), np.nan)
        elif pd.api.types.is_numeric_dtype(like[c]) and not pd.api.types.is_numeric_dtype(frame[c]):
            values = unit_numbers(frame[c])  # 1,234 (thousands separators) and 12 kg (a unit) too
            unreadable += int((values.isna() & frame[c].notna()).sum())
            out[c] = values
        elif pd.api.types.is_string_dtype(like[c]) and not pd.api.types.is_string_dtype(frame[c]):
            out[c] = as_names(frame[c])  # codes the original wrote as numbers: 1.0 -> "1", as the CSV would
        else:
            out[c] = frame[c]
    return out, absent, unreadable


def flag_test_rows(X_test: pd.DataFrame) -> pd.DataFrame:
    """The test rows with mode "flag"'s from_original column: 0, none of them is the original's."""
    return X_test.assign(**{FLAG_COLUMN: 0})


def join(
    X: pd.DataFrame,
    y: np.ndarray,
    X_test: pd.DataFrame,
    classes: list[list[str] | None],
    targets: list[str],
    task: str,
    original: Original,
    mode: str,
    folder: Path,
    warnings: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    """The competition's training rows followed by the original's (those with every target), the test rows, and
    the train_only mask (True on the original's rows). mode "flag" adds a from_original column (1 on its rows, 0
    on the competition's and the test's). What read_original finds amiss in its header joins `warnings`."""
    where = Path(folder) / original.file
    frame = read_original(original, folder, targets, warnings, task)
    absent = [t for t in targets if t not in frame]
    if absent:
        raise ContractError(
            f"{where}: no target column {absent[0]!r} (columns: {listed(frame.columns)}); name it in "
            "ORIGINAL's columns."
        )
    frame = frame[frame[targets].notna().all(axis=1)]
    if frame.empty:
        raise ContractError(f"{where}: no row has a value for {', '.join(targets)}.")
    extra = [original_targets(frame, t, task, c, original, where) for t, c in zip(targets, classes, strict=True)]
    rows, _, _ = as_features(frame, X)
    y_all = np.concatenate([y, extra[0] if len(extra) == 1 else np.column_stack(extra)])
    X_all = pd.concat([X, rows.reset_index(drop=True)], ignore_index=True)
    if mode == "flag":
        X_all[FLAG_COLUMN] = np.r_[np.zeros(len(X), dtype=np.int64), np.ones(len(rows), dtype=np.int64)]
        X_test = flag_test_rows(X_test)
    train_only = np.r_[np.zeros(len(X), dtype=bool), np.ones(len(rows), dtype=bool)]
    return X_all, y_all, X_test, train_only
