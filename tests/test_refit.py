"""Config.refit: each model refitted once on every training row for the submission (default for folds forward in
time), its trees those its folds stopped at, resumable, refused by the time limit without losing the model, and
skipped by tune's trials."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import FitContext
from pipeline.refit import clone_with, refit_params, refit_rows
from pipeline.runner import RunOptions, run
from pipeline.tabular.mlp import TabularMLP
from pipeline.tabular.models import Boosted, linear
from pipeline.tabular.multitarget import MultiTarget
from tests.toy import TOY, make_toy

ON = TOY.replace("    warns: bool = False\n", '    warns: bool = False\n    refit: str = "on"\n')


def frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, 2 * X["a"].to_numpy() + rng.normal(size=n)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_refit_params_grow_the_trees_the_fold_stopped_at_scaled_to_the_rows(library: str) -> None:
    X, y = frame()
    fold = Boosted(library, n_estimators=2000, learning_rate=0.1, early_stopping=20)
    context = FitContext(workdir=None, eval_set=frame(200, seed=1))
    fold.fit(X, y, context=context)
    (stopped,) = fold.best_iterations_
    assert 1 < stopped < 2000  # it stopped early on the runner's validation rows
    params = fold.refit_params(500)  # the refit trains on 500 rows, the fold on 400
    assert params == {"n_estimators": round(stopped * 500 / 400), "early_stopping": 0}
    refit = Boosted(library, learning_rate=0.1, **params).fit(X, y)  # no context: no validation rows
    assert refit.best_iterations_ == [params["n_estimators"]]
    # a model that stops on rows of its own needs nothing from the runner
    assert Boosted(library, bag_folds=3).fit(X, y).refit_params(500) == {}


def test_no_early_stopping_trains_on_every_row() -> None:
    X, y = frame()
    model = Boosted("lightgbm", n_estimators=30, early_stopping=0, params={"subsample": 1.0}).fit(X, y)
    first_tree = model.models_[0].booster_.trees_to_dataframe().query("tree_index == 0")
    assert first_tree["count"].max() == 400  # no share of the rows held out to stop on
    assert model.best_iterations_ == [30]


def test_multi_target_refits_each_target_with_its_own_trees() -> None:
    X, y = frame()
    Y = np.column_stack([y, np.sin(3 * X["b"].to_numpy())])
    X_va, y_va = frame(200, seed=1)
    context = FitContext(workdir=None, eval_set=(X_va, np.column_stack([y_va, np.sin(3 * X_va["b"].to_numpy())])))
    fold = MultiTarget(Boosted("lightgbm", learning_rate=0.1, early_stopping=20)).fit(X, Y, context=context)
    params = fold.refit_params(400)
    trees = [est.best_iterations_[0] for est in fold.estimators_]
    assert params == {"per_target_params": [{"n_estimators": t, "early_stopping": 0} for t in trees]}
    refit = MultiTarget(Boosted("lightgbm", learning_rate=0.1), **params).fit(X, Y)
    assert [est.best_iterations_ for est in refit.estimators_] == [[t] for t in trees]


def test_refit_params_are_the_last_folds_forward_in_time_else_the_folds_mean() -> None:
    parts = [{"refit": json.dumps({"n_estimators": n, "early_stopping": 0})} for n in (100, 120, 141)]
    assert refit_params(parts, forward=True) == {"n_estimators": 141, "early_stopping": 0}
    assert refit_params(parts, forward=False) == {"n_estimators": 120, "early_stopping": 0}
    nested = [{"refit": json.dumps({"per_target_params": [{"n_estimators": n}, {}]})} for n in (10, 13)]
    assert refit_params(nested, forward=False) == {"per_target_params": [{"n_estimators": 12}, {}]}
    assert refit_params([{"refit": "{}"}], forward=False) == {}


def test_the_refit_line_says_what_a_model_still_holds_out_of_every_row() -> None:
    grown = clone_with(Boosted("lightgbm", early_stopping=20), {"n_estimators": 120, "early_stopping": 0})
    assert refit_rows(grown, 600) == "on all 600 training rows"  # the trees its folds stopped at, on every row
    assert refit_rows(linear("regression"), 600) == "on all 600 training rows"
    held = "on all 600 training rows, {} of them ({} rows) held out for its early stopping"
    assert refit_rows(TabularMLP(valid_fraction=0.2), 600) == held.format("20%", 120)
    assert refit_rows(TabularMLP(valid_fraction=0.0), 600) == held.format("10%", 60)  # no runner's rows in a refit
    assert refit_rows(Boosted("xgboost", valid_fraction=0.15), 600) == held.format("15%", 90)
    bagged = "as {} inner-fold models on all 600 training rows, each stopped early on the 1/5 of them it leaves out"
    assert refit_rows(Boosted("catboost", bag_folds=5), 600) == bagged.format("5")
    assert refit_rows(Boosted("lightgbm", bag_folds=5, bag=2), 600) == bagged.format("2 x 5")
    trees = {"per_target_params": [{"n_estimators": 50, "early_stopping": 0}] * 2}
    assert refit_rows(MultiTarget(Boosted("lightgbm"), **trees), 600) == "on all 600 training rows"
    assert refit_rows(MultiTarget(TabularMLP()), 600) == held.format("10%", 60)


def test_the_run_log_says_the_mlp_refit_holds_out_its_share_and_the_booster_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = drifting(tmp_path, n=300, n_test=50)
    assert main(["new", "drift", "--data", str(data), "--into", "comps"]) == 0
    args = ["run", "comps/drift", "--data", str(data), "--folds", "2", "--set", "models=lightgbm,mlp", "--quiet"]
    assert main([*args, "--set", "mlp_valid_fraction=0.2", "--set", "learning_rate=0.1"]) == 0
    log = (next((tmp_path / "runs" / "drift").iterdir()) / "log.txt").read_text()
    assert "mlp refit on all 300 training rows, 20% of them (60 rows) held out for its early stopping (" in log
    assert "lightgbm refit on all 300 training rows, " in log and " trees (" in log
    assert "lightgbm refit on all 300 training rows, 10%" not in log


def sample_data(run_dir: Path) -> str:
    """The built-in sample's folder a run was made on (predict's --data)."""
    return json.loads((run_dir / "summary.json").read_text())["data_dir"]


def drifting(tmp_path: Path, n: int = 600, n_test: int = 150) -> tuple[Path, np.ndarray]:
    """Daily sales whose level rises 0.01 a day (one informative feature); the later days are the test set. Returns
    the download and the test rows' true sales."""
    rng = np.random.default_rng(0)
    t = np.arange(n + n_test)
    x = rng.normal(size=n + n_test)
    y = 0.01 * t + x + rng.normal(0, 0.3, n + n_test)
    days = pd.date_range("2023-01-01", periods=n + n_test, freq="D").strftime("%Y-%m-%d")
    df = pd.DataFrame({"id": t, "date": days, "x": x, "sales": y})
    path = tmp_path / "drift.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", df.iloc[:n].to_csv(index=False))
        zf.writestr("test.csv", df.iloc[n:].drop(columns="sales").to_csv(index=False))
        zf.writestr("sample_submission.csv", df.iloc[n:][["id"]].assign(sales=0.0).to_csv(index=False))
    return path, y[n:]


def test_a_refit_on_every_row_prices_later_days_better_than_the_last_folds_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, truth = drifting(tmp_path)
    assert main(["new", "drift", "--data", str(data), "--into", "comps"]) == 0
    base = ["run", "comps/drift", "--data", str(data), "--models", "lightgbm,linear", "--quiet"]
    assert main([*base, "--tag", "refit"]) == 0
    assert main([*base, "--tag", "last", "--set", "refit=off"]) == 0
    runs = {r.name.rsplit("-", 1)[1]: r for r in (tmp_path / "runs" / "drift").iterdir()}

    def held_out_rmse(run_dir: Path) -> float:
        sub = pd.read_csv(run_dir / "submission.csv")
        return float(np.sqrt(np.mean((sub["sales"].to_numpy() - truth) ** 2)))

    summaries = {k: json.loads((r / "summary.json").read_text()) for k, r in runs.items()}
    assert summaries["refit"]["cv"] == summaries["last"]["cv"]  # the same folds and fold models: only the test differs
    assert all(m["refit"] for m in summaries["refit"]["models"].values())
    assert not any(m["refit"] for m in summaries["last"]["models"].values())
    assert not list((runs["last"] / "parts").glob("*/full.npz"))
    # the last fold's models never saw the last 100 days (a level 1.0 lower): the refit did
    assert held_out_rmse(runs["refit"]) < held_out_rmse(runs["last"]) - 0.3
    log = (runs["refit"] / "log.txt").read_text()
    assert "lightgbm refit on all 600 training rows, " in log and " trees (" in log


def test_refit_on_for_random_folds_and_its_resume_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    comp = str(make_toy(tmp_path / "comps", "refittoy", ON))
    whole = run(RunOptions(competition=comp, sample=True, quiet=True, tag="whole"))
    folds = [np.load(whole / "parts" / "ridge" / f"fold{f}.npz")["test"] for f in range(3)]
    refit = np.load(whole / "parts" / "ridge" / "full.npz")["test"]
    assert np.array_equal(np.load(whole / "test" / "ridge.npy"), refit)
    assert not np.allclose(refit, np.mean(folds, axis=0))  # not the fold models' mean
    assert (whole / "models" / "ridge" / "full.joblib").is_file()

    import pipeline.fold_fits as fold_fits

    real, calls = fold_fits._fit_full, []

    def dies_on_the_second(state, job, *rest):  # noqa: ANN001, ANN002, ANN202
        calls.append(job.model)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(state, job, *rest)

    monkeypatch.setattr(fold_fits, "_fit_full", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        run(RunOptions(competition=comp, sample=True, quiet=True, tag="killed"))
    killed = next((tmp_path / "runs").glob("*/*-killed-sample"))
    assert len(list((killed / "parts").glob("*/full.npz"))) == 1
    monkeypatch.setattr(fold_fits, "_fit_full", real)
    run(RunOptions(competition=comp, sample=True, quiet=True, tag="killed", resume=str(killed)))
    assert (killed / "submission.csv").read_bytes() == (whole / "submission.csv").read_bytes()
    # predict with the saved refits reproduces the submission
    assert (
        main(["predict", str(killed), "--data", sample_data(killed), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    )
    assert (tmp_path / "again" / "submission.csv").read_bytes() == (whole / "submission.csv").read_bytes()


def test_a_refit_the_time_limit_refuses_keeps_the_fold_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    comp = str(make_toy(tmp_path / "comps", "refitcut", ON))
    import pipeline.fold_fits as fold_fits

    real = fold_fits._part

    def refuse_the_refit(state, job, have_complete):  # noqa: ANN001, ANN202
        if job.fold == "full" and job.model == "knn":
            return None, "time limit reached"
        return real(state, job, have_complete)

    monkeypatch.setattr(fold_fits, "_part", refuse_the_refit)
    run_dir = run(RunOptions(competition=comp, sample=True, quiet=True))
    models = json.loads((run_dir / "summary.json").read_text())["models"]
    assert models["knn"]["refit"] is False and models["ridge"]["refit"] is True
    folds = [np.load(run_dir / "parts" / "knn" / f"fold{f}.npz")["test"] for f in range(3)]
    assert np.allclose(np.load(run_dir / "test" / "knn.npy"), np.mean(folds, axis=0))
    assert "knn: no refit on every training row (time limit reached)" in (run_dir / "log.txt").read_text()
    monkeypatch.setattr(fold_fits, "_part", real)
    assert main(["predict", str(run_dir), "--data", sample_data(run_dir), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_tune_trials_skip_the_refit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = "\n\ndef search_space(trial):\n    return {'alpha': trial.suggest_float('alpha', 0.1, 10.0, log=True)}\n"
    comp = str(make_toy(tmp_path / "comps", "refittune", ON + space))
    assert main(["tune", comp, "--trials", "2", "--models", "ridge", "--sample", "--quiet"]) == 0
    trials = list((tmp_path / "runs").glob("refittune/tune-*/refittune/*/parts/ridge"))
    assert len(trials) == 2 and not any((t / "full.npz").exists() for t in trials)


def test_a_refit_setting_that_is_not_one_of_the_choices_is_refused_before_any_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = drifting(tmp_path)
    assert main(["new", "drift", "--data", str(data), "--into", "comps"]) == 0
    capsys.readouterr()
    assert main(["run", "comps/drift", "--data", str(data), "--set", "refit=yes", "--quiet"]) == 2
    assert "Config.refit must be one of auto, on, off, got 'yes'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_budget_projects_the_folds_alone_and_checks_the_refit_by_its_rows() -> None:
    import time

    from pipeline.budget import Budget

    budget = Budget(time.monotonic() + 40, n_models=2, n_folds=3, refits=True)
    assert budget.total_fits == 8  # the refits share what is left too
    budget.times["m"] = [10.0, 10.0]
    assert budget.refuse("m", have_complete=True) is None  # one fold of 10 s left, not two (the refit is no fold)
    budget.times["m"] = [10.0, 10.0, 10.0]
    assert budget.refuse_refit("m", rows_ratio=1.5) is None  # 15 s
    assert budget.refuse_refit("m", rows_ratio=5.0) == f"it needs ~50s, {budget.remaining():.0f}s left"
    assert budget.refuse_refit("m", rows_ratio=5.0, elastic=True) is None  # it fits to its deadline


def test_a_booster_stopped_by_the_deadline_says_so() -> None:
    import time

    X, y = frame(2000)
    context = FitContext(workdir=None, deadline=time.monotonic() + 0.3)
    model = Boosted("lightgbm", n_estimators=100_000, learning_rate=0.001, early_stopping=0).fit(X, y, context=context)
    assert model.deadline_reached_ and model.best_iterations_[0] < 100_000
    assert not Boosted("lightgbm", n_estimators=20, early_stopping=0).fit(X, y).deadline_reached_


CUT = ON.replace(
    "class Slow(BaseEstimator, RegressorMixin):",
    '''class Refits(Ridge):
    """A ridge whose fit on all 120 sample rows (the refit; a fold has 80) is stopped by the deadline, or fails."""

    def __init__(self, alpha=1.0, fails=False):
        super().__init__(alpha=alpha)
        self.fails = fails

    def fit(self, X, y):
        if len(X) == 120 and self.fails:
            raise RuntimeError("no memory left for every row")
        super().fit(X, y)
        self.deadline_reached_ = len(X) == 120
        return self


class Slow(BaseEstimator, RegressorMixin):''',
).replace(
    '"knn": KNeighborsRegressor(5),', '"knn": KNeighborsRegressor(5), "cut": Refits(), "fails": Refits(fails=True),'
)


def test_a_refit_cut_by_the_deadline_or_failing_leaves_the_model_its_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    comp = str(make_toy(tmp_path / "comps", "refitfails", CUT))
    run_dir = run(RunOptions(competition=comp, sample=True, quiet=True, models=["ridge", "cut", "fails"]))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and set(summary["models"]) == {"ridge", "cut", "fails"}
    assert [summary["models"][m]["refit"] for m in ("ridge", "cut", "fails")] == [True, False, False]
    for model in ("cut", "fails"):
        folds = [np.load(run_dir / "parts" / model / f"fold{f}.npz")["test"] for f in range(3)]
        assert np.allclose(np.load(run_dir / "test" / f"{model}.npy"), np.mean(folds, axis=0))
    log = (run_dir / "log.txt").read_text()
    assert "cut: no refit on every training row (the time limit stopped it before its last tree)" in log
    assert "fails: no refit on every training row (it failed: RuntimeError: no memory left for every row)" in log


def test_predict_calibrates_as_the_run_did_when_its_refits_were_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.toy import TOY_CLASSES

    monkeypatch.chdir(tmp_path)
    source = TOY_CLASSES.replace("KNeighborsClassifier(15)", "KNeighborsClassifier(4)")
    source = source.replace("    folds: int = 3\n", '    folds: int = 3\n    refit: str = "on"\n')
    source = source.replace('FOLDS = "stratified"', 'FOLDS = "stratified"\nCALIBRATE = "temperature"')
    assert 'CALIBRATE = "temperature"' in source and 'refit: str = "on"' in source
    comp = str(make_toy(tmp_path / "comps", "refitcalib", source))
    import pipeline.fold_fits as fold_fits

    real = fold_fits._part

    def refuse_every_refit(state, job, have_complete):  # noqa: ANN001, ANN202
        return (None, "time limit reached") if job.fold == "full" else real(state, job, have_complete)

    monkeypatch.setattr(fold_fits, "_part", refuse_every_refit)
    run_dir = run(RunOptions(competition=comp, sample=True, quiet=True, models=["knn"]))
    monkeypatch.setattr(fold_fits, "_part", real)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["refit"] is True and summary["models"]["knn"]["refit"] is False
    out = tmp_path / "again"
    assert main(["predict", str(run_dir), "--data", sample_data(run_dir), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_a_run_saved_before_the_refit_setting_resumes_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tabular run made before Config.refit existed: its resume keeps its folds and fold models (refit "off")."""
    monkeypatch.chdir(tmp_path)
    folder = make_toy(tmp_path / "comps", "refitlegacy", TOY)  # no refit field: as every Config was before
    old = run(RunOptions(competition=str(folder), sample=True, quiet=True))
    before, finished = (old / "submission.csv").read_bytes(), (old / "summary.json").stat().st_mtime_ns
    (folder / "__init__.py").write_text(ON)  # the package as it is now: the recipe gained the field
    import sys

    sys.modules.pop("refitlegacy", None)
    run(RunOptions(competition=str(folder), sample=True, quiet=True, resume=str(old)))
    assert (old / "summary.json").stat().st_mtime_ns == finished  # already complete: nothing done
    assert not list((old / "parts").glob("*/full.npz"))
    # a run killed before the field existed refits none of its saved folds either
    (old / "summary.json").unlink()
    (old / "parts" / "slow" / "fold2.npz").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in (old / "parts").glob("*/fold*.npz")}
    run(RunOptions(competition=str(folder), sample=True, quiet=True, resume=str(old)))
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # kept, not fitted again
    assert (old / "submission.csv").read_bytes() == before and not list((old / "parts").glob("*/full.npz"))
