"""Reading Kaggle's files, the metric, and the submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competitions.house_prices.outliers import documented_outliers
from pipeline.contract import ContractError, Data
from pipeline.listing import listed
from pipeline.submission import ValueRule, validate_submission

EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv"]
TARGET = "SalePrice"
ID = "Id"
# Kaggle scores RMSE of log prices: a price must be a finite number above 0 (finite is checked for every column).
SUBMISSION_RULES = {TARGET: ValueRule(low=0.0, low_open=True, why="the metric takes the log of the price")}


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except Exception as e:
        raise ContractError(f"{path}: cannot be read as CSV ({e}).") from None


def load(cfg: Any, data_dir: Path) -> Data:
    """Raw train/test frames (all 79 feature columns), the price target and test ids; the outlier rule's rows are
    kept as train_only (in every fold's training rows, never scored; outliers.py says what the models do with them)."""
    train, test = _read(data_dir / "train.csv"), _read(data_dir / "test.csv")
    for name, df, need in (("train.csv", train, (ID, TARGET)), ("test.csv", test, (ID,))):
        missing = [c for c in need if c not in df]
        if missing:
            raise ContractError(f"{data_dir / name}: missing column(s) {', '.join(missing)}.")
    price = pd.to_numeric(train[TARGET], errors="coerce")
    bad = np.flatnonzero(~(price > 0).to_numpy())
    if len(bad):
        raise ContractError(
            f"{data_dir / 'train.csv'}: {TARGET} must be a positive number; line {bad[0] + 2} "
            f"(Id {train[ID].iloc[bad[0]]}) has {train[TARGET].iloc[bad[0]]!r}."
        )
    features = [c for c in train.columns if c not in (ID, TARGET)]
    _check_columns(data_dir, features, [c for c in test.columns if c != ID])
    y = price.to_numpy(dtype=float)
    rule = documented_outliers(train, y, cfg.outlier_area, cfg.outlier_price) if cfg.drop_outliers else None
    return Data(
        X=train[features],
        y=y,
        X_test=test[features],
        test_ids=test[ID].to_numpy(),
        sample_submission=data_dir / "sample_submission.csv",
        data_dir=data_dir,
        info={"outliers_not_scored": 0 if rule is None else int(rule.sum())},
        train_only=rule if rule is not None and rule.any() else None,
    )


def load_test(cfg: Any, data_dir: Path) -> Data:
    """The test houses alone (X and y None), for `predict` of a new test set without train.csv: test.csv's feature
    columns (predict takes the run's, in its order). Nothing of the training rows is needed: the outlier rule's
    price per sq ft, which prices test houses like them, is fitted into each saved model (outliers.py)."""
    test = _read(data_dir / "test.csv")
    if ID not in test:
        raise ContractError(f"{data_dir / 'test.csv'}: missing column(s) {ID}.")
    return Data(
        X=None,
        y=None,
        X_test=test[[c for c in test.columns if c not in (ID, TARGET)]],
        test_ids=test[ID].to_numpy(),
        sample_submission=data_dir / "sample_submission.csv",
        data_dir=data_dir,
    )


def _check_columns(data_dir: Path, train_features: list[str], test_features: list[str]) -> None:
    """train.csv and test.csv must share their feature columns; blame the file whose column is not Kaggle's."""
    only_train = [c for c in train_features if c not in test_features]
    only_test = [c for c in test_features if c not in train_features]
    if not only_train:
        return
    known = _schema_columns()
    odd_train = [c for c in only_train if c not in known]
    if odd_train or not known:
        renamed = f" (test.csv has {only_test[0]!r} instead: renamed?)" if only_test else ""
        raise ContractError(
            f"{data_dir / 'train.csv'}: column {only_train[0]!r} is not a column of the competition's data and not in "
            f"test.csv{renamed}; restore the file as downloaded."
        )
    raise ContractError(f"{data_dir / 'test.csv'}: missing feature column(s) {listed(only_train)}.")


def _schema_columns() -> set[str]:
    """Kaggle's column names (from schema.json beside this file), or an empty set when it is absent."""
    import json

    try:
        return {c["name"] for c in json.loads((Path(__file__).parent / "schema.json").read_text())["columns"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def validate(data: Data, path: Path) -> None:
    """Id,SalePrice against the sample submission: its ids in its order, prices finite and > 0."""
    validate_submission(path, data.sample_submission, rules=SUBMISSION_RULES)


def score(y_true: np.ndarray, pred: np.ndarray) -> float:
    """Kaggle's metric: RMSE between log(predicted) and log(true) price."""
    p = np.clip(np.asarray(pred, dtype=float).reshape(-1), 1.0, None)
    return float(np.sqrt(np.mean((np.log(p) - np.log(np.asarray(y_true, dtype=float).reshape(-1))) ** 2)))


def write_submission(data: Data, pred: np.ndarray, path: Path) -> None:
    """Id,SalePrice in the test file's order."""
    prices = np.asarray(pred, dtype=float).reshape(len(data.test_ids), -1)[:, 0]
    pd.DataFrame({ID: data.test_ids, TARGET: prices}).to_csv(path, index=False)
