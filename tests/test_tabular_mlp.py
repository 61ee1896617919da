"""The generic recipe's MLP: it learns, stops early on the runner's validation rows, is seeded, keeps deadlines."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.fitting import prepare
from pipeline.tabular.mlp import TabularMLP


def frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A number that acts through a curve, a category, noise; the latent value behind every target."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    cat = rng.choice(["a", "b", "c"], n)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "cat": cat})
    return X, 3 * np.sin(x) + 2 * (cat == "a") + rng.normal(0, 0.3, n)


def test_regression_learns_a_curve_and_stops_early() -> None:
    X, y = frame(1200, 0)
    X_te, y_te = frame(400, 1)
    mlp = TabularMLP("regression", max_epochs=300, patience=10).fit(X, y)
    rmse = float(np.sqrt(np.mean((mlp.predict(X_te) - y_te) ** 2)))
    linear_fit = np.polyfit(X["x"], y, 1)  # the best straight line in x misses the curve
    line = float(np.sqrt(np.mean((np.polyval(linear_fit, X_te["x"]) - y_te) ** 2)))
    assert rmse < 0.5 * line and rmse < 0.25 * float(np.std(y_te)), (rmse, line)
    assert 0 < mlp.best_epochs_[0] < 300  # stopped on its validation rows, not at the epoch cap
    assert len(mlp.train_rows_) == 1080  # without the runner's rows, 10% were held out for stopping


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classification_beats_the_majority_class(n_classes: int) -> None:
    X, latent = frame(900, 2)
    y = np.digitize(latent, np.quantile(latent, np.linspace(0, 1, n_classes + 1)[1:-1]))
    mlp = TabularMLP("binary" if n_classes == 2 else "multiclass").fit(X.iloc[:700], y[:700])
    proba = mlp.predict_proba(X.iloc[700:])
    assert proba.shape == (200, n_classes) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    accuracy = float(np.mean(mlp.predict(X.iloc[700:]) == y[700:]))
    assert accuracy > np.bincount(y[700:]).max() / 200 + 0.2


def test_the_scored_rows_never_pick_the_epoch_unless_asked_and_seeds_reproduce() -> None:
    X, y = frame(600, 3)
    context = SimpleNamespace(eval_set=(X.iloc[500:], y[500:]), device="cpu", deadline=None)
    inner = TabularMLP("regression", random_state=1).fit(X.iloc[:500], y[:500], context=context)
    assert len(inner.train_rows_) == 450  # the default stops on 10% of the training rows, not the fold's rows
    a = TabularMLP("regression", valid_fraction=0, random_state=1).fit(X.iloc[:500], y[:500], context=context)
    assert len(a.train_rows_) == 500  # every training row trains: the fold's validation rows stop it
    b = TabularMLP("regression", valid_fraction=0, random_state=1).fit(X.iloc[:500], y[:500], context=context)
    c = TabularMLP("regression", valid_fraction=0, random_state=2).fit(X.iloc[:500], y[:500], context=context)
    assert np.array_equal(a.predict(X), b.predict(X)) and not np.allclose(a.predict(X), c.predict(X))


def test_a_past_deadline_ends_training_after_one_epoch() -> None:
    X, y = frame(600, 4)
    context = SimpleNamespace(eval_set=None, device="cpu", deadline=time.monotonic() - 1)
    mlp = TabularMLP("regression", bag=3).fit(X, y, context=context)
    assert mlp.best_epochs_ == [1]  # one network, one epoch: the deadline had passed


def test_the_runner_sets_its_seed_threads_and_precision() -> None:
    est = prepare(TabularMLP("regression"), seed=7, n_jobs=2, engineering={"precision": "fp32"})
    assert (est.random_state, est.n_jobs, est.precision) == (7, 2, "fp32")


def test_an_array_without_column_names_is_encoded() -> None:
    # the encoder names an array's columns "0", "1", ... (it failed on integer names), e.g. after a preprocessing step
    X, y = frame(300, 5)
    numbers = X[["x", "noise"]].to_numpy()
    mlp = TabularMLP("regression", max_epochs=20).fit(numbers, y)
    assert mlp.encoder_.feature_names_in_ == ["0", "1"] and mlp.predict(numbers).shape == (300,)
