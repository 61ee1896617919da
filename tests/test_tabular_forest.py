"""The generic recipe's forests ("extratrees", "randomforest"): what they learn, how they read raw columns, their
importances, their knobs, and a generated competition running them."""

from __future__ import annotations

import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_new_command import new, run, write_zip  # noqa: E402
from test_tabular_recipe import frame  # noqa: E402

from pipeline.modelstore import load_fold_model  # noqa: E402
from pipeline.tabular import linear  # noqa: E402
from pipeline.tabular.forest import Forest, category_codes  # noqa: E402
from pipeline.tabular.recipe import TabularRecipe, model_set  # noqa: E402


def hump_and_ring(n: int = 600) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (n, 2))
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "color": rng.choice(["red", "blue"], n)})
    hump = np.cos(x[:, 0]) + 0.1 * rng.normal(size=n)  # no line follows it
    ring = np.where(x[:, 0] ** 2 + x[:, 1] ** 2 < 3, "inside", "outside")  # labels as text
    return df, hump, ring


@pytest.mark.parametrize("kind", ["extratrees", "randomforest"])
def test_a_forest_fits_what_a_line_cannot(kind: str) -> None:
    df, hump, ring = hump_and_ring()
    train, test = slice(0, 400), slice(400, 600)
    err = {
        name: np.sqrt(np.mean((est.fit(df[train], hump[train]).predict(df[test]) - hump[test]) ** 2))
        for name, est in (("linear", linear("regression")), ("forest", Forest(kind, "regression", 100)))
    }
    assert err["forest"] < 0.5 * err["linear"]
    fitted = Forest(kind, "binary", 100).fit(df[train], ring[train])
    proba = fitted.predict_proba(df[test])
    assert list(fitted.classes_) == ["inside", "outside"] and np.allclose(proba.sum(axis=1), 1.0)
    assert (fitted.predict(df[test]) == ring[test]).mean() > 0.85
    assert list(fitted.classes_[proba.argmax(axis=1)]) == list(fitted.predict(df[test]))


def test_missing_values_and_unseen_levels_are_read_not_refused() -> None:
    df, y = frame(300)
    df.loc[::7, "x"] = np.nan
    est = Forest("extratrees", "binary", 50).fit(df, y)
    new_rows = df.head(20).copy()
    new_rows["color"] = "purple"  # a level no training row has
    new_rows.loc[:5, "x"] = np.nan
    proba = est.predict_proba(new_rows)
    assert proba.shape == (20, 2) and np.isfinite(proba).all()
    codes = category_codes(est.encoder_.transform(new_rows))
    color = est.encoded_names_.index("color")
    assert np.isnan(codes[:, color]).all()  # the unseen level is missing, not some other level's code
    seen = category_codes(est.encoder_.transform(df.head(20)))[:, color]
    assert set(seen) <= {0.0, 1.0, 2.0}


def test_importance_per_input_column() -> None:
    df, y = frame(400)
    est = Forest("randomforest", "binary", 100).fit(df, y)
    imp = pd.Series(est.feature_importances_, index=est.feature_names_in_)
    assert list(imp.index) == list(df.columns) and imp.sum() == pytest.approx(1.0)
    assert imp.idxmax() == "x" and imp["const"] == 0.0  # y follows x; the constant column never splits


def test_the_knobs_reach_scikit_learn() -> None:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier

    df, hump, ring = hump_and_ring(200)
    knobs = {"forest_trees": 40, "forest_min_samples_leaf": 3}
    cfg = TabularRecipe(models=("extratrees", "randomforest"), forest_max_leaves=20, **knobs)
    reg = model_set("regression", cfg)["extratrees"].fit(df, hump).model_
    clf = model_set("binary", cfg)["randomforest"].fit(df, ring).model_
    assert isinstance(reg, ExtraTreesRegressor) and isinstance(clf, RandomForestClassifier)
    assert (reg.n_estimators, reg.min_samples_leaf, reg.max_features, reg.max_leaf_nodes) == (40, 3, 1.0, 20)
    assert (clf.n_estimators, clf.min_samples_leaf, clf.max_features) == (40, 3, "sqrt")
    assert max(tree.get_n_leaves() for tree in reg.estimators_) == 20  # the cap holds each tree
    unlimited = model_set("regression", TabularRecipe(models=("extratrees",), forest_max_leaves=0, **knobs))
    assert unlimited["extratrees"].fit(df, hump).model_.max_leaf_nodes is None
    assert TabularRecipe().forest_max_leaves == 15000
    with pytest.raises(ValueError, match="kind must be one of extratrees, randomforest"):
        Forest("forest").fit(df, hump)


def test_a_log_target_is_fitted_on_logs() -> None:
    df, hump, _ = hump_and_ring(300)
    price = np.exp(3 + hump)  # log-normal: a mean of logs is not a log of means
    plain = Forest("extratrees", "regression", 50, min_samples_leaf=20).fit(df, price)
    logged = Forest("extratrees", "regression", 50, min_samples_leaf=20, target_transform="log1p").fit(df, price)
    leaf_means = plain.predict(df)
    geometric = logged.predict(df)
    assert (geometric > 0).all() and np.mean(geometric < leaf_means) > 0.9  # exp(mean log) < mean for every leaf


def test_a_generated_competition_runs_extratrees_and_reproduces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "forest.zip", "strings")
    assert new(tmp_path, "comp_forest", z) == 0
    sets = ("--set", "models=linear,extratrees", "--set", "forest_trees=60")
    first = run(tmp_path, "comp_forest", z, *sets)
    y = pd.read_csv(tmp_path / "data" / "forest" / "train.csv")["target"]
    assert first["models"]["extratrees"]["mean"] > y.value_counts(normalize=True).max() + 0.05  # it learns
    assert set(pd.read_csv(first["published"])["target"]) <= {"low", "mid", "high"}
    importance = pd.read_csv(Path(first["run_dir"]) / "importance.csv", index_col=0)
    shares = importance["extratrees"]  # impurity shares favour many-valued columns (day, code): num above noise
    assert shares.sum() == pytest.approx(1.0, abs=1e-4) and shares["num"] > 2 * shares["noise"]
    saved = Path(first["run_dir"]) / "models" / "extratrees" / "fold0.joblib"
    model = load_fold_model(Path(first["run_dir"]), "extratrees", 0)
    assert saved.stat().st_size < len(pickle.dumps(model)) / 2  # kept compressed: deep trees take room
    again = run(tmp_path, "comp_forest", z, *sets, "--jobs", "2")
    oof = [np.load(Path(s["run_dir"]) / "oof" / "extratrees.npy") for s in (first, again)]
    assert np.array_equal(*oof)  # the same seed gives the same trees, on one thread or two


class Deadline:
    """The runner's FitContext as a forest reads it: only its deadline."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_a_deadline_it_meets_grows_the_same_forest(task: str) -> None:
    df, hump, ring = hump_and_ring(300)
    y = hump if task == "regression" else ring
    whole = Forest("extratrees", task, 40).fit(df, y)
    stepped = Forest("extratrees", task, 40).fit(df, y, context=Deadline(600))
    assert len(stepped.model_.estimators_) == 40 and not stepped.deadline_reached_
    out = "predict" if task == "regression" else "predict_proba"
    assert np.array_equal(getattr(whole, out)(df), getattr(stepped, out)(df))  # the same trees, grown in steps


def test_a_passed_deadline_keeps_the_trees_grown_and_says_so() -> None:
    df, hump, _ = hump_and_ring(300)
    cut = Forest("extratrees", "regression", 50).fit(df, hump, context=Deadline(-1))
    assert len(cut.model_.estimators_) == 5 and cut.deadline_reached_  # one step of a tenth, then it stopped
    assert not cut.model_.warm_start  # a later fit (a clone's) starts afresh
    full = Forest("extratrees", "regression", 50).fit(df, hump)
    first = [t.tree_.threshold.tolist() for t in cut.model_.estimators_]
    assert first == [t.tree_.threshold.tolist() for t in full.model_.estimators_[:5]]  # the forest's first trees
    err = np.sqrt(np.mean((cut.predict(df) - hump) ** 2))
    assert err < 0.5 * np.std(hump)  # five trees still learn the hump


def test_under_a_time_limit_a_forest_fits_to_its_share_after_the_fixed_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a forest fits to the deadline it is given, so the runner fits it after the models that cannot be cut short
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "forest_limit.zip", "strings")
    assert new(tmp_path, "comp_forest_limit", z) == 0
    sets = ("--set", "models=extratrees,linear", "--set", "forest_trees=60")
    limited = run(tmp_path, "comp_forest_limit", z, *sets, "--time-limit", "300")
    assert list(limited["models"]) == ["linear", "extratrees"]
    oof = np.load(Path(limited["run_dir"]) / "oof" / "extratrees.npy")
    free = run(tmp_path, "comp_forest_limit", z, *sets)
    assert list(free["models"]) == ["extratrees", "linear"]  # without a limit: the competition's order
    assert np.array_equal(oof, np.load(Path(free["run_dir"]) / "oof" / "extratrees.npy"))  # time enough: every tree
