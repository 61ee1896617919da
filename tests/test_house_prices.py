"""House prices end to end on the generated sample, the metric, the sample's fidelity and fold-safe features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.house_prices import Config, load, models, sample, score
from competitions.house_prices.boosted import ResidualBoosted
from competitions.house_prices.config import ALL_MODELS
from competitions.house_prices.sample import SCHEMA
from pipeline.cli import main

FAST = ["--set", "gbr_trees=200", "--set", "xgb_trees=200", "--set", "lgbm_trees=200", "--set", "boost_trees=100"]


def test_end_to_end_on_sample_three_folds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "competitions/house_prices", "--sample", "--folds", "3", "--quiet", *FAST]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["sample"] is True and len(s["models"]) == len(ALL_MODELS)
    folds = np.load(run_dir / "folds.npy")
    assert len(np.unique(folds[folds >= 0])) == 3 and (folds == -1).sum() == s["n_rows"] - s["cv_rows"] > 0
    sub = pd.read_csv(s["published"])
    ref = pd.read_csv(tmp_path / "data" / "sample" / "house_prices" / "sample_submission.csv")
    assert list(sub.columns) == list(ref.columns) == ["Id", "SalePrice"]
    assert sub["Id"].tolist() == ref["Id"].tolist()
    assert (sub["SalePrice"] > 10000).all()
    # the sample's price is learnable: far better than predicting the mean log price
    y = pd.read_csv(tmp_path / "data" / "sample" / "house_prices" / "train.csv")["SalePrice"]
    baseline = float(np.std(np.log(y)))
    assert s["cv"] < 0.6 * baseline
    assert (run_dir / "plots" / "residuals.png").stat().st_size > 1000


def test_sample_is_deterministic_and_has_kaggle_schema(tmp_path: Path) -> None:
    sample(tmp_path / "a")
    sample(tmp_path / "b")
    for f in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    train = pd.read_csv(tmp_path / "a" / "train.csv")
    test = pd.read_csv(tmp_path / "a" / "test.csv")
    schema = json.loads(SCHEMA.read_text())["columns"]
    assert list(train.columns) == [c["name"] for c in schema] and len(train.columns) == 81
    assert list(test.columns) == [c["name"] for c in schema if c["name"] != "SalePrice"]
    for c in schema:
        if c["kind"] == "cat":
            assert set(train[c["name"]].dropna()) <= set(c["levels"]), c["name"]
            assert not pd.api.types.is_numeric_dtype(train[c["name"]]), c["name"]
        else:
            assert pd.api.types.is_numeric_dtype(train[c["name"]]), c["name"]
    # missing-value patterns: no basement means every basement category is missing together
    no_bsmt = train["TotalBsmtSF"] == 0
    assert no_bsmt.any() and train.loc[no_bsmt, "BsmtQual"].isna().all()
    assert train["PoolQC"].isna().mean() > 0.9 and train["LotFrontage"].isna().any()


def test_metric_is_rmse_of_logs() -> None:
    y = np.array([100000.0, 200000.0])
    pred = np.array([[110000.0], [180000.0]])
    expected = np.sqrt(((np.log(110000) - np.log(100000)) ** 2 + (np.log(180000) - np.log(200000)) ** 2) / 2)
    assert score(y, pred) == pytest.approx(expected)


def test_outlier_rule_is_switchable(tmp_path: Path) -> None:
    sample(tmp_path)
    train = pd.read_csv(tmp_path / "train.csv")
    train.loc[0, ["GrLivArea", "SalePrice"]] = [4500, 150000]
    train.to_csv(tmp_path / "train.csv", index=False)
    kept = load(Config(), tmp_path)
    assert len(kept.y) == len(train) and kept.train_only[0]
    assert kept.info["outliers_not_scored"] == kept.train_only.sum()
    assert load(Config(drop_outliers=False), tmp_path).train_only is None


def test_preprocessing_learns_only_from_the_training_fold(tmp_path: Path) -> None:
    sample(tmp_path)
    data = load(Config(), tmp_path)
    lasso = models(Config(models=("lasso",)))["lasso"]
    X = data.X.copy()
    X.loc[: len(X) // 2, "LotFrontage"] = np.nan
    half = len(X) // 2
    fitted = lasso.fit(X.iloc[:half], data.y[:half])
    imputer = fitted.model_.regressor_.named_steps["lot_frontage"]
    expected = X.iloc[:half].groupby("Neighborhood")["LotFrontage"].median().dropna().to_dict()
    assert imputer.medians_ == expected
    # unseen levels in test do not break the one-hot step
    Xt = data.X_test.copy()
    Xt.loc[Xt.index[0], "Neighborhood"] = "Atlantis"
    assert np.isfinite(fitted.predict(Xt)).all()


def test_bad_input_names_file_and_row(tmp_path: Path) -> None:
    from pipeline.contract import ContractError

    sample(tmp_path)
    train = pd.read_csv(tmp_path / "train.csv")
    train["SalePrice"] = train["SalePrice"].astype(object)
    train.loc[6, "SalePrice"] = "n/a?"
    train.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(
        ContractError, match=r"train.csv: SalePrice must be a positive number; line 8 \(Id 7\) has 'n/a\?'"
    ):
        load(Config(), tmp_path)
    pd.read_csv(tmp_path / "test.csv").drop(columns=["GrLivArea"]).to_csv(tmp_path / "test.csv", index=False)
    train.loc[6, "SalePrice"] = 100000
    train.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ContractError, match="test.csv: missing feature column"):
        load(Config(), tmp_path)


def test_residual_trees_learn_what_the_linear_model_misses() -> None:
    from lightgbm import LGBMRegressor
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 4))
    y = X @ [1.0, -0.5, 0.3, 0.0] + 0.8 * (X[:, 0] > 0) * (X[:, 1] > 0) + rng.normal(0, 0.1, len(X))
    trees = LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=5, verbose=-1, n_jobs=1)
    base = Ridge(1.0).fit(X[:800], y[:800])
    boosted = ResidualBoosted(Ridge(1.0), trees).fit(X[:800], y[:800])
    rmse = lambda p: float(np.sqrt(np.mean((p - y[800:]) ** 2)))  # noqa: E731
    # the interaction is invisible to the straight line; the trees on its residuals recover most of it
    assert rmse(boosted.predict(X[800:])) < 0.6 * rmse(base.predict(X[800:]))
    np.testing.assert_allclose(boosted.base_.predict(X[800:]), base.predict(X[800:]))


def test_linear_features_switch_adds_the_engineered_columns(tmp_path: Path) -> None:
    sample(tmp_path)
    data = load(Config(), tmp_path)

    def width(cfg: Config) -> int:
        pipe = models(cfg)["lasso"].model.regressor
        return pipe[:-1].fit_transform(data.X, np.log(data.y)).shape[1]

    on, off = width(Config(models=("lasso",))), width(Config(models=("lasso",), linear_features=False))
    # 6 squares, 4 products, 5 presence flags, 2 year flags, and the two grades one-hot (a column per level)
    assert on >= off + 17 + 2
