"""`python -m pipeline new`: inference from a Kaggle-style download, refusals, and runs of the generated code."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.commands.new import METRIC_NAMES, TAG_METRIC_NAMES
from pipeline.contract import load_competition
from pipeline.tabular.metrics import METRICS

N_TRAIN, N_TEST = 160, 40


def table(n: int, seed: int, start: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Mixed columns (numbers, a category, free text, a code, a date) and a latent score that drives the target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n)
    words = np.array(["Mr", "Mrs", "Miss"])[rng.integers(0, 3, n)]
    df = pd.DataFrame(
        {
            "num": x,
            "noise": rng.normal(size=n),
            "color": cat,
            "name": [f"Smith, {w}. John {i}" for i, w in enumerate(words)],
            "code": [f"C{rng.integers(0, 500)}" for _ in range(n)],
            "day": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "key": np.arange(start, start + n),
        }
    )
    df.loc[rng.random(n) < 0.1, "num"] = np.nan
    latent = 2 * np.nan_to_num(x) + (cat == "a") + (words == "Mrs") + rng.normal(0, 0.3, n)
    return df, latent


def write_zip(
    path: Path, task: str, id_first: bool = True, extra_train: bool = False, sample_name: str = "sample_submission.csv"
) -> Path:
    """A Kaggle-style zip: train.csv (target, maybe a train-only column), test.csv and a sample submission."""
    train, latent = table(N_TRAIN, 0)
    test, _ = table(N_TEST, 1, start=10_000)
    if task == "regression":
        train["target"], value = 100 + 10 * latent, 0.5
    elif task == "binary":
        train["target"], value = (latent > 0.5).astype(int), 0
    elif task == "strings":
        train["target"], value = np.array(["low", "mid", "high"])[np.digitize(latent, [-0.5, 1.0])], "low"
    elif task == "boolean":
        train["target"], value = latent > 0.5, False
    if extra_train:
        train["outcome_leak"] = train["target"]  # only in train: must never become a feature
    order = list(train.columns) if id_first else [c for c in train.columns if c != "key"][:3] + ["key"]
    order += [c for c in train.columns if c not in order]
    train = train[["key", *[c for c in order if c != "key"]]] if id_first else train[order]
    sample = pd.DataFrame({"key": test["key"], "target": value})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        if sample_name:
            zf.writestr(sample_name, sample.to_csv(index=False))
    return path


def zip_of(path: Path, train: pd.DataFrame, test: pd.DataFrame, sample: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", sample)
    return path


def new(tmp_path: Path, name: str, zip_path: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(zip_path), "--into", str(tmp_path / "comps"), *extra])


def run(tmp_path: Path, name: str, zip_path: Path, *extra: str) -> dict:
    """`run` of a generated competition on 3 folds; the summary of the run folder this call made."""
    args = ["run", str(tmp_path / "comps" / name), "--data", str(zip_path), "--folds", "3", "--quiet", *extra]
    before = set((tmp_path / "runs" / name).glob("*"))
    assert main(args) == 0
    (run_dir,) = set((tmp_path / "runs" / name).glob("*")) - before
    return json.loads((run_dir / "summary.json").read_text())


FAST = ("--preset", "fast", "--set", "max_trees=300")


@pytest.mark.parametrize(
    ("task", "expect_task", "expect_metric", "values"),
    [
        ("regression", "regression", "rmse", None),
        ("binary", "binary", "accuracy", {"0", "1"}),
        ("strings", "multiclass", "accuracy", {"low", "mid", "high"}),
        ("boolean", "binary", "accuracy", {"True", "False"}),
    ],
)
def test_new_then_run_writes_a_valid_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, expect_task: str, expect_metric: str, values: set | None
) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / f"{task}-comp.zip", task)
    name = f"comp_{task}"  # a package name is imported once per process: one name per generated competition
    assert new(tmp_path, name, z) == 0
    module = load_competition(str(tmp_path / "comps" / name))
    assert (module.TASK, module.METRIC.name, module.ID, module.TARGET) == (expect_task, expect_metric, "key", "target")
    assert f"{task}-comp" == module.KAGGLE_SLUG
    s = run(tmp_path, name, z, *FAST)
    sub = pd.read_csv(s["published"], dtype=str)
    sample = pd.read_csv(tmp_path / "data" / f"{task}-comp" / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == ["key", "target"] and sub["key"].tolist() == sample["key"].tolist()
    if values is None:
        assert pd.to_numeric(sub["target"]).between(0, 200).all()
    else:
        assert set(sub["target"]) <= values and sub["target"].nunique() > 1
    # importance.csv: every feature column, each model's shares summing to 1, the column that drives the target first
    imp = pd.read_csv(Path(s["run_dir"]) / "importance.csv", index_col="feature")
    assert set(imp.index) == {"num", "noise", "color", "name", "code", "day"} and imp.index[0] == "num"
    assert np.allclose(imp[["lightgbm", "mean"]].sum(), 1.0)
    assert (
        "feature importance (share, mean over folds and models): num " in (Path(s["run_dir"]) / "log.txt").read_text()
    )
    # the generated recipe learns: better than predicting the majority class / the mean
    y = pd.read_csv(tmp_path / "data" / f"{task}-comp" / "train.csv")["target"]
    if task == "regression":
        assert s["cv"] < 0.6 * float(y.std())
    else:
        assert s["cv"] > y.value_counts(normalize=True).max() + 0.05


def test_a_multi_class_target_is_stacked_by_the_pool_and_a_binary_one_by_the_linear_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the pool's held-out log loss beat the multinomial's at the generated Config's own settings (benchmarks/README.md)
    monkeypatch.chdir(tmp_path)
    classes = write_zip(tmp_path / "classes.zip", "strings")
    assert new(tmp_path, "comp_pool", classes) == 0
    assert load_competition(str(tmp_path / "comps" / "comp_pool")).Config().stack == "pool"
    s = run(tmp_path, "comp_pool", classes, *FAST)
    assert json.loads((Path(s["run_dir"]) / "stack.json").read_text())["method"] == "pool"
    binary = write_zip(tmp_path / "two.zip", "binary")
    assert new(tmp_path, "comp_two", binary, "--metric", "log_loss") == 0
    assert load_competition(str(tmp_path / "comps" / "comp_two")).Config().stack == "linear"


def test_all_six_models_and_the_stack_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "bin.zip", "binary")
    assert new(tmp_path, "comp_all", z, "--metric", "log_loss") == 0
    six = "lightgbm,xgboost,catboost,linear,svm,extratrees"  # new's five (svm: a few hundred rows) and a forest
    s = run(tmp_path, "comp_all", z, "--set", "max_trees=200", "--set", "learning_rate=0.1", "--set", f"models={six}")
    assert list(s["models"]) == six.split(",")
    stack = json.loads((Path(s["run_dir"]) / "stack.json").read_text())
    assert len(stack["fold_scores"]) == 3 and stack["models"] == list(s["models"])
    assert s["cv"] == pytest.approx(min(stack["score"], stack["blend_score"]))  # the better of the two, both OOF
    probs = pd.read_csv(s["published"])["target"]
    assert probs.between(0, 1).all() and probs.nunique() > 10


def test_svm_joins_the_models_of_small_data_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # svm (an RBF SVM on the linear model's features) is written into a generated Config's models for at most
    # SVM_MAX_ROWS training rows, said in a note, with its C in the search space; above that the recipe's four (and
    # the free-text model: the table's name column is text)
    from pipeline.tabular import recipe

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "few.zip", "regression")
    assert new(tmp_path, "comp_few", z) == 0
    said = "models: lightgbm, xgboost, catboost, linear, svm, text; svm (an RBF support vector machine"
    assert said in capsys.readouterr().out
    few = load_competition(str(tmp_path / "comps" / "comp_few"))
    assert few.Config().models == ("lightgbm", "xgboost", "catboost", "linear", "svm", "text")
    assert "svm_c" in few.search_space(_Trial())
    monkeypatch.setattr(recipe, "SVM_MAX_ROWS", 50)
    assert new(tmp_path, "comp_many", z) == 0
    assert "svm" not in capsys.readouterr().out.partition("  models: ")[2].partition("\n")[0]
    many = load_competition(str(tmp_path / "comps" / "comp_many"))
    assert many.Config().models == (*recipe.TabularRecipe.models, "text")
    assert "svm_c" not in many.search_space(_Trial())


def test_new_writes_no_forest_but_it_runs_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # extremely randomised trees gained nothing held out beside boosters at their own cap (benchmarks/
    # tabular_forest.py --max-trees 0): `new` writes the four and svm for every task (and text: the table's name
    # column is free text), and the forest stays an option
    from pipeline.tabular import recipe

    monkeypatch.chdir(tmp_path)
    four = recipe.TabularRecipe.models
    for task in ("binary", "strings", "regression"):
        assert new(tmp_path, f"comp_{task}_et", write_zip(tmp_path / f"{task}.zip", task)) == 0
        made = load_competition(str(tmp_path / "comps" / f"comp_{task}_et"))
        assert made.Config().models == (*four, "svm", "text") and "extratrees" not in capsys.readouterr().out
        space = made.search_space(_Trial())
        assert "svm_c" in space and set(space) <= {f.name for f in dataclasses.fields(made.Config)}
    z = tmp_path / "strings.zip"
    s = run(tmp_path, "comp_strings_et", z, *FAST, "--set", "models=lightgbm,extratrees", "--set", "forest_trees=40")
    y = pd.read_csv(tmp_path / "data" / "strings" / "train.csv")["target"]
    assert s["models"]["extratrees"]["mean"] > y.value_counts(normalize=True).max() + 0.05  # it learns


class _Trial:
    """An Optuna trial stand-in that answers each suggestion with its low end (search_space's keys are the point)."""

    def suggest_int(self, name: str, low: int, high: int, **_: object) -> int:
        return low

    def suggest_float(self, name: str, low: float, high: float, **_: object) -> float:
        return low


def test_the_mlp_joins_a_generated_competition_s_blend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "mlp.zip", "strings")
    assert new(tmp_path, "comp_mlp", z) == 0
    s = run(tmp_path, "comp_mlp", z, *FAST, "--set", "models=linear,mlp")
    assert set(s["models"]) == {"linear", "mlp"} and set(s["blend"]["weights"]) == {"linear", "mlp"}
    y = pd.read_csv(tmp_path / "data" / "mlp" / "train.csv")["target"]
    assert s["models"]["mlp"]["mean"] > y.value_counts(normalize=True).max() + 0.05  # it learns
    assert set(pd.read_csv(s["published"])["target"]) <= {"low", "mid", "high"}


def test_id_not_first_and_train_only_columns_are_not_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "c.zip", "regression", id_first=False, extra_train=True)
    with zipfile.ZipFile(z) as zf:
        assert pd.read_csv(zf.open("train.csv")).columns[0] != "key"
    assert new(tmp_path, "comp_extra", z) == 0
    module = load_competition(str(tmp_path / "comps" / "comp_extra"))
    assert module.ID == "key" and module.TARGET == "target"
    folder = tmp_path / "x"
    zipfile.ZipFile(z).extractall(folder)
    data = module.load(module.Config(), folder)
    assert "outcome_leak" not in data.X.columns and "key" not in data.X.columns and "target" not in data.X.columns
    assert list(data.X.columns) == list(data.X_test.columns)
    run(tmp_path, "comp_extra", z, *FAST)


def test_generated_file_passes_ruff_and_the_contract(tmp_path: Path) -> None:
    # one probability column per class (Otto style): the target is train's only column missing from test; class
    # names long enough that the docstring's Task line, unwrapped, ran past ruff's 120 columns
    z = write_zip(tmp_path / "my-comp.zip", "strings")
    with zipfile.ZipFile(z) as zf:
        train, test = (pd.read_csv(zf.open(f)) for f in ("train.csv", "test.csv"))
    names = [f"priority_{c}_of_the_ticket_queue" for c in ("high", "low", "mid")]
    train["target"] = train["target"].map(lambda c: f"priority_{c}_of_the_ticket_queue")
    sample = pd.DataFrame({"key": test["key"], **dict.fromkeys(names, 1 / 3)}).to_csv(index=False)
    z = zip_of(tmp_path / "my-comp.zip", train, test, sample)
    assert new(tmp_path, "comp_ruff", z, "--slug", "some-slug") == 0
    path = tmp_path / "comps" / "comp_ruff" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    assert module.KAGGLE_SLUG == "some-slug" and module.SUBMISSION == "probabilities"
    assert (module.TARGET, module.TASK, module.METRIC.name) == ("target", "multiclass", "log_loss")
    assert module.EXPECTED_FILES == ["sample_submission.csv", "test.csv", "train.csv"]


def test_the_tune_command_it_states_names_the_folder_given_to_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: search_space said `python -m pipeline tune competitions/comp_where`, a folder `new --into comps` never
    # made (the competition is comps/comp_where)
    import shlex

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "where-comp.zip", "binary")
    assert main(["new", "comp_where", "--data", str(z), "--into", "comps"]) == 0
    doc = load_competition("comps/comp_where").search_space.__doc__
    assert "Config overrides for `python -m pipeline tune comps/comp_where` (Optuna" in doc
    # a long folder (with a space: quoted as a shell needs it): the docstring wrapped within ruff's 120 columns, the
    # command whole on one line
    deep = Path("my competitions") / ("x" * 50)
    assert main(["new", "comp_deep", "--data", str(z), "--into", str(deep)]) == 0
    path = deep / "comp_deep" / "__init__.py"
    command = f"`python -m pipeline tune {shlex.quote(str(deep / 'comp_deep'))}` (Optuna"
    assert any(line.strip().startswith(command) for line in path.read_text().splitlines())
    project = Path(__file__).resolve().parent.parent  # ruff's settings: the project's
    cmd = [sys.executable, "-m", "ruff", "check", "--no-cache", str(path.resolve())]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(("metric", "refused"), [("log_loss", True), ("balanced_log_loss", True), ("roc_auc", False)])
def test_validate_refuses_a_probability_outside_0_1_where_a_log_loss_scores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, metric: str, refused: bool
) -> None:
    # before: 1.5 and -0.2 passed `validate` for a log loss, which Kaggle clips to a probability of 1 and 0; ROC AUC
    # ranks the values, and any number is one
    z = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert new(tmp_path, f"comp_range_{metric}", z, "--metric", metric) == 0
    with zipfile.ZipFile(z) as zf:
        sub = pd.read_csv(zf.open("sample_submission.csv"))
    for value in (1.5, -0.2):
        sub.assign(target=[value] + [0.5] * (len(sub) - 1)).to_csv(tmp_path / "sub.csv", index=False)
        comp = str(tmp_path / "comps" / f"comp_range_{metric}")
        assert main(["validate", comp, str(tmp_path / "sub.csv"), "--data", str(z)]) == (2 if refused else 0)
        err = capsys.readouterr().err
        if refused:
            why = f"({metric} reads each value as a probability)"
            assert f"sub.csv: column target must lie in [0, 1] {why}; got {value} at line 2." in err


@pytest.mark.parametrize(("zip_name", "name"), [("my-comp (1).zip", "copy_one"), ("my-comp(12).zip", "copy_twelve")])
def test_the_slug_of_a_second_download_has_no_copy_number(tmp_path: Path, zip_name: str, name: str) -> None:
    # before: KAGGLE_SLUG = "my-comp (1)", a slug Kaggle has not (download and submit would ask for it)
    assert new(tmp_path, name, write_zip(tmp_path / zip_name, "binary")) == 0
    assert load_competition(str(tmp_path / "comps" / name)).KAGGLE_SLUG == "my-comp"


@pytest.mark.parametrize(
    ("case", "flag"),
    [("no_sample", "--sample"), ("target_absent", "--target"), ("several_ids", "--id"), ("exists", "never overwrites")],
)
def test_refusals_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture, case: str, flag: str) -> None:
    z = write_zip(tmp_path / "c.zip", "binary", sample_name="" if case == "no_sample" else "sample_submission.csv")
    train, test = table(N_TRAIN, 0)[0].assign(target=1), table(N_TEST, 1, start=10_000)[0]
    if case == "target_absent":  # the sample's value column is not in train, and train has two train-only columns
        z = zip_of(tmp_path / "c2.zip", train.assign(other=1), test, "key,answer\n10000,0\n")
    if case == "several_ids":  # the sample's first column is not in test, where two columns have unique values, and
        # its ids (0, 2, 4, ...) are not the test rows' numbers either
        ids = "".join(f"{2 * i},0\n" for i in range(N_TEST))
        z = zip_of(tmp_path / "c2.zip", train, test, "row_id,target\n" + ids)
    if case == "exists":
        (tmp_path / "comps" / "comp").mkdir(parents=True)
    capsys.readouterr()
    assert new(tmp_path, "comp", z) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and flag in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    if case != "exists":
        assert not (tmp_path / "comps" / "comp").exists()


def test_metric_list_matches_the_registry() -> None:
    from pipeline.multilabel import TAG_METRICS

    assert tuple(METRICS) == METRIC_NAMES
    assert tuple(TAG_METRICS) == TAG_METRIC_NAMES


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("auc", "ROC AUC is --metric roc_auc."),
        ("logloss", "log loss is --metric log_loss."),
        # (f1_micro is refused so for a table only once its files are read: image tags take it)
        ("micro_f1", "is accuracy: --metric accuracy."),
        ("RMSE", "Names are lower case: --metric rmse."),
        ("MAP@3", "Names are lower case: --metric map@3."),
        ("no_such", "unknown. Valid metrics: accuracy, roc_auc"),
    ],
)
def test_a_metric_named_another_way_is_refused_with_ours(
    tmp_path: Path, capsys: pytest.CaptureFixture, given: str, said: str
) -> None:
    # the names competition pages and other libraries use are refused before any file is read, naming ours
    assert new(tmp_path, "comp_named", tmp_path / "not_read.zip", "--metric", given) == 2
    err = capsys.readouterr().err
    assert f"--metric {given}: unknown." in err and said in err and "Traceback" not in err


def test_a_generated_competition_tunes_and_its_best_params_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "tunable.zip", "binary")
    assert new(tmp_path, "comp_tune", z) == 0
    comp = str(tmp_path / "comps" / "comp_tune")
    fixed = ["--data", str(z), "--folds", "3", "--models", "lightgbm,linear", *FAST, "--quiet"]
    assert main(["tune", comp, "--trials", "3", "--pruner", "none", *fixed]) == 0
    study_dir = tmp_path / "runs" / "comp_tune" / "tune-comp_tune"
    info = json.loads((study_dir / "study.json").read_text())
    best = json.loads((study_dir / "best_params.json").read_text())
    trials = pd.read_csv(study_dir / "trials.csv")
    assert len(trials) == 3 and trials["value"].nunique() > 1  # the suggested knobs changed the CV
    assert {"num_leaves", "min_child_samples", "colsample", "linear_alpha"} <= set(best)
    assert main(["run", comp, "--params", str(study_dir / "best_params.json"), *fixed]) == 0
    replayed = list((tmp_path / "runs" / "comp_tune").glob("*/summary.json"))
    assert len(replayed) == 1
    assert json.loads(replayed[0].read_text())["cv"] == info["best"]["value"]  # exactly


@pytest.mark.parametrize(
    ("metric", "offset", "transform", "objective"),
    [
        ("mae", 0, "log1p", "l1"),
        ("mae", -200, "", "l1"),
        ("mape", 0, "log1p", "l1"),
        ("medae", 0, "log1p", "l1"),
        ("smape", 0, "log1p", "l1"),
        ("rmsle", 0, "log1p", ""),
        ("rmse", 0, "", ""),
    ],
)
def test_the_fit_follows_the_metric(
    tmp_path: Path, metric: str, offset: float, transform: str, objective: str, capsys: pytest.CaptureFixture
) -> None:
    # mae scores medians: absolute error, on log(1 + y) only when no target is negative; rmsle: log(1 + y)
    z = tmp_path / "reg.zip"
    train, latent = table(N_TRAIN, 0)
    test, _ = table(N_TEST, 1, start=10_000)
    train["target"] = 100 + 10 * latent + offset  # offset -200: targets below 0
    zip_of(z, train, test, pd.DataFrame({"key": test["key"], "target": 1.0}).to_csv(index=False))
    name = f"comp_fit_{metric}_{-offset}"
    assert new(tmp_path, name, z, "--metric", metric) == 0
    module = load_competition(str(tmp_path / "comps" / name))
    assert (module.Config.target_transform, module.Config.objective) == (transform, objective)
    out = capsys.readouterr().out
    assert ("fit: the boosters train on absolute error" in out) == (metric in ("mae", "mape", "medae", "smape"))
    assert "mape: " not in out  # no target of 0


def test_mape_on_zero_targets_says_they_outweigh_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: nothing said, and the CV read 4e16 (scikit-learn divides a 0 target's error by 2.2e-16)
    z = tmp_path / "zeros.zip"
    train, latent = table(N_TRAIN, 0)
    test, _ = table(N_TEST, 1, start=10_000)
    train["target"] = np.where(latent > 1.5, 0.0, 100 + 10 * latent)
    zip_of(z, train, test, pd.DataFrame({"key": test["key"], "target": 1.0}).to_csv(index=False))
    assert new(tmp_path, "comp_mape_zeros", z, "--metric", "mape") == 0
    zeros = int((train["target"] == 0).sum())
    assert zeros and f"mape: {zeros} target value(s) of train.csv are 0" in capsys.readouterr().out


def rare_class_zip(path: Path) -> Path:
    """A binary download whose positive class is rare (about 12%): scored by F1, its best cut is well below 0.5."""
    train, latent = table(800, 0)
    test, _ = table(200, 1, start=10_000)
    train["target"] = (latent + np.random.default_rng(2).normal(0, 1.5, 800) > 3.2).astype(int)
    return zip_of(path, train, test, pd.DataFrame({"key": test["key"], "target": 0}).to_csv(index=False))


def test_f1_labels_are_cut_at_a_threshold_fitted_out_of_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    z = rare_class_zip(tmp_path / "rare.zip")
    assert new(tmp_path, "comp_f1", z, "--metric", "f1") == 0
    cut = run(tmp_path, "comp_f1", z, *FAST)
    comp = str(tmp_path / "comps" / "comp_f1")
    assert main(["run", comp, "--data", str(z), "--folds", "3", "--quiet", *FAST, "--set", "threshold=false"]) == 0
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "comp_f1").glob("*/summary.json")]
    (plain,) = [r for r in summaries if r["run_dir"] != cut["run_dir"]]
    info = json.loads((Path(cut["run_dir"]) / "threshold.json").read_text())
    assert info["applied"] and info["threshold"] < 0.4 and len(info["fold_thresholds"]) == 3
    assert cut["cv"] == info["score_after"] > info["score_before"] == plain["cv"]  # reported: the out-of-fold cut
    assert plain["threshold"] is None and not (Path(plain["run_dir"]) / "threshold.json").exists()
    positives = [(pd.read_csv(r["published"])["target"] == 1).sum() for r in (cut, plain)]
    assert positives[0] > positives[1]  # the lower cut labels more test rows positive


def test_the_recipe_knobs_reach_each_library() -> None:
    from pipeline import tabular

    cfg = tabular.TabularRecipe(
        num_leaves=7, min_child_samples=33, max_depth=3, min_child_weight=4.0, colsample=0.5, reg_lambda=9.0,
        depth=5, l2_leaf_reg=11.0, linear_alpha=4.0, max_trees=5,
    )  # fmt: skip
    X, latent = table(120, 0)
    y = (latent > 0.5).astype(int)
    fitted = {m: est.fit(X, y) for m, est in tabular.model_set("binary", cfg).items()}
    lgbm = fitted["lightgbm"].models_[0].get_params()
    assert (lgbm["num_leaves"], lgbm["min_child_samples"], lgbm["colsample_bytree"], lgbm["reg_lambda"]) == (
        7, 33, 0.5, 9.0
    )  # fmt: skip
    xgb = fitted["xgboost"].models_[0].get_params()
    assert (xgb["max_depth"], xgb["min_child_weight"], xgb["colsample_bytree"], xgb["reg_lambda"]) == (3, 4.0, 0.5, 9.0)
    cat = fitted["catboost"].models_[0].get_params()
    assert (cat["depth"], cat["l2_leaf_reg"]) == (5, 11.0)
    assert fitted["linear"].named_steps["model"].C == 0.25


def test_under_a_time_limit_the_models_that_cannot_be_cut_short_fit_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the linear model cannot take a deadline, the boosters fit to theirs: fitted last they use what linear leaves
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "order.zip", "binary")
    assert new(tmp_path, "comp_order", z) == 0
    limited = run(tmp_path, "comp_order", z, *FAST, "--time-limit", "120")
    assert list(limited["models"]) == ["linear", "lightgbm"]
    log = (Path(limited["run_dir"]) / "log.txt").read_text()
    assert "models: linear, lightgbm" in log and log.index("linear fold 0") < log.index("lightgbm fold 0")
    comp = str(tmp_path / "comps" / "comp_order")
    assert main(["run", comp, "--data", str(z), "--folds", "3", "--quiet", *FAST, "--tag", "free"]) == 0
    free = json.loads(next((tmp_path / "runs" / "comp_order").glob("*-free/summary.json")).read_text())
    assert list(free["models"]) == ["lightgbm", "linear"]  # without a limit: the competition's order


@pytest.mark.parametrize(("metric", "task"), [("gini", "binary"), ("smape", "regression"), ("medae", "regression")])
def test_kaggle_s_other_metrics_score_the_run_and_its_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metric: str, task: str
) -> None:
    # the CV a run reports is the metric of its out-of-fold predictions; gini submits probabilities, the others values
    from pipeline.tabular.metrics import METRICS

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / f"{metric}.zip", task)
    assert new(tmp_path, f"comp_{metric}", z, "--metric", metric) == 0
    s = run(tmp_path, f"comp_{metric}", z, *FAST)
    y = pd.read_csv(tmp_path / "data" / metric / "train.csv")["target"].to_numpy()
    final = "_stack" if (s.get("stack") or {}).get("used") else "_blend"  # the better of the two, out of fold
    assert s["cv"] == pytest.approx(METRICS[metric].fn(y, np.load(Path(s["run_dir"]) / "oof" / f"{final}.npy")))
    published = pd.read_csv(s["published"])["target"]
    if metric == "gini":  # ranks well above chance, and probabilities in the submission
        assert s["cv"] > 0.5 and published.between(0, 1).all() and published.nunique() > 10
    else:  # within 10% of the targets, where predicting their mean misses by more
        mean_guess = METRICS[metric].fn(y, np.full(len(y), y.mean()))
        assert s["cv"] < 0.5 * mean_guess and published.min() > 0


def test_balanced_log_loss_shifts_a_rare_class_s_probabilities_out_of_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    z = rare_class_zip(tmp_path / "rare_bll.zip")
    assert new(tmp_path, "comp_bll", z, "--metric", "balanced_log_loss") == 0
    shifted = run(tmp_path, "comp_bll", z, *FAST)
    plain = run(tmp_path, "comp_bll", z, *FAST, "--set", "threshold=false")
    info = json.loads((Path(shifted["run_dir"]) / "threshold.json").read_text())
    share = (pd.read_csv(tmp_path / "data" / "rare_bll" / "train.csv")["target"] == 1).mean()
    assert info["applied"] and abs(info["threshold"] - share) < 0.15  # the shift sits near the class's share
    assert shifted["cv"] == info["score_after"] < info["score_before"] == plain["cv"]  # lower is better
    means = [pd.read_csv(r["published"])["target"].mean() for r in (shifted, plain)]
    assert means[0] > means[1] + 0.1  # the rare class's probabilities raised towards the balance
