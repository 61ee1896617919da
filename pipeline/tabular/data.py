"""Reading a tabular competition's CSVs into the contract's Data, and writing predictions in the sample's format."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.columns import column_kind
from features.dates import parse_dates
from pipeline.contract import ContractError, Data, TrainingDataNeeded
from pipeline.grades import grades_of, nearest
from pipeline.listing import listed
from pipeline.submission import SubmissionError, ValueRule, validate_submission
from pipeline.tabular.groups import group_features, row_groups
from pipeline.tabular.headers import checked, named_twice, raw_header
from pipeline.tabular.joins import Join, apply_joins
from pipeline.tabular.lookup import Lookup
from pipeline.tabular.metrics import labels as metric_labels
from pipeline.tabular.metrics import ranked
from pipeline.tabular.original import MODES, Original, flag_test_rows, join
from pipeline.tabular.unseen import training_levels, unseen_warning
from pipeline.tabular.values import (
    as_names,
    class_names,
    empty_columns,
    grouped_numbers,
    id_order,
    numbers,
    read_csv,
    read_grouped,
    row_number_columns,
    text_in_train,
    word_targets,
)

SUBMISSIONS = ("values", "labels", "probabilities", "ranked", "grades")


def as_list(target: str | Sequence[str]) -> list[str]:
    """The target column(s) as a list: TARGET is one name, or a list of names for several targets."""
    return [target] if isinstance(target, str) else list(target)


def id_is_feature(ids: pd.Series) -> bool:
    """An id column of dates or times (Bike Sharing's `datetime`) says when a row is: it is also a feature."""
    return column_kind(ids) == "date"


def _target_values(train: pd.DataFrame, target: str, task: str, where: Path) -> tuple[np.ndarray, list[str] | None]:
    """One target column (no missing values) as numbers (regression) or class indices with the class names; a bad
    value is refused."""
    if task != "regression":
        classes = class_names(train[target])
        return as_names(train[target]).map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64), classes
    return numbers(train, target, where), None


def _id_groups(
    train: pd.DataFrame, test: pd.DataFrame, id_col: str, drop: Sequence[str], where: Path
) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """The group features of every train row (labelled or not: a group's size counts them all) and test row, less
    those in `drop`, and each train row's group."""
    if id_col not in train:
        raise ContractError(f"{where}: no id column {id_col!r}, so its groups are unknown; set ID_GROUPS = False.")
    try:
        tr, te, groups = group_features(train[id_col], test[id_col], id_col)
    except ValueError as e:
        raise ContractError(f"{where}: {e} Set ID_GROUPS = False.") from None
    keep = [c for c in tr.columns if c not in drop]
    return {"train": tr[keep], "test": te[keep]}, groups


def _groups(
    train: pd.DataFrame,
    test: pd.DataFrame,
    id_col: str,
    drop: Sequence[str],
    where: Path,
    id_groups: bool,
    column: str | None,
) -> tuple[dict[str, pd.DataFrame], np.ndarray | None]:
    """The id's group features and each train row's group (`id_groups`: _id_groups), or each row's group from the
    training CSV's `column` (GROUPS: _column_groups); ({}, None) for neither."""
    if id_groups and column is not None:
        raise ContractError(f"GROUPS = {column!r} and ID_GROUPS both group the rows of {where}; set one of them.")
    if column is not None:
        return {}, _column_groups(where, column)
    return _id_groups(train, test, id_col, drop, where) if id_groups else ({}, None)


def _column_groups(path: Path, column: str) -> np.ndarray:
    """Each row of the CSV `path`'s group: its `column` (GROUPS) read as written, an empty cell a group of its row
    alone (groups.row_groups, as CsvImages reads an image competition's), so that both draw the same group folds."""
    header = raw_header(path)
    if column not in header:
        raise ContractError(f"{path}: no column {column!r} (GROUPS) to group its rows by; columns: {listed(header)}.")
    try:
        cells = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False)[column]
    except Exception as e:
        raise ContractError(f"{path}: cannot read its column {column!r} (GROUPS): {e}") from None
    return row_groups(cells)


def _with_original(
    X: pd.DataFrame,
    y: np.ndarray,
    X_test: pd.DataFrame,
    groups: np.ndarray | None,
    times: np.ndarray | None,
    classes: list[list[str] | None],
    targets: list[str],
    task: str,
    original: Original | None,
    mode: str,
    warnings: list[str],
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The original's rows after the competition's (original.join, from where datadir.original_dir finds them), the
    train_only mask, the groups with each original row its own, and the times with none for its rows (they are
    never validated); a column its header names twice joins `warnings` (Data.info's). With no original, or `mode`
    "off", the rows as they are and no train_only mask; a `mode` not in MODES is refused."""
    from pipeline.datadir import original_dir

    if mode not in MODES:
        raise ContractError(f"original must be one of {', '.join(MODES)}, got {mode!r}.")
    if original is None or mode == "off":
        return X, y, X_test, None, groups, times
    folder = original_dir(original)
    X, y, X_test, train_only = join(X, y, X_test, classes, targets, task, original, mode, folder, warnings)
    added = int(train_only.sum())
    if groups is not None:
        groups = np.r_[groups.astype(object), [f"original {i}" for i in range(added)]]
    if times is not None:
        none = np.datetime64("NaT") if times.dtype.kind == "M" else np.nan
        times = np.concatenate([times, np.full(added, none, dtype=times.dtype)])
    return X, y, X_test, train_only, groups, times


def load_tables(
    data_dir: Path,
    train_file: str,
    test_file: str,
    sample_file: str,
    id_col: str,
    target: str | Sequence[str],
    task: str,
    drop: Sequence[str] = (),
    original: Original | None = None,
    original_mode: str = "add",
    id_groups: bool = False,
    time: str | None = None,
    row_id_start: int | None = None,
    group_column: str | None = None,
    horizon: int | None = None,
    joins: Sequence[Join] = (),
    lookup: Lookup | None = None,
) -> Data:
    """Raw feature frames (columns of both train and test, minus id, target(s) and `drop`), target(s), test ids.

    Columns only in train (the targets, and extras such as leaked outcomes) never become features, nor do columns
    empty on every test row, nor does the id unless it holds dates or times (id_is_feature). A column train reads as
    text is read as written in test too (text_in_train), so its levels match. A class target of text keeps the
    words pandas reads as missing (a class named None: values.with_words; a regression's NA is missing). A feature
    of numbers written with thousands separators (1,234) is read as numbers (values.grouped_numbers). Training rows
    without a target value (any of them, for several) are left out: nothing to fit or score them on. One
    classification target becomes class indices into `Data.classes` (class names as strings). Several targets
    become y of rows x targets: values, or 0/1 per binary target (the second class of each column is 1); then
    `Data.classes` is None and the runner handles them as rows x targets values. Test values of a category column
    that no training row has are warned of (pipeline/tabular/unseen.py).

    `original` (with `original_mode` "add" or "flag"; "off" leaves it out): the dataset the competition was generated
    from, found by pipeline.datadir.original_dir; its rows follow the competition's, in every fold's training rows
    and never scored (Data.train_only; pipeline/tabular/original.py).
    `id_groups`: the id reads as <group>_<member> (Spaceship Titanic's 0013_02); <id>_group_size and <id>_member
    become features (unless in `drop`) and Data.groups holds each training row's group (pipeline/tabular/groups.py);
    with `group_column` (GROUPS, never a feature), that column's value is the row's group instead (_groups).
    `time`: a column of train.csv (dates or numbers) ordering the training rows for FOLDS = "time" (Data.time; none
    for an original's rows), a feature when test has it too. `horizon` (HORIZON, with SERIES): Data.horizon, each
    forward fold then validating that many distinct times (pipeline/folds.py).
    `row_id_start`: no id column in test (Digit Recognizer's): its rows get the ids row_id_start, ... `joins` (JOINS):
    auxiliary tables, each (file, key columns), joined to both tables' rows by key before anything reads them
    (joins.py); a key a table lacks gives missing values, warned of. `lookup` (LOOKUP, Facial Keypoints'): the
    sample's ids are the lookup's, each a test row and a target (lookup.py); a row with any target is kept (NaN: none).
    """
    data_dir = Path(data_dir)
    targets = as_list(target)
    train, test, warnings = _read_pair(data_dir, (train_file, test_file), id_col, targets, task, id_groups, time)
    (train, test), joined = apply_joins(data_dir, [(train, train_file), (test, test_file)], joins, warnings)
    test_ids = _test_ids(
        test, id_col, row_id_start, data_dir / test_file, data_dir / sample_file, lookup, targets, data_dir
    )
    features = _feature_columns(train, test, id_col, targets, drop, data_dir / train_file, test_file, group_column)
    derived, groups = _groups(train, test, id_col, drop, data_dir / train_file, id_groups, group_column)
    train, labelled, y, classes, per_target = _labelled(train, targets, task, data_dir / train_file, lookup is not None)
    X, X_test, grouped = _feature_frames(train, test, features, derived, labelled)
    groups = None if groups is None else groups[labelled]
    times = None if time is None else times_of(train, time, data_dir / train_file)
    X, y, X_test, train_only, groups, times = _with_original(
        X, y, X_test, groups, times, per_target, targets, task, original, original_mode, warnings
    )
    levels = training_levels(X)  # the original's rows are training rows too
    warnings += filter(None, [unseen_warning(levels, X_test, data_dir / test_file)])
    return Data(
        X=X,
        y=y,
        X_test=X_test,
        train_only=train_only,
        groups=groups,
        time=times,
        horizon=horizon,
        test_ids=test_ids,
        sample_submission=data_dir / sample_file,
        classes=classes,
        data_dir=data_dir,
        info=_info(target, id_col, task, features, warnings)
        | {"trained": trained_facts(train, features, y, classes, task, grouped, levels) | _joined(joined)},
    )


def _labelled(
    train: pd.DataFrame, targets: list[str], task: str, path: Path, partial: bool = False
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str] | None, list[list[str] | None]]:
    """The training rows with a value for every target (`partial`, several values: for any of them, a missing one NaN;
    their index still the CSV's row number, for messages), which rows those are, the target values (class indices, or
    rows x targets for several), the classes of one target and each target's own classes."""
    have = train[targets].notna()
    partial = partial and task == "regression" and len(targets) > 1
    labelled = (have.any(axis=1) if partial else have.all(axis=1)).to_numpy()
    train = train[labelled]
    if train.empty:
        raise ContractError(f"{path}: no row has a value for {', '.join(targets)}.")
    if partial:
        return train, labelled, _partial_values(train, targets, path), None, [None] * len(targets)
    values = [_target_values(train, t, task, path) for t in targets]
    y, classes = values[0] if len(values) == 1 else (np.column_stack([v for v, _ in values]), None)
    return train, labelled, y, classes, [c for _, c in values]


def _partial_values(train: pd.DataFrame, targets: list[str], path: Path) -> np.ndarray:
    """Rows x targets of numbers, NaN where a row has no value for a target; a value that is no number is refused
    naming its line (values.numbers)."""
    y = np.full((len(train), len(targets)), np.nan)
    for j, t in enumerate(targets):
        present = train[t].notna().to_numpy()
        y[present, j] = numbers(train[present], t, path)
    return y


def _joined(names: dict[str, dict[str, str]]) -> dict[str, object]:
    """What load_test_table needs of the joins (JOINS) beside trained_facts: per table, the names its columns were
    joined under (a column named as one of train's only is prefixed, which the test table alone cannot tell); nothing
    without joins, so a run's summary is as before."""
    return {"joined": names} if names else {}


def _feature_frames(
    train: pd.DataFrame, test: pd.DataFrame, features: list[str], derived: dict[str, Any], labelled: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The feature frames of the labelled training rows and of the test rows, numbers written with thousands
    separators (1,234) read as numbers, and the id's derived columns (`derived`) added; also those grouped columns."""
    X, X_test = train[features].reset_index(drop=True), test[features].reset_index(drop=True)
    grouped = grouped_numbers(X, X_test, features)
    X, X_test = read_grouped(X, grouped), read_grouped(X_test, grouped)
    if derived:
        X = pd.concat([X, derived["train"][labelled].reset_index(drop=True)], axis=1)
        X_test = pd.concat([X_test, derived["test"].reset_index(drop=True)], axis=1)
    return X, X_test, grouped


def _info(
    target: str | Sequence[str], id_col: str, task: str, features: list[str], warnings: list[str]
) -> dict[str, Any]:
    """Data.info of both readers (load_tables, load_test_table): what write_submission and validate read, and the
    warnings on the tables read (columns their header names twice) that `run` and `predict` show."""
    return {
        "target": target,
        "targets": as_list(target),
        "id": id_col,
        "task": task,
        "features": features,
        "warnings": warnings,
    }


def _read_checked(path: Path, keys: list[tuple[str, str]], warnings: list[str], **how: Any) -> pd.DataFrame:
    """One table (values.read_csv, `how` its options), refused when its header names a key column ((role, name):
    a target, the id) more than once; the warning on other columns named twice joins `warnings`."""
    frame = read_csv(path, **how)
    if warning := checked(named_twice(frame.columns, lambda: raw_header(path)), path, keys):
        warnings.append(warning)
    return frame


def _read_pair(
    data_dir: Path,
    files: tuple[str, str],
    id_col: str,
    targets: list[str],
    task: str,
    id_groups: bool,
    time: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """train.csv and test.csv (`files`) as load_tables reads them: the words of the targets' classes kept
    (values.with_words; a regression's NA is missing, as pandas reads it), the id as written, and a column train
    holds as text read as text in test too; a missing target column, or a target or id their header names twice (or
    train's, the time column), is refused. Also the warnings on other columns named twice (headers.checked)."""
    (train_file, test_file), words = files, word_targets(task, targets)
    keys, warnings = [*(("target", t) for t in targets), ("id", id_col)], []
    timed = [*keys, *([("time column (TIME)", time)] if time else [])]  # train's only: test's is but a feature
    train = _read_checked(data_dir / train_file, timed, warnings, text=[id_col] if id_groups else (), words=words)
    test = _read_checked(data_dir / test_file, keys, warnings, text=[id_col])
    if as_text := text_in_train(train, test, skip=[id_col]):
        test = read_csv(data_dir / test_file, text=[id_col, *as_text])
    absent = [t for t in targets if t not in train]
    if absent:
        where = data_dir / train_file
        raise ContractError(f"{where}: no target column {absent[0]!r}; columns: {listed(train.columns)}.")
    return train, test, warnings


def _test_ids(
    test: pd.DataFrame,
    id_col: str,
    row_id_start: int | None,
    where: Path,
    sample: Path,
    lookup: Lookup | None = None,
    targets: Sequence[str] = (),
    data_dir: Path | None = None,
) -> np.ndarray:
    """Each test row's id: its id column's value, or with row_id_start its row number counted from there (the table
    then has no id column: one of that name would be ambiguous, and is refused); every id of the `sample` submission
    among them (_check_sample_ids), or with a `lookup` every sample id one of its rows, naming a test row and a
    target."""
    ids = _id_values(test, id_col, row_id_start, where)
    if lookup is not None:
        lookup.check_sample(data_dir or where.parent, sample, ids, list(targets))
    else:
        _check_sample_ids(ids, sample, where)
    return ids


def _check_sample_ids(test_ids: np.ndarray, sample: Path, where: Path) -> None:
    """Every id of the sample submission is one test row's (as written, or the same number: values.id_order), checked
    as the tables are read: a sample of another download, or a test set cut short, failed the submission check only
    after every model was fitted, naming neither file. No sample file: nothing to check (the data check names it)."""
    if not sample.is_file():
        return
    sample_ids = read_csv(sample, text=[0]).iloc[:, 0]
    if id_order(test_ids, sample_ids) is not None:
        return
    ids = pd.Series(test_ids).astype(str).str.strip()
    if (twice := ids.duplicated()).any():
        raise ContractError(f"{where}: id {ids[twice].iloc[0]!r} is on more than one row; each test row needs its own.")
    written = sample_ids.astype(str).str.strip()
    absent = written[~written.isin(ids)]
    first = f"; the test rows' first id is {ids.iloc[0]!r}" if len(ids) else "; the test set has no rows"
    raise ContractError(
        f"{sample}: {len(absent)} of its {len(written)} ids are not in {where} (first {absent.iloc[0]!r}{first}), so "
        "no prediction can be written for them: give the sample submission that goes with this test set."
    )


def _id_values(test: pd.DataFrame, id_col: str, row_id_start: int | None, where: Path) -> np.ndarray:
    """The test rows' ids as _test_ids reads them, before the sample's are checked."""
    if row_id_start is None:
        if id_col not in test:
            raise ContractError(
                f"{where}: no id column {id_col!r}; columns: {listed(test.columns)}. If the test rows' order gives "
                "their ids (1, 2, ...), set ROW_ID_START to the first row's."
            )
        return test[id_col].to_numpy()
    if id_col in test:
        raise ContractError(
            f"{where} has an id column {id_col!r}, but ROW_ID_START = {row_id_start} numbers the rows instead; set "
            "ROW_ID_START = None to read the ids from the column."
        )
    return np.arange(row_id_start, row_id_start + len(test))


MAX_GRADES = 1000  # a regression target with more whole-number values is taken for no grades (prices, counts)


def trained_facts(
    train: pd.DataFrame,
    features: list[str],
    y: np.ndarray,
    classes: list[str] | None,
    task: str,
    grouped: list[str],
    levels: dict[str, list[str]],
) -> dict[str, object]:
    """What load_test_table needs of the training rows to read a test set alone as load_tables reads it (the run
    keeps it in summary.json's "trained"): the feature columns, those train reads as text (a test file whose rows
    hold numbers only must still read them as text), those read as numbers written with thousands separators
    (`grouped`, values.grouped_numbers), the classes, a regression's whole-number grades (a grades submission
    rounds to them; at most MAX_GRADES, else None) and each category column's values (`levels`,
    unseen.training_levels: a new test set's values no training row has are warned of)."""
    grades = None
    if task == "regression" and np.ndim(y) == 1:
        values = np.unique(np.asarray(y, dtype=float))
        if len(values) <= MAX_GRADES and not (values % 1).any():
            grades = values.tolist()
    return {
        "features": list(features),
        "text": [c for c in features if not pd.api.types.is_numeric_dtype(train[c])],
        "grouped": list(grouped),
        "classes": classes,
        "grades": grades,
        "levels": levels,
    }


def load_test_table(
    data_dir: Path,
    test_file: str,
    sample_file: str,
    id_col: str,
    target: str | Sequence[str],
    task: str,
    trained: dict | None,
    original: Original | None = None,
    original_mode: str = "add",
    id_groups: bool = False,
    row_id_start: int | None = None,
    joins: Sequence[Join] = (),
    lookup: Lookup | None = None,
) -> Data:
    """The test rows alone (X and y None) as load_tables reads them, for `predict` of a new test set: the run's
    feature columns, those it read as text read as text, its classes and grades, from `trained` (trained_facts, as
    the run recorded them), and the original's flag column (0) where load_tables adds it. TrainingDataNeeded with
    id groups (their sizes count the training rows) or without `trained` (a run from before it was recorded).
    `row_id_start` numbers the rows as load_tables does. Values of a category column the run's training rows never
    had are warned of, as load_tables warns of them (`trained`'s "levels"; none for a run from before they were
    recorded). `joins`: the auxiliary tables load_tables joins, joined here too (their files beside the test table).
    `lookup`: the sample's ids are the lookup's, checked as load_tables checks them."""
    if id_groups:
        raise TrainingDataNeeded(
            "the id groups' sizes (ID_GROUPS) count the training rows of each group as well as the test rows"
        )
    if not trained:
        raise TrainingDataNeeded(
            'the run recorded no columns of its training rows (summary.json has no "trained": a run from before '
            "predict read test sets alone)"
        )
    data_dir, warnings = Path(data_dir), []
    test = _read_checked(data_dir / test_file, [("id", id_col)], warnings, text=[id_col, *trained["text"]])
    (test,), _ = apply_joins(data_dir, [(test, test_file)], joins, warnings, trained.get("joined"))
    targets = as_list(target)
    test_ids = _test_ids(
        test, id_col, row_id_start, data_dir / test_file, data_dir / sample_file, lookup, targets, data_dir
    )
    X_test = test[[c for c in trained["features"] if c in test]].reset_index(drop=True)  # predict names any missing
    X_test = read_grouped(X_test, [c for c in trained.get("grouped", []) if c in X_test])  # as load_tables read them
    if warning := unseen_warning(trained.get("levels") or {}, X_test, data_dir / test_file):  # none recorded: none
        warnings.append(warning)
    if original is not None and original_mode == "flag":
        X_test = flag_test_rows(X_test)
    return Data(
        X=None,
        y=None,
        X_test=X_test,
        test_ids=test_ids,
        sample_submission=data_dir / sample_file,
        classes=trained.get("classes"),
        data_dir=data_dir,
        info=_info(target, id_col, task, list(trained["features"]), warnings) | {"grades": trained.get("grades")},
    )


def target_grades(data: Data) -> np.ndarray:
    """The target's whole-number grades: those of its training values, or (a test set read alone) the run's."""
    if data.y is not None:
        return grades_of(data.y)
    saved = (data.info or {}).get("grades")
    if saved is None:
        raise ContractError("the target's grades are unknown: no training values, and the run recorded none.")
    return np.asarray(saved, dtype=float)


def _feature_columns(
    train: pd.DataFrame,
    test: pd.DataFrame,
    id_col: str,
    targets: list[str],
    drop: Sequence[str],
    where: Path,
    test_file: str,
    group_column: str | None = None,
) -> list[str]:
    """Columns of both train and test, minus the targets, `drop`, the id (unless it holds dates or times), the
    `group_column` (GROUPS), columns empty on every test row (a model leaning on them in CV would find nothing there)
    and a saved row number (values.row_number_columns: the file's order, no feature); refused when none is left."""
    keep_id = id_col in test and id_is_feature(test[id_col])
    empty = set(empty_columns(test)) | set(row_number_columns(train)) | set(row_number_columns(test))
    features = [
        c
        for c in train.columns
        if c in test.columns
        and (c != id_col or keep_id)
        and c not in (*targets, *drop, group_column)
        and c not in empty
    ]
    if not features:
        raise ContractError(f"{where}: no feature column is also in {test_file}.")
    return features


def times_of(train: pd.DataFrame, column: str, where: Path) -> np.ndarray:
    """The time of each training row: column's dates as datetime64, or its numbers as float; a row without one is
    named."""
    if column not in train:
        raise ContractError(f"{where}: no time column {column!r} (TIME); columns: {listed(train.columns)}.")
    raw = train[column]
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype=float)
        bad = np.isnan(values)
        out: np.ndarray = values
    else:
        parsed = parse_dates(raw)  # one format for the column (features/dates.py)
        bad = parsed.isna().to_numpy()
        out = parsed.to_numpy(dtype="datetime64[ns]")
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        row = int(train.index[first]) + 2  # the CSV's line: header, then rows from 0
        raise ContractError(
            f"{where}: time column {column!r} has {int(bad.sum())} row(s) with no date or number, first on line {row} "
            f"({raw.iloc[first]!r})."
        )
    return out


def as_sample_values(labels: Sequence[str], sample_col: pd.Series) -> list | None:
    """Class names written the way the sample writes them: True/False for a True/False sample (classes 0/1 as
    False/True), numbers for a sample of numbers (classes True/False as 1/0; 1.0 where the sample writes 0.0), else
    as they are. None when they cannot be (classes such as Yes/No for a sample of numbers or of True/False). An empty
    sample column says nothing."""
    names = pd.Series(list(labels), dtype=object)
    if sample_col.isna().all():
        return list(labels)
    if pd.api.types.is_bool_dtype(sample_col):
        flags = names.map({"True": True, "False": False, "1": True, "0": False})
        return None if flags.isna().any() else flags.tolist()
    if pd.api.types.is_numeric_dtype(sample_col):
        nums = pd.to_numeric(names.map(lambda v: {"False": 0, "True": 1}.get(v, v)), errors="coerce")
        # a sample of decimals (0.0, no empty cell: pandas reads a column of 0 with a gap as floats too) gets 1.0
        decimal = pd.api.types.is_float_dtype(sample_col) and not sample_col.isna().any()
        return None if nums.isna().any() else [float(v) if decimal or v % 1 else int(v) for v in nums]
    return list(labels)


def label_format_error(classes: Sequence[str], sample_col: pd.Series, sample: str) -> str:
    """Why the classes cannot be written as the sample writes its labels, or "" when they can."""
    if as_sample_values(classes, sample_col) is not None:
        return ""
    kind = "True/False" if pd.api.types.is_bool_dtype(sample_col) else "numbers"
    first = sample_col.dropna().iloc[0]
    first = first.item() if hasattr(first, "item") else first  # 0, not np.int64(0)
    return (
        f"{sample} writes {kind} in {sample_col.name} (such as {first!r}), but the target's "
        f"classes are {listed(classes, 5)}: a submission of them could not match it"
    )


def _flag_labels(proba: np.ndarray, sample_col: pd.Series) -> np.ndarray:
    """One binary target's labels (1 where its probability is above 0.5) as the sample writes them: True/False or
    0/1."""
    on = metric_labels(proba)
    return on.astype(bool) if pd.api.types.is_bool_dtype(sample_col) else on.astype(np.int64)


def class_columns(value_cols: Sequence[str], classes: Sequence[str]) -> list[int] | None:
    """The class each probability column of the sample is named after: the class's name itself, or one prefix and
    the name for every column (Status_C, Status_CL, Status_D for classes C, CL, D; Class_1 for class 1), whatever
    the order of the columns. None when the columns do not name the classes."""
    index = {str(c): i for i, c in enumerate(classes)}
    first = str(value_cols[0]) if value_cols else ""
    for prefix in sorted({first[: len(first) - len(n)] for n in index if first.endswith(n)}, key=len):
        names = [str(c)[len(prefix) :] if str(c).startswith(prefix) else "" for c in value_cols]
        if all(n in index for n in names) and len(set(names)) == len(names):
            return [index[n] for n in names]
    return None


def _pred_columns(data: Data, value_cols: list[str], submission: str) -> list[int]:
    """The prediction column each value column of the sample gets (values or probabilities).

    Several targets: the column of the target of that name, else the targets' order (the sample names them
    differently). One target: its values, or the positive (last) class's probability. Class probabilities: the
    column of the class the sample's column is named after (class_columns), else the classes' order.
    """
    targets = (data.info or {}).get("targets") or []
    if len(value_cols) == 1 and len(targets) <= 1:
        return [0 if submission == "values" else -1]
    if len(targets) > 1:
        index = {str(c): i for i, c in enumerate(targets)}
        cols = [index[str(c)] for c in value_cols] if all(str(c) in index for c in value_cols) else None
    else:
        cols = class_columns(value_cols, list(data.classes or []))
    return list(range(len(value_cols))) if cols is None else cols


def write_submission(data: Data, pred: np.ndarray, path: Path, submission: str) -> None:
    """The sample submission's header, ids and id order, filled with values, labels or probabilities (one column
    per class, or per target for several targets; several binary targets' labels: 1 where the target's probability
    is above 0.5, written True/False or 0/1 as the sample's column is), ranked: the K likeliest class names,
    space-separated (K: as many as the sample's rows name), or grades: each value rounded to the nearest of the
    target's whole-number grades (values already cut into grades stay as they are). Test rows whose id the sample
    lacks are not written."""
    if submission not in SUBMISSIONS:
        raise ValueError(f"submission must be one of {SUBMISSIONS}, got {submission!r}.")
    sample = read_csv(Path(data.sample_submission), text=[0])
    id_col, value_cols = sample.columns[0], list(sample.columns[1:])
    pred = np.asarray(pred, dtype=float).reshape(len(data.test_ids), -1)
    out = pd.DataFrame({id_col: data.test_ids})
    several = len((data.info or {}).get("targets") or []) > 1
    if submission == "grades":
        out[value_cols[0]] = nearest(pred[:, :1], target_grades(data)).ravel().astype(np.int64)
    elif submission == "ranked":
        k = ranked_width(sample[value_cols[0]])
        out[value_cols[0]] = [" ".join(data.classes[i] for i in row) for row in ranked(pred, k)]
    elif submission == "labels" and not several:
        names = [data.classes[i] for i in metric_labels(pred)]  # one probability column: the positive class above 0.5
        written = as_sample_values(names, sample[value_cols[0]])
        if written is None:
            raise ContractError(f"{label_format_error(data.classes, sample[value_cols[0]], data.sample_submission)}.")
        out[value_cols[0]] = written
    else:
        for c, j in zip(value_cols, _pred_columns(data, value_cols, submission), strict=True):
            out[c] = _flag_labels(pred[:, j], sample[c]) if submission == "labels" else pred[:, j]
    rows = id_order(out[id_col], sample[id_col])
    if rows is not None:  # the sample's rows and order, whatever test.csv's were, and its ids as it writes them
        out = out.iloc[rows].assign(**{id_col: sample[id_col].astype(str).to_numpy()})
    out.to_csv(path, index=False)


def ranked_column(sample: pd.Series, classes: Sequence[str] | None) -> bool:
    """Whether a sample's column names several classes a row, space-separated (it asks for the likeliest first)."""
    if classes is None or pd.api.types.is_numeric_dtype(sample) or any(" " in str(c) for c in classes):
        return False
    tokens = sample.dropna().astype(str).str.split()
    return bool(len(tokens)) and tokens.map(len).max() > 1 and tokens.map(lambda t: set(t) <= set(classes)).all()


def ranked_width(sample: pd.Series) -> int:
    """How many classes a row of a ranked sample column names at most: the K of its MAP@K."""
    return int(sample.dropna().astype(str).str.split().map(len).max())


def _check_ranked(sub: pd.DataFrame, name: str, column: str, classes: Sequence[str], k: int) -> None:
    """Each row of a ranked column of `sub` (the submission `name` as text): 1 to k distinct class names,
    space-separated; else the line is named."""
    for line, value in enumerate(sub[column], start=2):
        names = value.split()
        unknown = [n for n in names if n not in classes]
        if not names or unknown or len(names) > k or len(set(names)) < len(names):
            why = f"{unknown[0]!r} is no class" if unknown else f"needs 1 to {k} distinct classes"
            raise SubmissionError(f"{name}: column {column} at line {line} holds {value!r}: {why}.")


# metrics that read each submitted value as a probability (Kaggle clips them): one outside [0, 1] is a mistake
PROBABILITY_METRICS = ("log_loss", "balanced_log_loss")


def validate(data: Data, path: Path, submission: str | None = None, metric: str | None = None) -> None:
    """The shared CSV check; boolean columns (pandas counts them as numeric) are checked here as True/False, a
    ranked column (several class names a row) name by name, and grades (submission "grades") as the target's.
    Probabilities scored by a log loss (`metric` in PROBABILITY_METRICS) must lie in [0, 1]."""
    sample = read_csv(Path(data.sample_submission))
    flags = [c for c in sample.columns[1:] if pd.api.types.is_bool_dtype(sample[c])]
    text = [c for c in sample.columns[1:] if c not in flags and _holds_text(sample[c], submission)]
    ranked_cols = [c for c in text if ranked_column(sample[c], data.classes)]
    allowed = {c: data.classes for c in text if c not in ranked_cols} if data.classes is not None else None
    numeric = [c for c in sample.columns[1:] if c not in flags and c not in text]
    rules = None
    if submission == "probabilities" and metric in PROBABILITY_METRICS:
        rules = {c: ValueRule(0.0, 1.0, why=f"{metric} reads each value as a probability") for c in numeric}
    if flags:
        sub = _validate_flags(sample, flags, path, allowed)
    else:
        sub = validate_submission(path, data.sample_submission, allowed=allowed, rules=rules)  # the file once, as text
    for c in ranked_cols:
        _check_ranked(sub, Path(path).name, c, data.classes or [], ranked_width(sample[c]))
    if submission == "labels" and numeric:  # classes written as numbers: each value one of them (0/1 per target)
        classes = data.classes if data.classes is not None else ["0", "1"]
        for c in numeric:
            _check_number_labels(sub, Path(path).name, c, as_sample_values(classes, sample[c]) or [])
    if submission == "grades":
        _check_grades(sub, Path(path).name, list(sample.columns[1:]), target_grades(data))


def _holds_text(sample_col: pd.Series, submission: str | None) -> bool:
    """Whether a sample's value column is checked as text: it holds text, or it is empty (or holds only words pandas
    reads as missing, such as None) while the submission holds labels, which are then checked as the class names
    write_submission writes (an empty column says nothing of how they are written)."""
    if not pd.api.types.is_numeric_dtype(sample_col):
        return True
    return submission == "labels" and bool(sample_col.isna().all())


def _check_number_labels(sub: pd.DataFrame, name: str, column: str, classes: list) -> None:
    """Each value of a label column the sample writes as numbers (the submission `name` as text): one of the classes;
    else the line is named (a 0.5 or a 7 in a 0/1 column passed the number check)."""
    values = pd.to_numeric(sub[column], errors="coerce")
    bad = np.flatnonzero(~values.isin([float(v) for v in classes]).to_numpy())
    if len(bad):
        raise SubmissionError(
            f"{name}: column {column} at line {bad[0] + 2} holds {sub[column].iloc[bad[0]]!r}, not one of the "
            f"classes ({listed(classes)})."
        )


def _check_grades(sub: pd.DataFrame, name: str, columns: list[str], grades: np.ndarray) -> None:
    """Each value of a grades column of `sub` (the submission `name` as text): one of the target's grades, written
    as a whole number; else the line is named."""
    shown = {f"{g + 0.0:.0f}" for g in grades}  # + 0.0: -0.0 reads "0"
    for c in columns:
        bad = np.flatnonzero(~sub[c].isin(shown).to_numpy())
        if len(bad):
            raise SubmissionError(
                f"{name}: column {c} at line {bad[0] + 2} holds {sub[c].iloc[bad[0]]!r}, not one of the "
                f"target's grades ({', '.join(sorted(shown, key=float))})."
            )


def _validate_flags(sample: pd.DataFrame, flags: list[str], path: Path, allowed: dict | None) -> pd.DataFrame:
    """True/False columns checked here, the rest by the shared check on copies without them; the submission as
    text."""
    sub = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(sub.columns) != list(sample.columns):
        raise SubmissionError(
            f"{Path(path).name}: wrong header. Expected columns {list(sample.columns)}, got {list(sub.columns)}."
        )
    for c in flags:
        if c in sub:
            bad = np.flatnonzero(~sub[c].isin(["True", "False"]).to_numpy())
            if len(bad):
                raise SubmissionError(
                    f"{Path(path).name}: column {c} must be True or False; got {sub[c].iloc[bad[0]]!r} at line "
                    f"{bad[0] + 2}."
                )
    with tempfile.TemporaryDirectory() as tmp:
        stripped_sample, stripped_sub = Path(tmp) / "sample.csv", Path(tmp) / Path(path).name
        sample.drop(columns=flags).to_csv(stripped_sample, index=False)
        sub.drop(columns=[c for c in flags if c in sub]).to_csv(stripped_sub, index=False)
        validate_submission(stripped_sub, stripped_sample, allowed=allowed)
    return sub
