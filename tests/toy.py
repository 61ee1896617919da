"""Tiny competition packages written into tmp_path: regression on numeric columns (with optional slow models and a
preset), and a 3-class classification with probability outputs."""

from __future__ import annotations

import textwrap
from pathlib import Path

TOY = '''
"""Toy regression competition for the runner's tests."""
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor

from pipeline.contract import Data, Metric

KAGGLE_SLUG = "toy-competition"
METRIC = Metric("rmse", greater_is_better=False)
EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv"]


@dataclass(frozen=True)
class Config:
    folds: int = 3
    sleep: float = 0.0
    slow_sleep: float = 0.0
    alpha: float = 1.0
    threads: bool = False
    warns: bool = False


PRESETS = {"strong": {"alpha": 100.0}}


class Threads(BaseEstimator, RegressorMixin):
    """Predicts the n_jobs the runner set on it (shows what --jobs reached the estimator)."""

    def __init__(self, n_jobs=-1):
        self.n_jobs = n_jobs

    def fit(self, X, y):
        self.used_ = self.n_jobs
        return self

    def predict(self, X):
        return np.full(len(X), float(self.used_))


class Warns(Ridge):
    """A ridge that warns as a model that did not converge does."""

    def fit(self, X, y):
        from sklearn.exceptions import ConvergenceWarning
        import warnings

        warnings.warn("Objective did not converge (toy)", ConvergenceWarning)
        return super().fit(X, y)


class Slow(BaseEstimator, RegressorMixin):
    def __init__(self, sleep=0.0, alpha=1.0):
        self.sleep = sleep
        self.alpha = alpha

    def fit(self, X, y):
        time.sleep(self.sleep)
        self.model_ = Ridge(alpha=self.alpha).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def load(cfg, data_dir):
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    cols = [c for c in train.columns if c.startswith("x")]
    return Data(X=train[cols], y=train["target"].to_numpy(float), X_test=test[cols], test_ids=test["id"].to_numpy(),
                sample_submission=data_dir / "sample_submission.csv")


def models(cfg):
    out = {"ridge": Slow(cfg.sleep, cfg.alpha), "knn": KNeighborsRegressor(5), "slow": Slow(cfg.slow_sleep, 10.0)}
    return out | ({"threads": Threads()} if cfg.threads else {}) | ({"warns": Warns()} if cfg.warns else {})


def score(y_true, pred):
    return float(np.sqrt(np.mean((np.asarray(pred).reshape(-1) - y_true) ** 2)))


def write_submission(data, pred, path):
    pd.DataFrame({"id": data.test_ids, "target": np.asarray(pred)[:, 0]}).to_csv(path, index=False)


def sample(dest):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(0, 0.1, 120)
    train = pd.DataFrame(X, columns=["x0", "x1", "x2", "x3"]).assign(target=y)
    train.insert(0, "id", np.arange(120))
    test = pd.DataFrame(rng.normal(size=(30, 4)), columns=["x0", "x1", "x2", "x3"])
    test.insert(0, "id", np.arange(1000, 1030))
    train.to_csv(dest / "train.csv", index=False)
    test.to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "target": 0.0}).to_csv(dest / "sample_submission.csv", index=False)
'''


TOY_CLASSES = '''
"""Toy 3-class competition (log loss on probabilities) for ensembles of classification runs."""
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier

from pipeline.contract import Data, Metric
from pipeline.submission import validate_submission

KAGGLE_SLUG = "toy-classes"
METRIC = Metric("log_loss", greater_is_better=False)
FOLDS = "stratified"
EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv"]
CLASSES = ["a", "b", "c"]


@dataclass(frozen=True)
class Config:
    folds: int = 3


def load(cfg, data_dir):
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    cols = ["x0", "x1"]
    y = train["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    return Data(X=train[cols], y=y, X_test=test[cols], test_ids=test["id"].to_numpy(),
                sample_submission=data_dir / "sample_submission.csv", classes=CLASSES)


def models(cfg):
    return {"logreg": LogisticRegression(), "knn": KNeighborsClassifier(15)}


def score(y_true, pred):
    return float(log_loss(y_true, np.clip(pred, 1e-15, 1), labels=range(3)))


def write_submission(data, pred, path):
    out = pd.DataFrame(np.asarray(pred), columns=CLASSES)
    out.insert(0, "id", data.test_ids)
    out.to_csv(path, index=False)


def validate(data, path):
    validate_submission(path, data.sample_submission)


def sample(dest):
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    X = rng.normal(size=(150, 2)) + np.array([[0, 0], [1.5, 0], [0, 1.5]])[y]
    train = pd.DataFrame(X, columns=["x0", "x1"]).assign(label=np.array(CLASSES)[y])
    train.insert(0, "id", np.arange(150))
    test = pd.DataFrame(rng.normal(size=(30, 2)), columns=["x0", "x1"])
    test.insert(0, "id", np.arange(1000, 1030))
    train.to_csv(dest / "train.csv", index=False)
    test.to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], **{c: 1 / 3 for c in CLASSES}}).to_csv(dest / "sample_submission.csv", index=False)
'''


def make_toy(root: Path, name: str = "toycomp", source: str = TOY) -> Path:
    """Write the toy competition package into root/name and return its folder."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source))
    return folder
