"""The generic tabular recipe: column typing, fold-safe encodings, early stopping, deadlines, metrics, output."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.utils.class_weight import compute_sample_weight

from features.columns import column_kind, infer_kinds
from features.tabular import TOKENS, TabularEncoder, code_parts, fit_vocabulary, source_column
from pipeline.contract import Data
from pipeline.submission import SubmissionError
from pipeline.tabular import Boosted, linear, validate, write_submission
from pipeline.tabular.metrics import METRICS, score
from pipeline.tabular.models import svm


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "x": x,
            "const": 1,
            "color": rng.choice(["red", "green", "blue"], n),
            "name": [f"Doe, {t}. Jane {i}" for i, t in enumerate(rng.choice(["Mr", "Mrs", "Miss"], n))],
            "ticket": [f"T{i}" for i in rng.integers(0, 10_000, n)],
            "when": pd.date_range("2023-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
        }
    )
    return df, (x + rng.normal(0, 0.5, n) > 0).astype(int)


def test_column_kinds() -> None:
    df, _ = frame(300)
    kinds = infer_kinds(df)
    assert kinds == {
        "x": "numeric",
        "const": "constant",
        "color": "category",
        "name": "text",
        "ticket": "high_cardinality",
        "when": "date",
    }


def test_target_encoding_of_training_rows_never_sees_their_own_label() -> None:
    # every row its own level: an in-sample target encoding would copy each row's label; ours is cross-fitted
    n = 400
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"code": [f"id{i}" for i in range(n)], "x": rng.normal(size=n)})
    y = rng.integers(0, 2, n)
    enc = TabularEncoder("lightgbm", "binary")
    out = enc.fit_transform(df, y)
    te = out["te__code"].to_numpy()
    assert abs(np.corrcoef(te, y)[0, 1]) < 0.2
    unseen = enc.transform(pd.DataFrame({"code": ["never-seen"], "x": [0.0]}))
    assert unseen["te__code"].iloc[0] == pytest.approx(y.mean(), abs=0.05)


def test_encodings_per_family() -> None:
    df, y = frame(300)
    lgb = TabularEncoder("lightgbm", "binary").fit_transform(df, y)
    assert isinstance(lgb["color"].dtype, pd.CategoricalDtype) and "const" not in lgb
    assert {"name__has_mrs", "ticket__freq", "when__month"} <= set(lgb.columns)
    cat = TabularEncoder("catboost", "binary").fit(df, y)
    assert "ticket" in cat.cat_features_ and "te__ticket" not in cat.transform(df)  # CatBoost encodes it itself
    lin = TabularEncoder("linear", "binary").fit(df, y).transform(df)
    assert isinstance(lin, np.ndarray) and np.isfinite(lin).all() and lin.shape[1] < 60


def test_the_hour_of_a_datetime_column() -> None:
    # Bike Sharing's demand follows the hour of `datetime`; a column of dates alone gets no hour
    df, _ = frame(300)
    df["day"] = pd.date_range("2023-01-01", periods=300, freq="D").strftime("%Y-%m-%d")
    hour = pd.to_datetime(df["when"]).dt.hour.to_numpy()
    y = np.exp(-((hour - 8) ** 2) / 4) * 100 + np.random.default_rng(0).normal(0, 5, 300)
    out = TabularEncoder("lightgbm", "regression").fit_transform(df, y)
    assert (out["when__hour"].to_numpy() == hour).all() and "day__hour" not in out and "day__month" in out
    est = Boosted("lightgbm", "regression", n_estimators=200, learning_rate=0.1).fit(df.iloc[:200], y[:200])
    assert METRICS["rmse"].fn(y[200:], est.predict(df.iloc[200:])) < 0.5 * y.std()


def test_the_parts_of_a_code_column() -> None:
    # Spaceship Titanic's Cabin is deck/number/side; the side (P or S) decides here, and nothing else carries it:
    # the raw codes are nearly all distinct, the first character is the deck, the trailing number the cabin's
    n = 600
    rng = np.random.default_rng(0)
    side = rng.choice(["P", "S"], n)
    cabin = pd.Series(
        [f"{d}/{k}/{s}" for d, k, s in zip(rng.choice(list("ABCDEFG"), n), rng.integers(0, 1500, n), side, strict=True)]
    )
    cabin[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({"Cabin": cabin, "x": rng.normal(size=n)})
    y = ((side == "P") ^ (rng.random(n) < 0.05)).astype(int)
    out = TabularEncoder("lightgbm", "binary").fit_transform(df, y)
    assert set(out["Cabin__part2"].dropna().astype(str)) == {"P", "S", "__missing__"}
    assert out["Cabin__part1"].dtype == float and out["Cabin__part0"].cat.categories.size == 8
    assert code_parts(pd.Series(["A/5 21171", "PC 17599", "113803", "113803"] * 10), 30) is None  # Titanic tickets
    tr, va = np.arange(400), np.arange(400, n)
    est = Boosted("lightgbm", "binary", n_estimators=100, learning_rate=0.1).fit(df.iloc[tr], y[tr])
    assert skm.accuracy_score(y[va], est.predict_proba(df.iloc[va])[:, 1] > 0.5) > 0.85  # chance: 0.5


def repeated_codes(n: int, seed: int) -> pd.DataFrame:
    """Codes and text that repeat with very different counts (as a code column does over many rows), some missing."""
    rng = np.random.default_rng(seed)
    words = np.array(["alpha", "beta", "gamma", "delta", "x", "omega", "mu"])
    common = [f"{rng.choice(words)}/{rng.integers(0, 9)}-{rng.choice(words)}" for _ in range(40)]
    rare = [f"{' '.join(rng.choice(words, 3))} {i}" for i in range(400)]
    values = np.concatenate([rng.choice(common, n - 200, p=rng.dirichlet(np.ones(40) * 0.3)), rng.choice(rare, 200)])
    codes = pd.Series(rng.permutation(values), dtype="str")
    codes[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({"code": codes, "x": rng.normal(size=n)})


@pytest.mark.parametrize("family", ["lightgbm", "catboost", "linear"])
def test_string_features_per_distinct_value_equal_those_of_the_rows(family: str) -> None:
    # _base computes a code's features once per distinct value and spreads them to the rows
    df = repeated_codes(3000, 0)
    y = (df["x"] > 0).astype(int).to_numpy()
    enc = TabularEncoder("lightgbm" if family == "linear" else family, "binary").fit(df, y)
    assert enc.kinds_["code"] == "high_cardinality" and enc.vocab_["code"] is not None
    rows = enc._string_features("code", "high_cardinality", df["code"])  # the same computation, row by row
    spread = enc._base(df)
    assert set(rows) <= set(spread.columns) and len(rows) > 6
    for name, values in rows.items():
        pd.testing.assert_series_equal(spread[name], pd.Series(values, name=name), check_dtype=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("min_df", "max_tokens"), [(3, 30), (50, 3), (400, 30), (10**6, 30)])
def test_the_vocabulary_is_scikit_learns_on_the_rows(seed: int, min_df: int, max_tokens: int) -> None:
    # counted per distinct value, weighted by rows; ties at the max_tokens cut broken as scikit-learn breaks them
    text = repeated_codes(3000, seed)["code"].fillna("")
    ours = fit_vocabulary(text, min_df, max_tokens)
    theirs = CountVectorizer(binary=True, min_df=min_df, max_features=max_tokens, token_pattern=TOKENS)
    try:
        expected = list(theirs.fit(text).get_feature_names_out())
    except ValueError:  # scikit-learn keeps no token
        expected = None
    assert (None if ours is None else list(ours.get_feature_names_out())) == expected
    if ours is not None:
        assert (ours.transform(text) != theirs.transform(text)).nnz == 0


def test_shares_count_rows_not_distinct_values() -> None:
    # 20 distinct "A/k" codes once each and one plain code 100 times: 20 of 120 rows split, not 20 of 21 values
    codes = pd.Series([f"A/{k}" for k in range(20)] + ["plain"] * 100)
    assert code_parts(codes, 30) is None
    assert code_parts(pd.Series([f"A/{k}" for k in range(20)] * 10 + ["plain"] * 5), 30) == (
        "/",
        ["category", "number"],
    )
    # 40 distinct three-word names once each and one code 200 times: 1.33 words per row, not 2.95 per value
    names = [f"Ann Lee {k}" for k in range(40)]
    assert column_kind(pd.Series(names + ["code"] * 200)) == "high_cardinality"
    assert column_kind(pd.Series(names * 5 + ["code"] * 2)) == "text"


@pytest.mark.parametrize("zone", ["Z", ".250Z", "+00:00", "-0530", " UTC"])
def test_times_written_with_their_zone_are_dates(zone: str) -> None:
    # before: 2024-01-31T10:00:00Z (as pandas writes a time with its zone: +00:00) was a code, its year, month and
    # hour never features, and `new` missed a test set later in time
    times = pd.date_range("2024-01-01", periods=200, freq="7h").strftime("%Y-%m-%dT%H:%M:%S")
    df = pd.DataFrame({"when": times + zone, "x": np.arange(200.0)})
    assert infer_kinds(df) == {"when": "date", "x": "numeric"}
    out = TabularEncoder("lightgbm", "regression").fit_transform(df, df["x"])
    assert out["when__year"].eq(2024).all() and out["when__hour"].nunique() > 1 and out["when__days"].notna().all()


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_importances_per_input_column(library: str) -> None:
    df, y = frame(400)
    est = Boosted(library, "binary", n_estimators=100, learning_rate=0.1, bag=2).fit(df, y)
    imp = pd.Series(est.feature_importances_, index=est.feature_names_in_)
    assert list(imp.index) == list(df.columns) and imp.sum() == pytest.approx(1.0)
    assert imp.idxmax() == "x" and imp["const"] == 0.0  # y follows x; the constant column is dropped
    encoded = est.encoded_importances_  # ticket__number, te__ticket (CatBoost: ticket itself) add up to ticket's share
    ticket = [n for n in encoded.index if n == "ticket" or n.startswith(("ticket__", "te__ticket"))]
    assert len(ticket) >= 2 and encoded[ticket].sum() == pytest.approx(imp["ticket"])


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_an_absolute_error_objective_fits_the_median(library: str) -> None:
    # a fifth of the rows get +30: squared error chases their mean, absolute error keeps the median (what MAE scores)
    rng = np.random.default_rng(0)
    n = 1000
    X = pd.DataFrame({"x": rng.uniform(-2, 2, n), "noise": rng.normal(size=n)})
    y = 10 * X["x"].to_numpy() + rng.normal(0, 1, n) + 30 * (rng.random(n) < 0.2)
    tr, te = np.arange(700), np.arange(700, n)
    fits = {
        objective: Boosted(library, "regression", n_estimators=300, learning_rate=0.1, objective=objective)
        for objective in (None, "l1")
    }
    mae = {k: METRICS["mae"].fn(y[te], est.fit(X.iloc[tr], y[tr]).predict(X.iloc[te])) for k, est in fits.items()}
    assert mae["l1"] < 0.9 * mae[None]
    params = fits["l1"].models_[0].get_params()
    assert {"lightgbm": "l1", "xgboost": "reg:absoluteerror"}.get(library, "MAE") == (
        params.get("objective") if library != "catboost" else params["loss_function"]
    )
    with pytest.raises(ValueError, match="objective must be one of"):
        Boosted(library, "binary", objective="l1").fit(X.iloc[tr], (y[tr] > 0).astype(int))


@pytest.mark.parametrize("inputs_first", [True, False])
def test_an_input_column_named_as_an_engineered_feature_keeps_both(inputs_first: bool) -> None:
    # before: a table holding a date column `when` and a column `when__year` (or a text column `name` and `name__len`,
    # a code column `ticket` and `te__ticket`) kept one of each pair, the one written last: the other was lost
    df, _ = frame(400)
    rng = np.random.default_rng(1)
    named = {"when__year": rng.normal(size=400), "name__len": rng.normal(size=400), "te__ticket": rng.normal(size=400)}
    df = pd.concat([pd.DataFrame(named), df] if inputs_first else [df, pd.DataFrame(named)], axis=1)
    y = (df["when__year"] + rng.normal(0, 0.3, 400) > 0).astype(int)
    enc = TabularEncoder("lightgbm", "binary")
    out = enc.fit_transform(df, y)
    for column in named:  # the input columns as they are, their namesakes beside them with a suffix
        assert out[column].to_numpy() == pytest.approx(df[column].to_numpy()) and enc.sources_[column] == column
    assert (out["when__year_2"] == 2023).all() and enc.sources_["when__year_2"] == "when"
    assert out["name__len_2"].to_numpy() == pytest.approx(df["name"].str.len().to_numpy())
    assert enc.sources_["name__len_2"] == "name" and enc.sources_["te__ticket_2"] == "ticket"
    assert list(enc.transform(df.iloc[:5]).columns) == list(out.columns)
    est = Boosted("lightgbm", "binary", n_estimators=100, learning_rate=0.1).fit(df, y)
    imp = pd.Series(est.feature_importances_, index=est.feature_names_in_)
    assert imp.idxmax() == "when__year" and imp.sum() == pytest.approx(1.0)


def test_source_column_of_encoded_names() -> None:
    columns = ["Cabin", "Cabin_no", "Blood_Pressure_mmHg_", "age"]
    assert source_column("Cabin__part2", columns) == "Cabin"
    assert source_column("Cabin_no__len", columns) == "Cabin_no"  # the longest input name that prefixes it
    assert source_column("te__Cabin", columns) == "Cabin" and source_column("te__Cabin_2", columns) == "Cabin"
    assert source_column("age", columns) == "age" and source_column("other", columns) == "other"
    assert source_column("te__age", [*columns, "te__age"]) == "te__age"  # an input column of that name: itself


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_early_stopping_on_the_runners_validation_rows(library: str) -> None:
    df, y = frame(400)
    tr, va = np.arange(300), np.arange(300, 400)
    ctx = SimpleNamespace(deadline=None, eval_set=(df.iloc[va], y[va]))
    est = Boosted(library, "binary", n_estimators=2000, learning_rate=0.3, early_stopping=20)
    est.fit(df.iloc[tr], y[tr], context=ctx)
    assert est.best_iterations_[0] < 500  # stopped long before the cap
    p = est.predict_proba(df.iloc[va])
    assert p.shape == (100, 2) and skm.roc_auc_score(y[va], p[:, 1]) > 0.75


def test_the_svm_fits_what_a_line_cannot_and_its_knobs_reach_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, (600, 2))
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "color": rng.choice(["red", "blue"], 600)})
    train, test = slice(0, 400), slice(400, 600)
    y = np.cos(x[:, 0]) + 0.1 * rng.normal(size=600)  # a hump: no line follows it
    err = {
        name: np.sqrt(np.mean((est.fit(df[train], y[train]).predict(df[test]) - y[test]) ** 2))
        for name, est in (("linear", linear("regression")), ("svm", svm("regression")))
    }
    assert err["svm"] < 0.5 * err["linear"]
    ring = (x[:, 0] ** 2 + x[:, 1] ** 2 < 3).astype(int)  # one class inside a circle, the other around it
    fitted = svm("binary", C=2.0, gamma=0.05).fit(df[train], ring[train])
    proba = fitted.predict_proba(df[test])
    assert np.allclose(proba.sum(axis=1), 1.0) and ((proba[:, 1] > 0.5) == ring[test]).mean() > 0.85
    model = fitted.named_steps["model"].estimator
    assert (model.C, model.gamma) == (2.0, 0.05)
    reg = svm("regression", C=3.0, epsilon=0.2).named_steps["model"].regressor
    assert (reg.C, reg.gamma, reg.epsilon) == (3.0, "auto", 0.2)


def test_the_linear_model_holds_a_feature_within_the_training_range() -> None:
    rng = np.random.default_rng(0)
    area = rng.uniform(500, 3000, 400)
    df = pd.DataFrame({"area": area, "rooms": rng.integers(1, 6, 400)})
    price = 100 * area + rng.normal(0, 5000, 400)
    huge = pd.DataFrame({"area": [area.max(), 3 * area.max()], "rooms": [3, 3]})  # the largest size seen, 3 times it
    held = linear("regression").fit(df, price).predict(huge)
    assert held[1] == pytest.approx(held[0])  # beyond the range: priced as at its edge
    free = linear("regression", clip=False).fit(df, price).predict(huge)
    assert free[1] > 2.5 * free[0]  # a line extrapolates (the option took effect)
    assert held[0] == pytest.approx(free[0])  # inside the range nothing changes


def test_on_a_gpu_xgboost_trains_on_it_and_predicts_on_the_cpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("the check reads XGBoost's fallback warning, given only where no GPU is visible")
    import warnings

    df, y = frame(300)
    fitted = {}
    for device in ("cpu", "cuda"):
        ctx = SimpleNamespace(deadline=None, eval_set=None, device=device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = Boosted("xgboost", "binary", n_estimators=50, learning_rate=0.3).fit(df, y, context=ctx)
            p = est.predict_proba(df)
        # the runner's "cuda" reached XGBoost (here, without a GPU, it falls back to the CPU and says so) ...
        gpu = any("No visible GPU" in str(w.message) for w in caught)
        assert gpu == (device == "cuda") and est.device_ == device
        # ... and the fitted model predicts on the CPU: the device warnings come from fitting only
        assert est.models_[0].get_params()["device"] == "cpu"
        fitted[device] = p
    assert np.allclose(fitted["cpu"], fitted["cuda"])  # the same trees, fitted on the CPU either way here
    est = Boosted("lightgbm", "binary", n_estimators=20).fit(df, y, SimpleNamespace(device="cuda"))
    assert est.device_ == "cpu"  # its pip wheel has no CUDA build


def test_on_a_gpu_catboost_tries_it_unless_a_deadline_needs_its_callback() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("the check reads the CPU fallback, taken only where no GPU is visible")
    import warnings

    df, y = frame(300)
    cpu = Boosted("catboost", "binary", n_estimators=30).fit(df, y, SimpleNamespace(device="cpu")).predict_proba(df)
    for deadline, tried in ((None, True), (time.monotonic() + 600, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ctx = SimpleNamespace(device="cuda:0", deadline=deadline, eval_set=None)
            est = Boosted("catboost", "binary", n_estimators=30).fit(df, y, context=ctx)
        fell_back = [w for w in caught if "catboost could not train on the GPU" in str(w.message)]
        assert bool(fell_back) == tried and est.device_ == "cpu"
        assert np.allclose(est.predict_proba(df), cpu)  # the fallback is the CPU fit, nothing lost


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_column_names_the_libraries_refuse(library: str) -> None:
    # Kaggle headers such as "Blood Pressure [mmHg]" or "a:b,c": LightGBM refuses JSON characters, XGBoost [ ] <
    df, y = frame(300)
    df = df.rename(columns={"x": "Blood Pressure [mmHg]", "color": 'colour {"a":b,c}', "ticket": "ratio<1"})
    df["Blood_Pressure_mmHg_"] = -df["Blood Pressure [mmHg]"]  # the safe name of another column
    est = Boosted(library, "binary", n_estimators=50, learning_rate=0.3).fit(df, y)
    assert skm.roc_auc_score(y, est.predict_proba(df)[:, 1]) > 0.75
    names = list(est.encoder_.transform(df).columns)
    assert len(set(names)) == len(names) and all(re.fullmatch(r"\w+", n) for n in names)
    assert {"Blood_Pressure_mmHg_", "Blood_Pressure_mmHg__2", "ratio_1__freq"} <= set(names)
    if library == "catboost":
        assert "colour_a_b_c_" in est.encoder_.cat_features_


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_a_past_deadline_stops_the_fit_at_once(library: str) -> None:
    df, y = frame(400)
    ctx = SimpleNamespace(deadline=time.monotonic() - 1, eval_set=(df.iloc[300:], y[300:]))
    est = Boosted(library, "binary", n_estimators=5000, learning_rate=0.001, early_stopping=5000, bag=3)
    est.fit(df.iloc[:300], y[:300], context=ctx)
    assert len(est.models_) == 1 and est.best_iterations_[0] <= 2
    # and the trees it grew predict: XGBoost stopped at its first tree had no best iteration, and predicting the
    # 5000 trees it was asked for failed the run (--time-limit on Titanic)
    assert est.predict_proba(df.iloc[300:]).shape == (100, 2)


def test_k_fold_bagging_averages_inner_models() -> None:
    df, y = frame(300)
    est = Boosted("lightgbm", "binary", n_estimators=300, learning_rate=0.1, bag=2, bag_folds=3).fit(df, y)
    assert len(est.models_) == 6


def test_regression_with_log_target_and_linear_model() -> None:
    df, _ = frame(300)
    y = np.exp(10 + df["x"].to_numpy())
    est = Boosted("lightgbm", "regression", n_estimators=300, learning_rate=0.1, target_transform="log1p").fit(df, y)
    assert est.predict(df).min() > 0
    lin = linear("regression", 1.0, "log1p").fit(df, y)
    assert METRICS["rmsle"].fn(y, lin.predict(df)) < 0.2


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    assert METRICS["log_loss"].fn(y, p) == pytest.approx(skm.log_loss(y, p))
    assert METRICS["accuracy"].fn(y, p) == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert METRICS["roc_auc"].fn(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    yb = (y > 0).astype(int)
    pb = np.column_stack([p[:, 0], 1 - p[:, 0]])
    assert METRICS["roc_auc"].fn(yb, pb) == pytest.approx(skm.roc_auc_score(yb, pb[:, 1]))
    assert METRICS["f1"].fn(yb, pb) == pytest.approx(skm.f1_score(yb, pb.argmax(1)))
    assert METRICS["mcc"].fn(yb, pb) == pytest.approx(skm.matthews_corrcoef(yb, pb.argmax(1)))
    v = rng.uniform(1, 100, 50)
    w = v * rng.uniform(0.8, 1.2, 50)
    assert METRICS["rmsle"].fn(v, w.reshape(-1, 1)) == pytest.approx(np.sqrt(skm.mean_squared_log_error(v, w)))
    assert METRICS["r2"].fn(v, w) == pytest.approx(skm.r2_score(v, w))
    assert METRICS["mape"].fn(v, w) == pytest.approx(np.mean(np.abs(v - w) / v))  # Kaggle's MAPE, a fraction
    assert METRICS["medae"].fn(v, w) == pytest.approx(skm.median_absolute_error(v, w))
    assert METRICS["gini"].fn(yb, pb) == pytest.approx(2 * skm.roc_auc_score(yb, pb[:, 1]) - 1)
    assert METRICS["balanced_accuracy"].fn(y, p) == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    balanced = compute_sample_weight("balanced", y)  # each class's rows weigh alike: ICR's balanced log loss
    assert METRICS["balanced_log_loss"].fn(y, p) == pytest.approx(skm.log_loss(y, p, sample_weight=balanced))
    assert METRICS["balanced_log_loss"].fn(yb, pb[:, 1:]) == pytest.approx(
        (-np.mean(np.log(pb[yb == 0, 0])) - np.mean(np.log(pb[yb == 1, 1]))) / 2
    )
    labels2, scores2 = np.column_stack([yb, 1 - yb]), np.column_stack([pb[:, 1], p[:, 0]])  # two targets
    each = [2 * skm.roc_auc_score(labels2[:, j], scores2[:, j]) - 1 for j in range(2)]
    assert score("gini", labels2, scores2) == pytest.approx(np.mean(each))  # mean column-wise, as Kaggle's


def test_smape_is_kaggle_s_in_percent() -> None:
    # 100 x mean(2|F - A| / (|A| + |F|)), a row whose actual and forecast are both 0 scoring 0 (Kaggle's definition)
    actual, forecast = np.array([100.0, 0.0, 50.0, 0.0]), np.array([[110.0], [0.0], [0.0], [5.0]])
    expected = 100 * np.mean([20 / 210, 0.0, 2.0, 2.0])
    assert METRICS["smape"].fn(actual, forecast) == pytest.approx(expected)
    assert METRICS["smape"].fn(actual, actual.reshape(-1, 1)) == 0.0 and not METRICS["smape"].greater_is_better


def _data(tmp_path: Path, sample: pd.DataFrame, classes: list[str] | None) -> Data:
    sample.to_csv(tmp_path / "sample.csv", index=False)
    return Data(X=None, y=None, X_test=None, test_ids=sample.iloc[:, 0].to_numpy(), classes=classes,
                sample_submission=tmp_path / "sample.csv")  # fmt: skip


def test_submission_values_follow_the_sample(tmp_path: Path) -> None:
    ids = np.arange(1, 5)
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    data = _data(tmp_path, pd.DataFrame({"id": ids, "Transported": False}), ["False", "True"])
    write_submission(data, p, tmp_path / "s.csv", "labels")
    assert (tmp_path / "s.csv").read_text().splitlines()[1:] == ["1,False", "2,True", "3,False", "4,True"]
    validate(data, tmp_path / "s.csv")
    (tmp_path / "bad.csv").write_text("id,Transported\n1,False\n2,yes\n3,False\n4,True\n")
    with pytest.raises(SubmissionError, match="line 3"):
        validate(data, tmp_path / "bad.csv")
    data = _data(tmp_path, pd.DataFrame({"id": ids, "Survived": 0}), ["0", "1"])
    write_submission(data, p, tmp_path / "s.csv", "labels")
    assert pd.read_csv(tmp_path / "s.csv")["Survived"].tolist() == [0, 1, 0, 1]
    data = _data(tmp_path, pd.DataFrame({"id": ids, "b": 0.5, "a": 0.5}), ["a", "b"])
    write_submission(data, p, tmp_path / "s.csv", "probabilities")
    out = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(out[["a", "b"]].to_numpy(), p)  # columns matched to classes by name


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_inner_fold_bagging_never_reads_the_scored_rows_labels(library: str) -> None:
    from pipeline.tabular.recipe import TabularRecipe, model_set

    df, y = frame(400)
    tr, va = np.arange(300), np.arange(300, 400)
    truth = SimpleNamespace(deadline=None, eval_set=(df.iloc[va], y[va]))
    flipped = SimpleNamespace(deadline=None, eval_set=(df.iloc[va], 1 - y[va]))

    def fitted(bag_folds: int, ctx: SimpleNamespace) -> Boosted:
        cfg = TabularRecipe(models=(library,), max_trees=400, learning_rate=0.1, early_stopping=20, bag_folds=bag_folds)
        return model_set("binary", cfg, "y")[library].fit(df.iloc[tr], y[tr], context=ctx)

    a, b = fitted(5, truth), fitted(5, flipped)
    assert a.best_iterations_ == b.best_iterations_ and len(a.best_iterations_) == 5  # inner folds only
    assert np.allclose(a.predict_proba(df.iloc[va]), b.predict_proba(df.iloc[va]))
    # the default (bag_folds=0) stops on the fold's validation rows: their labels move the stopping point
    assert TabularRecipe().bag_folds == 0
    assert fitted(0, truth).best_iterations_ != fitted(0, flipped).best_iterations_
