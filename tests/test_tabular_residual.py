"""The generic recipe's residual boosters ("linear_boosted", "svm_boosted"): a small LightGBM on the linear model's
residuals learns what the line cannot, a generated competition runs it, and its CV stays out of fold."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_new_command import new, run, write_zip  # noqa: E402

from pipeline.tabular.recipe import TabularRecipe, model_set  # noqa: E402


def interaction(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """y = x1 + x2 + 2 x1 x2 + noise: the product is no line in x1 and x2; a category and a noise column beside."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    df = pd.DataFrame({"x1": x1, "x2": x2, "noise": rng.normal(size=n), "color": rng.choice(["a", "b", "c"], n)})
    return df, x1 + x2 + 2 * x1 * x2 + rng.normal(0, 0.3, n)


def test_the_booster_fits_the_interaction_the_line_cannot() -> None:
    X, y = interaction(600, 0)
    X_new, y_new = interaction(400, 1)
    models = model_set("regression", TabularRecipe(models=("linear", "linear_boosted", "svm", "svm_boosted")))
    rmse = {m: float(np.sqrt(np.mean((est.fit(X, y).predict(X_new) - y_new) ** 2))) for m, est in models.items()}
    assert rmse["linear"] > 1.5  # the product's spread: the line misses it whole
    assert rmse["linear_boosted"] < 0.5 * rmse["linear"]
    assert rmse["svm_boosted"] < rmse["svm"]


def test_a_log_target_is_fitted_on_logs_and_predicted_back() -> None:
    X, y = interaction(400, 0)
    X_new, y_new = interaction(200, 1)
    cfg = TabularRecipe(models=("linear", "linear_boosted"), target_transform="log1p")
    fitted = {m: est.fit(X, np.exp(8 + 0.3 * y)) for m, est in model_set("regression", cfg).items()}
    assert abs(float(np.mean(fitted["linear_boosted"].base_.predict(X))) - 8.0) < 0.5  # the base fits log(1 + y)
    log_error = {}
    for m, est in fitted.items():
        pred = est.predict(X_new)
        assert (pred > 0).all() and np.median(pred) > 1000  # back on the prices' scale
        log_error[m] = np.sqrt(np.mean((np.log1p(pred) - np.log1p(np.exp(8 + 0.3 * y_new))) ** 2))
    assert log_error["linear_boosted"] < 0.5 * log_error["linear"]


def test_a_target_of_classes_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"linear_boosted.*regression only.*binary"):
        model_set("binary", TabularRecipe(models=("lightgbm", "linear_boosted")))


def relabelled(z: Path, path: Path, rows: np.ndarray) -> Path:
    """The download `z` again with train.csv's targets of `rows` replaced by far-off values."""
    with zipfile.ZipFile(z) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    train = pd.read_csv(io.BytesIO(files["train.csv"]))
    train.loc[rows, "target"] = 1000.0 + 50.0 * (np.arange(len(rows)) % 7)
    files["train.csv"] = train.to_csv(index=False).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def test_a_generated_competition_runs_it_out_of_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "residual.zip", "regression")
    assert new(tmp_path, "comp_residual", z) == 0
    sets = ("--set", "models=linear,linear_boosted,svm_boosted", "--set", "residual_trees=200")
    first = run(tmp_path, "comp_residual", z, *sets)
    sub = pd.read_csv(first["published"])
    sample = pd.read_csv(tmp_path / "data" / "residual" / "sample_submission.csv")
    assert list(sub.columns) == ["key", "target"] and sub["key"].tolist() == sample["key"].tolist()
    assert np.isfinite(sub["target"]).all() and sub["target"].between(0, 200).all()
    y = pd.read_csv(tmp_path / "data" / "residual" / "train.csv")["target"]
    assert first["models"]["linear_boosted"]["mean"] < 0.6 * float(y.std())  # it learns
    # the scored fold's labels changed: that fold's out-of-fold predictions stay as they were (no part of the
    # model saw them), every other fold's move (they trained on them)
    folds = np.load(Path(first["run_dir"]) / "folds.npy")
    scored = np.flatnonzero(folds == 0)
    again = run(tmp_path, "comp_residual", relabelled(z, tmp_path / "residual_relabelled.zip", scored), *sets)
    assert np.array_equal(np.load(Path(again["run_dir"]) / "folds.npy"), folds)
    for model in ("linear_boosted", "svm_boosted"):
        before, after = (np.load(Path(s["run_dir"]) / "oof" / f"{model}.npy") for s in (first, again))
        assert np.allclose(before[scored], after[scored], rtol=0, atol=1e-9)
        assert not np.allclose(before[folds != 0], after[folds != 0], rtol=0, atol=1e-3)
