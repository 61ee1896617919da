"""`python -m pipeline new` with several targets: inference, refusals, runs of the generated code, metrics."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from pipeline import tabular
from pipeline.cli import main
from pipeline.contract import Data, FitContext, load_competition
from pipeline.tabular import Boosted
from pipeline.tabular.infer import infer
from pipeline.tabular.metrics import score
from pipeline.tabular.multitarget import MultiTarget
from tests.test_new_command import FAST, N_TEST, N_TRAIN, new, run, table, zip_of

ROOT = Path(__file__).resolve().parent.parent  # ruff reads the project's settings from here


def tables() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The mixed-column train and test tables of test_new_command, and the latent score behind its targets."""
    train, latent = table(N_TRAIN, 0)
    test, _ = table(N_TEST, 1, start=10_000)
    return train, test, latent


def sample(test: pd.DataFrame, *cols: str, value: float | bool = 0.5) -> str:
    return pd.DataFrame({"key": test["key"], **dict.fromkeys(cols, value)}).to_csv(index=False)


def test_two_regression_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    train, test, latent = tables()
    train["y1"] = 100 + 10 * latent
    train["y2"] = 5 * train["noise"] + 2 * (train["color"] == "b")
    # the sample's order (y2, y1) is not train's: the submission follows the sample
    z = zip_of(tmp_path / "reg2.zip", train, test, sample(test, "y2", "y1"))
    assert new(tmp_path, "comp_reg2", z) == 0
    module = load_competition(str(tmp_path / "comps" / "comp_reg2"))
    assert (module.TARGET, module.TASK, module.METRIC.name, module.FOLDS) == (
        ["y2", "y1"],
        "regression",
        "rmse",
        "kfold",
    )
    s = run(tmp_path, "comp_reg2", z, *FAST)
    # mean column-wise RMSE, well under predicting each column's mean (whose RMSE is the column's std)
    baseline = float(np.mean([train[c].std(ddof=0) for c in ("y1", "y2")]))
    assert s["cv"] < 0.6 * baseline
    stack = json.loads((Path(s["run_dir"]) / "stack.json").read_text())  # one meta-model per target, out of fold
    assert len(stack["fold_scores"]) == 3 and s["cv"] == pytest.approx(min(stack["score"], stack["blend_score"]))
    sub = pd.read_csv(s["published"])
    expected = pd.read_csv(tmp_path / "data" / "reg2" / "sample_submission.csv")
    assert list(sub.columns) == ["key", "y2", "y1"] and sub["key"].tolist() == expected["key"].tolist()
    assert sub["y1"].mean() == pytest.approx(100, abs=15) and sub["y2"].abs().max() < 40  # not swapped


def test_two_binary_targets_scored_by_mean_column_auc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    train, test, latent = tables()
    train["EC1"] = (latent > 0.5).astype(int)  # 0/1
    train["EC2"] = train["noise"] > 0  # True/False
    z = zip_of(tmp_path / "ml.zip", train, test, sample(test, "EC1", "EC2"))
    assert new(tmp_path, "comp_ml", z) == 0
    module = load_competition(str(tmp_path / "comps" / "comp_ml"))
    assert (module.TARGET, module.TASK, module.METRIC.name) == (["EC1", "EC2"], "binary", "roc_auc")
    assert module.SUBMISSION == "probabilities"
    path = tmp_path / "comps" / "comp_ml" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
    s = run(tmp_path, "comp_ml", z, *FAST)
    assert s["cv"] > 0.75
    sub = pd.read_csv(s["published"])
    assert list(sub.columns) == ["key", "EC1", "EC2"] and len(sub) == N_TEST
    assert sub[["EC1", "EC2"]].stack().between(0, 1).all() and sub["EC2"].nunique() > 10


def test_true_false_sample_gets_labels_scored_by_mean_column_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    train, test, latent = tables()
    train["EC1"] = latent > 0.5  # True/False
    train["EC2"] = (latent < -0.5).astype(int)  # 0/1 in train, True/False in the sample
    train["EC3"] = train["color"] == "b"
    targets = ["EC1", "EC2", "EC3"]
    z = zip_of(tmp_path / "tf.zip", train, test, sample(test, *targets, value=False))
    capsys.readouterr()
    assert new(tmp_path, "comp_tf", z) == 0
    note = next(line for line in capsys.readouterr().out.splitlines() if "metric: accuracy" in line)
    assert all(w in note for w in ("True/False", "sample_submission.csv", "--metric NAME")), note
    module = load_competition(str(tmp_path / "comps" / "comp_tf"))
    assert (module.TARGET, module.TASK, module.METRIC.name, module.SUBMISSION) == (
        targets,
        "binary",
        "accuracy",
        "labels",
    )
    assert "each target's label" in module.__doc__ and "True/False or 0/1" in module.__doc__
    s = run(tmp_path, "comp_tf", z, *FAST)
    # the score reported is the mean column-wise accuracy of the OOF predictions used, each column above its
    # majority class's share (always predicting the commoner value)
    used = "_stack" if json.loads((Path(s["run_dir"]) / "stack.json").read_text())["used"] else "_blend"
    oof, y = np.load(Path(s["run_dir"]) / "oof" / f"{used}.npy"), train[targets].to_numpy(dtype=int)
    assert s["cv"] == pytest.approx(score("accuracy", y, oof))
    for j, c in enumerate(targets):
        majority = max(y[:, j].mean(), 1 - y[:, j].mean())
        assert score("accuracy", y[:, j : j + 1], oof[:, j : j + 1]) > majority + 0.05, c
    published = pd.read_csv(s["published"], dtype=str)
    expected = pd.read_csv(tmp_path / "data" / "tf" / "sample_submission.csv", dtype=str)
    assert list(published.columns) == list(expected.columns) and published["key"].tolist() == expected["key"].tolist()
    assert set(published[targets].stack()) == {"True", "False"}
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "comps" / "comp_tf"), s["published"], "--data", str(z)]) == 0
    assert capsys.readouterr().out.startswith("valid: 40 rows")


@pytest.mark.parametrize(("metric", "expect"), [(None, ("roc_auc", "probabilities")), ("f1", ("f1", "labels"))])
def test_a_zero_one_sample_gets_probabilities_unless_a_label_metric_is_asked(
    tmp_path: Path, metric: str | None, expect: tuple[str, str]
) -> None:
    train, test, latent = tables()
    train["EC1"], train["EC2"] = (latent > 0.5).astype(int), train["noise"] > 0
    z = zip_of(tmp_path / "zo.zip", train, test, sample(test, "EC1", "EC2", value=0))
    spec = infer(z, "zo", metric=metric)
    assert (spec.metric, spec.submission) == expect


def test_several_labels_are_written_in_each_sample_column_format(tmp_path: Path) -> None:
    (tmp_path / "sample.csv").write_text("id,a,b,c\n3,False,0,0\n1,True,1,0\n2,False,0,1\n")
    info = {"targets": ["a", "b", "c"]}
    data = Data(X=None, y=None, X_test=None, test_ids=np.array([1, 2, 3]), sample_submission=tmp_path / "sample.csv")
    data.info = info
    # rows of ids 1, 2, 3; a label is 1 above 0.5 (0.5 itself is 0)
    pred = np.array([[0.9, 0.2, 0.51], [0.5, 0.7, 0.1], [0.1, 0.6, 0.49]])
    tabular.write_submission(data, pred, tmp_path / "sub.csv", "labels")
    assert (tmp_path / "sub.csv").read_text() == "id,a,b,c\n3,False,1,0\n1,True,0,1\n2,False,1,0\n"
    tabular.validate(data, tmp_path / "sub.csv")


def test_targets_named_differently_in_the_sample_go_by_the_order_of_target(tmp_path: Path) -> None:
    train, test, latent = tables()
    train["y1"], train["y2"] = latent, 2 * latent
    z = zip_of(tmp_path / "named.zip", train, test, sample(test, "a", "b"))
    spec = infer(z, "named", target="y1,y2")
    assert spec.targets == ["y1", "y2"] and spec.target == ["y1", "y2"] and spec.metric == "rmse"
    assert any("a <- y1, b <- y2" in n for n in spec.notes)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing_from_train", ("y3", "--target A,B")),
        ("mixed", ("EC1", "y1", "--task regression", "--target A,B")),
        ("count", ("--target y1,y2", "3 value column")),
        ("label_metric", ("--metric accuracy", "several regression targets", "rmse")),
        ("one_target_metric", ("--metric mcc", "accuracy", "f1", "roc_auc")),
        ("labels_of_probabilities", ("--metric f1", "sample_submission.csv", "0.5", "--metric roc_auc")),
        ("probabilities_of_labels", ("--metric roc_auc", "sample_submission.csv", "EC1, EC2", "--metric accuracy")),
        (
            "values_of_labels",
            (
                "rmse (the default metric for regression targets)",
                "sample_submission.csv",
                "--task binary --metric accuracy",
            ),
        ),
    ],
)
def test_refusals_name_the_columns_and_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, words: tuple[str, ...]
) -> None:
    train, test, latent = tables()
    train["y1"], train["y2"], train["EC1"] = latent, 2 * latent, (latent > 0).astype(int)
    extra: tuple[str, ...] = ()
    cols = {"missing_from_train": ("y1", "y3"), "mixed": ("y1", "EC1"), "count": ("y1", "y2", "y3")}.get(case)
    if case == "count":
        extra = ("--target", "y1,y2")
    if case == "label_metric":
        cols, extra = ("EC1", "y2"), ("--metric", "accuracy", "--task", "regression")
    if case in ("one_target_metric", "labels_of_probabilities"):  # a sample of probabilities (0.5) asks for no labels
        train["EC2"] = train["noise"] > 0
        cols, extra = ("EC1", "EC2"), ("--metric", "mcc" if case == "one_target_metric" else "f1")
    value: float | bool = 0.5
    if case in ("probabilities_of_labels", "values_of_labels"):  # a True/False sample asks for labels
        train["EC2"] = train["noise"] > 0
        cols, value = ("EC1", "EC2"), False
        extra = ("--metric", "roc_auc") if case == "probabilities_of_labels" else ("--task", "regression")
    z = zip_of(tmp_path / "bad.zip", train, test, sample(test, *cols, value=value))
    capsys.readouterr()
    assert new(tmp_path, "comp", z, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert all(w in err for w in words), err
    assert not (tmp_path / "comps" / "comp").exists()


def test_column_wise_metrics_match_a_hand_computation() -> None:
    y = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 1.0]])
    p = np.array([[1.5, 0.1], [2.0, 0.4], [2.0, 0.35], [4.0, 0.8]])
    rmse_1 = math.sqrt((0.25 + 0 + 1 + 0) / 4)
    rmse_2 = math.sqrt((0.01 + 0.16 + 0.65**2 + 0.04) / 4)
    assert score("rmse", y, p) == pytest.approx((rmse_1 + rmse_2) / 2)
    assert score("mae", y, p) == pytest.approx(((0.5 + 1) / 4 + (0.1 + 0.4 + 0.65 + 0.2) / 4) / 2)
    labels = np.array([[0, 1], [0, 0], [1, 1], [1, 0]])
    proba = np.array([[0.1, 0.9], [0.4, 0.2], [0.35, 0.6], [0.8, 0.3]])
    # column 1: of the 4 (positive, negative) pairs, (0.35, 0.4) is ranked wrong -> 0.75; column 2: all right -> 1
    assert score("roc_auc", labels, proba) == pytest.approx((0.75 + 1.0) / 2)
    loss_1 = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    loss_2 = -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.7)) / 4
    assert score("log_loss", labels, proba) == pytest.approx((loss_1 + loss_2) / 2)
    with pytest.raises(ValueError, match="for one target"):
        score("mcc", labels, proba)


def test_column_wise_label_metrics_match_a_hand_computation() -> None:
    labels = np.array([[0, 1, 1], [0, 0, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]])
    proba = np.array([[0.1, 0.9, 0.6], [0.6, 0.2, 0.4], [0.35, 0.7, 0.2], [0.8, 0.3, 0.9], [0.9, 0.5, 0.7]])
    # thresholded at 0.5 (0.5 itself is 0): column 1 -> 0 1 0 1 1, column 2 -> 1 0 1 0 0, column 3 -> 1 0 0 1 1
    # column 1: 3 of 5 right, tp 2 fp 1 fn 1 -> F1 4/6; column 2: 4 of 5, tp 2 fp 0 fn 1 -> 4/5;
    # column 3: 3 of 5, tp 2 fp 1 fn 1 -> 4/6
    assert score("accuracy", labels, proba) == pytest.approx((3 / 5 + 4 / 5 + 3 / 5) / 3)
    assert score("f1", labels, proba) == pytest.approx((4 / 6 + 4 / 5 + 4 / 6) / 3)
    # not whole rows' accuracy (exact match: 1 of 5), nor F1 of all the cells at once (tp 6, fp 2, fn 3 -> 12/17);
    # a column with no positive and every label wrong scores 0 on both and weighs as much as the others
    with_all_wrong = np.column_stack([labels, np.zeros(5, dtype=int)])
    proba_4 = np.column_stack([proba, np.ones(5)])
    assert score("accuracy", with_all_wrong, proba_4) == pytest.approx((3 / 5 + 4 / 5 + 3 / 5 + 0) / 4)
    assert score("f1", with_all_wrong, proba_4) == pytest.approx((4 / 6 + 4 / 5 + 4 / 6 + 0) / 4)


def test_each_target_model_stops_early_on_its_own_validation_column() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    Y = np.column_stack([3 * X["a"] + X["b"] ** 2, rng.normal(size=400)])  # the second target is noise
    context = FitContext(workdir=None, eval_set=(X.iloc[300:], Y[300:]), deadline=time.monotonic() + 120)
    model = Boosted("lightgbm", n_estimators=400, learning_rate=0.1, early_stopping=20, bag=2)
    est = MultiTarget(model, "regression").fit(X.iloc[:300], Y[:300], context=context)
    learnable, noise = est.estimators_
    assert len(learnable.models_) == len(noise.models_) == 2  # each target keeps its bagging
    assert min(learnable.best_iterations_) > 2 * max(noise.best_iterations_)  # stopped on its own column
    assert est.predict(X.iloc[300:]).shape == (100, 2)
    # the deadline: target j of k gets an equal share of the time left
    first, last = MultiTarget._context(context, 0, 2), MultiTarget._context(context, 1, 2)
    left = context.deadline - time.monotonic()
    assert first.deadline - time.monotonic() == pytest.approx(left / 2, abs=1)
    assert last.deadline == pytest.approx(context.deadline, abs=1e-3)
    assert first.eval_set[1].tolist() == Y[300:, 0].tolist()


def test_under_a_time_limit_a_wrapped_linear_model_is_fitted_first_as_one_that_cannot_be_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each target's linear model takes no deadline, so neither does their wrapper: the runner fits it before the
    # boosters (which fit to their share of what it leaves) and cuts it off or projects it from its first fold
    assert not MultiTarget(LinearRegression()).takes_context and MultiTarget(Boosted("lightgbm")).takes_context
    monkeypatch.chdir(tmp_path)
    train, test, latent = tables()
    train["y1"], train["y2"] = 100 + 10 * latent, 5 * train["noise"]
    z = zip_of(tmp_path / "reg2_limit.zip", train, test, sample(test, "y1", "y2"))
    assert new(tmp_path, "comp_reg2_limit", z) == 0
    limited = run(tmp_path, "comp_reg2_limit", z, *FAST, "--set", "models=lightgbm,linear", "--time-limit", "300")
    assert list(limited["models"]) == ["linear", "lightgbm"]
    free = run(tmp_path, "comp_reg2_limit", z, *FAST, "--set", "models=lightgbm,linear")
    assert list(free["models"]) == ["lightgbm", "linear"]  # without a limit: the competition's order
