"""A minimal competition: copy this file to competitions/<name>/__init__.py and fill in the data and the models.

Regression on numeric columns, scored by RMSE, one Ridge model; `python -m pipeline run competitions/<name> --sample`
runs it end to end on the made-up data of sample(). The contract: docs/architecture.md and pipeline/contract.py.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.contract import Data, Metric

KAGGLE_SLUG = "my-competition"  # the slug in the competition's URL
METRIC = Metric("rmse", greater_is_better=False)
EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv"]


@dataclass(frozen=True)
class Config:  # science only, a default on every field; `--set alpha=3` changes one for a run
    folds: int = 5
    alpha: float = 1.0


PRESETS = {"sample": {"folds": 3}}  # what --sample runs with


def load(cfg: Config, data_dir: Path) -> Data:
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    cols = [c for c in train.columns if c not in ("id", "target")]
    return Data(
        X=train[cols],
        y=train["target"].to_numpy(float),
        X_test=test[cols],
        test_ids=test["id"].to_numpy(),
        sample_submission=data_dir / "sample_submission.csv",
    )


def models(cfg: Config) -> dict:  # unfitted estimators; learned preprocessing inside, so it is fitted per fold
    return {"ridge": make_pipeline(StandardScaler(), Ridge(alpha=cfg.alpha))}


def score(y_true: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred).reshape(-1) - y_true) ** 2)))


def write_submission(data: Data, pred: np.ndarray, path: Path) -> None:
    pd.DataFrame({"id": data.test_ids, "target": np.asarray(pred).reshape(-1)}).to_csv(path, index=False)


def sample(dest: Path) -> None:  # a small made-up copy of the raw files, for --sample and the tests
    rng = np.random.default_rng(0)
    X, X_test = rng.normal(size=(200, 3)), rng.normal(size=(40, 3))
    train = pd.DataFrame(X, columns=["a", "b", "c"]).assign(target=X @ [2.0, -1.0, 0.5] + rng.normal(0, 0.1, 200))
    test = pd.DataFrame(X_test, columns=["a", "b", "c"])
    train.insert(0, "id", range(200))
    test.insert(0, "id", range(200, 240))
    train.to_csv(dest / "train.csv", index=False)
    test.to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "target": 0.0}).to_csv(dest / "sample_submission.csv", index=False)
