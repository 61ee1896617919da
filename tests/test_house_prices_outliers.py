"""House Prices' documented outliers: never scored, never fitted by the models, the price of test houses like them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from competitions.house_prices import sample
from competitions.house_prices.outliers import SeparateOutliers, documented_outliers
from pipeline.cli import main
from pipeline.folds import make_folds


class Recorder(RegressorMixin, BaseEstimator):
    """Predicts the mean training price; remembers the rows it was fitted on."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Recorder:
        self.areas_ = X["GrLivArea"].tolist()
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.mean_)


def _frame(areas: list[float], kinds: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"GrLivArea": areas, "SaleCondition": kinds})


def test_rule_rows_are_not_fitted_and_price_houses_like_them() -> None:
    X = _frame([1000, 1500, 4676, 5642, 4316], ["Normal", "Normal", "Partial", "Partial", "Normal"])
    y = np.array([150000, 200000, 184750, 160000, 755000], dtype=float)
    model = SeparateOutliers(Recorder()).fit(X, y)
    assert model.model_.areas_ == [1000, 1500, 4316]  # the expensive big normal sale stays in
    test = _frame([5095, 5095, 2000], ["Partial", "Normal", "Partial"])
    pred = model.predict(test)
    per_sqft = np.median(np.log([184750 / 4676, 160000 / 5642]))
    assert pred[0] == pytest.approx(np.exp(per_sqft) * 5095)  # about $170k, not an extrapolated million
    assert pred[1] == pred[2] == pytest.approx(np.mean([150000, 200000, 755000]))


def test_without_rule_rows_nothing_is_rerouted() -> None:
    X = _frame([1000, 1500, 4316], ["Normal", "Partial", "Normal"])
    y = np.array([150000, 200000, 755000], dtype=float)
    model = SeparateOutliers(Recorder()).fit(X, y)
    assert model.log_price_per_sqft_ is None
    assert model.predict(_frame([5095], ["Partial"]))[0] == pytest.approx(np.mean(y))


def test_run_scores_the_same_rows_and_folds_and_prices_the_test_twin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "hp"
    sample(data_dir)
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    cols = ["GrLivArea", "SalePrice", "SaleCondition"]
    train.loc[[3, 7], cols] = [[4676, 184750, "Partial"], [5642, 160000, "Partial"]]
    test.loc[0, ["GrLivArea", "SaleCondition"]] = [5095, "Partial"]
    train.to_csv(data_dir / "train.csv", index=False)
    test.to_csv(data_dir / "test.csv", index=False)
    args = ["run", "competitions/house_prices", "--data", str(data_dir), "--models", "lasso,lightgbm", "--quiet"]
    assert main([*args, "--folds", "3"]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    folds = np.load(run_dir / "folds.npy")
    keep = ~documented_outliers(train, train["SalePrice"].to_numpy(), 4000, 300000)
    assert not keep[[3, 7]].any()
    assert (folds[~keep] == -1).all()  # in every fold's training rows, never validated
    assert (folds[keep] == make_folds(train["SalePrice"].to_numpy()[keep], 3, 0)).all()  # as if they were dropped
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cv_rows"] == keep.sum() and summary["n_rows"] == len(train)
    price = pd.read_csv(summary["published"]).set_index("Id")["SalePrice"]
    twin = price.loc[test.loc[0, "Id"]]
    assert twin == pytest.approx(np.exp(np.median(np.log([184750 / 4676, 160000 / 5642]))) * 5095, rel=1e-6)
    assert price.drop(test.loc[0, "Id"]).min() > 0
