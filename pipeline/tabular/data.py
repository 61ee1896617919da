"""Reading a tabular competition's CSVs into the contract's Data, and writing predictions in the sample's format."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.submission import SubmissionError, validate_submission

SUBMISSIONS = ("values", "labels", "probabilities")


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV, or a one-line error naming the file."""
    try:
        return pd.read_csv(path)
    except Exception as e:
        raise ContractError(f"{path}: cannot be read as CSV ({type(e).__name__}: {e}).") from None


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


def load_tables(
    data_dir: Path,
    train_file: str,
    test_file: str,
    sample_file: str,
    id_col: str,
    target: str,
    task: str,
    drop: Sequence[str] = (),
) -> Data:
    """Raw feature frames (columns of both train and test, minus id, target and `drop`), target, test ids.

    Columns only in train (the target, and extras such as leaked outcomes) never become features. Classification
    targets become class indices into `Data.classes` (class names as strings).
    """
    data_dir = Path(data_dir)
    train, test = read_csv(data_dir / train_file), read_csv(data_dir / test_file)
    if target not in train:
        raise ContractError(f"{data_dir / train_file}: no target column {target!r}; columns: {', '.join(train)}.")
    if id_col not in test:
        raise ContractError(f"{data_dir / test_file}: no id column {id_col!r}; columns: {', '.join(test)}.")
    missing = np.flatnonzero(train[target].isna().to_numpy())
    if len(missing):
        raise ContractError(f"{data_dir / train_file}: line {missing[0] + 2} has no {target} (missing value).")
    features = [c for c in train.columns if c in test.columns and c not in (id_col, target) and c not in drop]
    if not features:
        raise ContractError(f"{data_dir / train_file}: no feature column is also in {test_file}.")
    classes = None
    if task == "regression":
        y_num = pd.to_numeric(train[target], errors="coerce")
        bad = np.flatnonzero(y_num.isna().to_numpy())
        if len(bad):
            raise ContractError(
                f"{data_dir / train_file}: {target} must be a number for regression; line {bad[0] + 2} has "
                f"{train[target].iloc[bad[0]]!r}."
            )
        y = y_num.to_numpy(dtype=float)
    else:
        classes = class_names(train[target])
        y = as_names(train[target]).map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    return Data(
        X=train[features].reset_index(drop=True),
        y=y,
        X_test=test[features].reset_index(drop=True),
        test_ids=test[id_col].to_numpy(),
        sample_submission=data_dir / sample_file,
        classes=classes,
        data_dir=data_dir,
        info={"target": target, "id": id_col, "task": task, "features": features},
    )


def _as_sample_values(labels: list[str], sample_col: pd.Series) -> list:
    """Class names written the way the sample writes them: numbers as numbers, True/False as such, else text."""
    if pd.api.types.is_bool_dtype(sample_col):
        return labels
    if pd.api.types.is_numeric_dtype(sample_col):
        nums = pd.to_numeric(pd.Series(labels), errors="coerce")
        if nums.notna().all():
            return [int(v) if float(v).is_integer() else float(v) for v in nums]
    return labels


def write_submission(data: Data, pred: np.ndarray, path: Path, submission: str) -> None:
    """The sample submission's header and id order, filled with values, labels or class probabilities."""
    if submission not in SUBMISSIONS:
        raise ValueError(f"submission must be one of {SUBMISSIONS}, got {submission!r}.")
    sample = read_csv(Path(data.sample_submission))
    id_col, value_cols = sample.columns[0], list(sample.columns[1:])
    pred = np.asarray(pred, dtype=float).reshape(len(data.test_ids), -1)
    out = pd.DataFrame({id_col: data.test_ids})
    if submission == "values":
        out[value_cols[0]] = pred[:, 0]
    elif submission == "labels":
        labels = [data.classes[i] for i in pred.argmax(axis=1)] if pred.shape[1] > 1 else None
        if labels is None:  # one probability column: the positive class
            labels = [data.classes[int(p > 0.5)] for p in pred[:, 0]]
        out[value_cols[0]] = _as_sample_values(labels, sample[value_cols[0]])
    elif len(value_cols) == 1:  # binary: probability of the positive (last) class
        out[value_cols[0]] = pred[:, -1]
    else:
        index = {c: i for i, c in enumerate(data.classes or [])}
        cols = [index.get(str(c)) for c in value_cols]
        if None in cols:
            cols = list(range(len(value_cols)))  # the sample names classes differently: its order is the classes'
        for c, j in zip(value_cols, cols, strict=True):
            out[c] = pred[:, j]
    order = pd.Series(range(len(out)), index=out[id_col].astype(str))
    sample_ids = sample[id_col].astype(str)
    if set(sample_ids) == set(order.index) and len(sample_ids) == len(order):
        out = out.iloc[order.loc[sample_ids].to_numpy()]  # the sample's row order, whatever test.csv's was
    out.to_csv(path, index=False)


def validate(data: Data, path: Path) -> None:
    """The shared CSV check; boolean columns (pandas counts them as numeric) are checked here as True/False."""
    sample = read_csv(Path(data.sample_submission))
    flags = [c for c in sample.columns[1:] if pd.api.types.is_bool_dtype(sample[c])]
    text = [c for c in sample.columns[1:] if c not in flags and not pd.api.types.is_numeric_dtype(sample[c])]
    allowed = {c: data.classes for c in text} if data.classes is not None else None
    if not flags:
        validate_submission(path, data.sample_submission, allowed=allowed)
        return
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
