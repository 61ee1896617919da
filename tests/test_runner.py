"""The runner on a toy competition: artifacts, determinism, resume, time limit and ensembling of saved runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import subprocess_env
from test_plots import assert_png
from toy import TOY, TOY_CLASSES, make_toy

from pipeline.cli import main
from pipeline.commands.package import RUN_FILES
from pipeline.contract import ContractError
from pipeline.ensemble_runs import ensemble_runs
from pipeline.runner import RunOptions, run


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}"))


def opts(toy: str, **kw: object) -> RunOptions:
    return RunOptions(competition=toy, sample=True, quiet=True, **kw)  # type: ignore[arg-type]


def test_run_folder_holds_every_artifact(toy: str) -> None:
    run_dir = run(opts(toy, tag="t"))
    # what `package` ships of a run (all but the stacking, threshold and calibration records and the training
    # images' digests, which this run has no use for), then the log, the submission, predictions, plots, fold parts
    unused = ("stack.json", "threshold.json", "calibration.json", "train_images.json")
    shipped = [name for name in RUN_FILES if name not in unused]
    for name in (
        *shipped,
        "log.txt",
        "submission.csv",
        "oof/ridge.npy",
        "oof/knn.npy",
        "test/ridge.npy",
        "oof/_blend.npy",
        "test/_blend.npy",
        "plots/residuals.png",
        "parts/ridge/fold0.npz",
    ):
        assert (run_dir / name).exists(), name
    assert_png(run_dir / "plots" / "residuals.png")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["sample"] is True and run_dir.name.endswith("-t-sample")
    assert Path(summary["published"]).read_bytes() == (run_dir / "submission.csv").read_bytes()
    env = json.loads((run_dir / "env.json").read_text())
    assert {"git", "versions", "device"} <= set(env)
    folds = np.load(run_dir / "folds.npy")
    assert sorted(set(folds.tolist())) == [0, 1, 2] and len(folds) == 120
    oof = np.load(run_dir / "oof" / "ridge.npy")
    assert oof.shape == (120, 1) and np.isfinite(oof).all()
    scores = json.loads((run_dir / "scores.json").read_text())
    assert len(scores["ridge"]["fold_scores"]) == 3 and scores["ridge"]["mean"] < 0.3  # learnable: noise sd 0.1


def test_same_seed_same_oof_and_other_seed_other_folds(toy: str) -> None:
    a, b, c = run(opts(toy)), run(opts(toy)), run(opts(toy, seed=7))
    for model in ("ridge", "knn"):
        assert np.array_equal(np.load(a / "oof" / f"{model}.npy"), np.load(b / "oof" / f"{model}.npy"))
    assert not np.array_equal(np.load(a / "folds.npy"), np.load(c / "folds.npy"))


def nested_blend_score(run_dir: Path, models: list[str], y: np.ndarray, score) -> float:
    """The blend scored out of fold, recomputed independently: weights for each fold fitted on the other folds."""
    from pipeline.blend import blend, fit_weights
    from pipeline.contract import Metric

    folds = np.load(run_dir / "folds.npy")
    oofs = {m: np.load(run_dir / "oof" / f"{m}.npy") for m in models}
    pred = np.zeros_like(next(iter(oofs.values())))
    for f in np.unique(folds):
        w = fit_weights(oofs, y, score, Metric("m", False), folds != f)
        pred[folds == f] = blend([oofs[m][folds == f] for m in models], np.array([w[m] for m in models]))
    return score(y, pred)


def toy_y(run_dir: Path) -> np.ndarray:
    return pd.read_csv(Path(json.loads((run_dir / "summary.json").read_text())["data_dir"]) / "train.csv")[
        "target"
    ].to_numpy()


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(p).reshape(-1) - y) ** 2)))


def test_blend_weights_simplex_and_cv_out_of_fold(toy: str) -> None:
    run_dir = run(opts(toy))
    s = json.loads((run_dir / "summary.json").read_text())
    w = np.array(list(s["blend"]["weights"].values()))
    assert (w >= 0).all() and abs(w.sum() - 1) < 1e-9
    # in sample (weights fitted on the rows scored) the blend can never lose to its best member
    assert s["blend"]["in_sample_score"] <= s["blend"]["best_single_score"] + 1e-12
    # the reported CV is out of fold: each fold blended with weights fitted on the other folds
    assert s["blend"]["out_of_fold"] is True and s["cv"] == s["blend"]["score"]
    assert s["cv"] == pytest.approx(nested_blend_score(run_dir, list(s["models"]), toy_y(run_dir), rmse), rel=1e-9)
    blend = json.loads((run_dir / "blend.json").read_text())
    assert blend["score"] == s["cv"] and blend["in_sample_score"] == s["blend"]["in_sample_score"]
    assert rmse(toy_y(run_dir), np.load(run_dir / "oof" / "_blend.npy")) == pytest.approx(s["cv"], rel=1e-12)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(toy: str) -> None:
    full = run(opts(toy))
    seen: list[int] = []

    def die_after_four(info: dict) -> None:
        seen.append(1)
        if len(seen) == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(opts(toy, report=die_after_four, tag="killed"))
    killed = next(Path("runs").glob("*/*-killed-sample"))
    assert not (killed / "summary.json").exists()
    assert len(list((killed / "parts").glob("*/*.npz"))) == 4
    run(opts(toy, tag="killed", resume=str(killed)))
    for model in ("ridge", "knn", "slow"):
        assert np.array_equal(np.load(full / "oof" / f"{model}.npy"), np.load(killed / "oof" / f"{model}.npy"))
    assert (killed / "submission.csv").read_bytes() == (full / "submission.csv").read_bytes()


@pytest.mark.parametrize(
    ("slow_sleep", "why"),
    [
        (0.8, r"slow skipped: (its remaining folds need|a fold did not finish|time limit reached)"),
        (30.0, r"slow skipped: (a fold did not finish before the time limit|time limit reached)"),
    ],
)
def test_time_limit_drops_slow_models_and_still_submits(toy: str, slow_sleep: float, why: str) -> None:
    run_dir = run(opts(toy, sets=["sleep=0.2", f"slow_sleep={slow_sleep}"], time_limit=3.0))
    s = json.loads((run_dir / "summary.json").read_text())
    assert {"ridge", "knn"} <= set(s["models"]) and "slow" not in s["models"]
    assert re.search(why, (run_dir / "log.txt").read_text())
    sub = pd.read_csv(run_dir / "submission.csv")
    assert len(sub) == 30 and sub["target"].notna().all()
    if slow_sleep == 30.0:  # the 30 s fold was abandoned at the deadline, not waited for
        assert s["seconds"] < slow_sleep


def test_folds_asked_for_replace_a_holdout_the_config_sets(tmp_path: Path) -> None:
    # before: --folds 2 under a holdout (the image competitions' cpu and fast presets) ran the holdout, without a word
    source = TOY.replace("    warns: bool = False\n", "    warns: bool = False\n    holdout: float = 0.3\n")
    comp = str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", source))
    held = run(opts(comp, models=["ridge"]))
    assert sorted(set(np.load(held / "folds.npy"))) == [-1, 0]
    two = run(opts(comp, models=["ridge"], folds=2))
    assert sorted(set(np.load(two / "folds.npy"))) == [0, 1]
    assert "folds: --folds 2 replaces the holdout of 0.3" in (two / "log.txt").read_text()
    assert json.loads((two / "config.json").read_text())["config"]["holdout"] == 0.0


def test_a_killed_run_whose_folds_replaced_a_preset_s_holdout_resumes_with_the_same_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: the resume's check resolved the preset without --folds, saw holdout 0.3 against the run's saved 0.0 and
    # refused ("the new options change holdout"): the image and segmentation recipes' fast and cpu presets hold one
    monkeypatch.chdir(tmp_path)
    source = TOY.replace("    warns: bool = False\n", "    warns: bool = False\n    holdout: float = 0.0\n").replace(
        'PRESETS = {"strong": {"alpha": 100.0}}', 'PRESETS = {"strong": {"alpha": 100.0}, "held": {"holdout": 0.3}}'
    )
    comp = str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", source))
    command = ["run", comp, "--sample", "--preset", "held", "--folds", "2", "--models", "ridge", "--quiet"]
    assert main(command) == 0
    (run_dir,) = (p for p in Path("runs").glob("*/*") if p.is_dir())
    done = (run_dir / "submission.csv").read_bytes()
    (run_dir / "summary.json").unlink()  # killed after its first fold
    (run_dir / "parts" / "ridge" / "fold1.npz").unlink()
    assert main([*command, "--resume", str(run_dir)]) == 0, capsys.readouterr().err
    assert sorted(set(np.load(run_dir / "folds.npy"))) == [0, 1]
    assert (run_dir / "submission.csv").read_bytes() == done


def test_an_ensemble_of_runs_whose_stage_settings_differ_says_whose_it_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the base run's Config held without a word (a segmentation ensemble cut every mask at its first run's
    # mask_threshold, the other run's CV in its table at that cut)
    monkeypatch.chdir(tmp_path)
    source = TOY.replace("    warns: bool = False\n", '    warns: bool = False\n    blend_weights: str = "auto"\n')
    comp = str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}", source))
    runs = [
        run(opts(comp, models=[m], sets=s)) for m, s in (("ridge", ["blend_weights=fitted"]), ("knn", []), ("slow", []))
    ]
    a, b = (json.loads((d / "summary.json").read_text())["run_id"] for d in runs[:2])
    log = (ensemble_runs(runs[:2], quiet=True) / "log.txt").read_text()
    assert (
        f"warning: ensemble: the runs' Configs differ in what the stages after the models and the submission read "
        f"(blend_weights: {a} 'fitted', {b} 'auto'); the ensemble uses {a}'s (blend_weights='fitted')"
    ) in log
    assert "differ" not in (ensemble_runs(runs[1:], quiet=True) / "log.txt").read_text()


def test_a_fold_the_time_limit_abandons_writes_nothing_into_the_run_later(toy: str) -> None:
    import time

    run_dir = run(opts(toy, sets=["slow_sleep=3.0"], time_limit=3.0))
    assert "slow skipped: a fold did not finish before the time limit" in (run_dir / "log.txt").read_text()
    time.sleep(3.0)  # the abandoned fit ends in its thread meanwhile; before, it then wrote its part and its model
    assert not (run_dir / "parts" / "slow").exists() and not (run_dir / "models" / "slow").exists()


def test_ensemble_of_saved_runs_and_refusal_of_different_folds(toy: str) -> None:
    from pipeline.submission import validate_submission

    a = run(opts(toy, models=["ridge"]))
    b = run(opts(toy, models=["knn"]))
    ens = ensemble_runs([a, b], quiet=True)
    s = json.loads((ens / "summary.json").read_text())
    names = [f"{a.name}/ridge", f"{b.name}/knn"]
    assert set(s["models"]) == set(names)
    assert s["blend"]["in_sample_score"] <= s["blend"]["best_single_score"] + 1e-12  # exact: never worse in sample
    y = toy_y(a)
    for d in (a, b):  # the ensemble's members are the runs' own OOF predictions, unchanged
        model = json.loads((d / "summary.json").read_text())["models"]
        assert s["models"][f"{d.name}/{next(iter(model))}"]["mean"] == next(iter(model.values()))["mean"]
    oofs = {n: np.load(d / "oof" / f"{n.split('/')[1]}.npy") for n, d in zip(names, (a, b), strict=True)}
    folds = np.load(ens / "folds.npy")
    assert np.array_equal(folds, np.load(a / "folds.npy"))
    from pipeline.blend import blend, fit_weights
    from pipeline.contract import Metric

    pred = np.zeros_like(oofs[names[0]])
    for f in np.unique(folds):
        w = fit_weights(oofs, y, rmse, Metric("rmse", False), folds != f)
        pred[folds == f] = blend([oofs[n][folds == f] for n in names], np.array([w[n] for n in names]))
    assert s["cv"] == pytest.approx(rmse(y, pred), rel=1e-9)
    validate_submission(ens / "submission.csv", Path(s["data_dir"]) / "sample_submission.csv")
    other = run(opts(toy, models=["knn"], seed=3))
    with pytest.raises(ContractError, match="used different folds"):
        ensemble_runs([a, other], quiet=True)


def test_ensemble_cli_blends_probabilities_of_classification_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.metrics import log_loss

    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    name = f"cls_{uuid.uuid4().hex[:8]}"
    make_toy(tmp_path / "comps", name, TOY_CLASSES)
    comp = f"comps/{name}"  # relative, as `new` writes it: the ensemble below runs from another directory
    assert main(["run", comp, "--sample", "--models", "logreg", "--quiet"]) == 0
    assert main(["run", comp, "--sample", "--models", "knn", "--quiet"]) == 0
    by_model = {
        next(iter(json.loads((d / "summary.json").read_text())["models"])): d.resolve()
        for d in Path("runs").glob("*/*")
    }
    a, b = by_model["logreg"], by_model["knn"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["ensemble", str(a), str(b), "--tag", "both"]) == 0
    ens = next(Path("runs").glob("*/*-ensemble-both-sample"))  # an ensemble of sample runs says so
    s = json.loads((ens / "summary.json").read_text())
    assert "blend (out of fold)" in capsys.readouterr().out
    oof = np.load(ens / "oof" / "_blend.npy")
    assert oof.shape == (150, 3)
    np.testing.assert_allclose(oof.sum(1), 1.0, rtol=1e-9)  # a blend of probabilities is a probability
    y = np.arange(150) % 3
    assert s["cv"] == pytest.approx(log_loss(y, np.clip(oof, 1e-15, 1), labels=range(3)), rel=1e-9)
    assert s["blend"]["in_sample_score"] <= s["blend"]["best_single_score"] + 1e-12
    weights = s["blend"]["weights"]
    members = {n: np.load(by_model[n.split("/")[1]] / "test" / f"{n.split('/')[1]}.npy") for n in weights}
    expected = sum(w * members[n] for n, w in weights.items())
    sub = pd.read_csv(ens / "submission.csv")
    assert list(sub.columns) == ["id", "a", "b", "c"] and len(sub) == 30
    np.testing.assert_allclose(sub[["a", "b", "c"]].to_numpy(), expected, rtol=1e-6)


def test_runs_lists_past_runs(toy: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    run_dir = run(opts(toy, tag="listed"))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert run_dir.name in out and "sample listed" in out


def test_a_class_missing_from_a_folds_training_rows_keeps_its_column():
    from sklearn.linear_model import LogisticRegression

    from pipeline.fitting import predict_outputs

    X = np.array([[0.0], [0.1], [2.0], [2.1]])
    est = LogisticRegression().fit(X, np.array([0, 0, 2, 2]))  # class 1 of 0..2 absent from this fold
    proba = predict_outputs(est, X, classification=True, n_classes=3)
    assert proba.shape == (4, 3) and (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba[:, [0, 2]], est.predict_proba(X))
    assert proba[0].argmax() == 0 and proba[3].argmax() == 2


def test_env_json_records_the_git_sha_and_dirty_flag(toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.runfolder as runfolder

    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    (repo / "f.txt").write_text("a\n")
    git("add", "f.txt")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "c")
    monkeypatch.setattr(runfolder, "PROJECT_ROOT", repo)
    clean = json.loads((run(opts(toy, tag="clean")) / "env.json").read_text())["git"]
    assert clean == {"sha": git("rev-parse", "HEAD"), "dirty": False}
    (repo / "f.txt").write_text("b\n")  # a tracked file changed: the run says so
    dirty = json.loads((run(opts(toy, tag="dirty")) / "env.json").read_text())["git"]
    assert dirty == {"sha": clean["sha"], "dirty": True}


def test_list_names_every_competition_with_its_slug_and_metric(capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main
    from pipeline.contract import available_competitions, load_competition

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    names = available_competitions()
    assert {"house_prices", "cifar10", "cowboy_outfits"} <= set(names)
    for name in names:
        m = load_competition(name)
        assert f"competitions/{name}" in out and m.KAGGLE_SLUG in out and m.METRIC.name in out
        for preset in getattr(m, "PRESETS", {}):
            assert preset in out


def test_list_names_the_packages_of_a_folder_new_wrote_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    make_toy(tmp_path / "comps", "mine")
    (tmp_path / "comps" / "notes").mkdir()  # a folder that is no package is not listed
    assert main(["list", "comps"]) == 0
    out = capsys.readouterr().out
    assert "comps/mine" in out and "toy-competition" in out and "rmse" in out and "notes" not in out
    assert "competitions/house_prices" in out  # the checkout's own as before
    assert main(["list", "comps/mine"]) == 0  # the folder `new --into comps` printed: before, listed nothing of it
    assert "comps/mine" in capsys.readouterr().out
    assert main(["list", "nowhere"]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_jobs_reaches_the_estimators(toy: str) -> None:
    from pipeline.fitting import default_jobs

    one = run(opts(toy, models=["threads"], sets=["threads=true"], jobs=1))
    three = run(opts(toy, models=["threads"], sets=["threads=true"], jobs=3))
    default = run(opts(toy, models=["threads"], sets=["threads=true"]))
    assert (np.load(one / "oof" / "threads.npy") == 1).all()
    assert (np.load(three / "oof" / "threads.npy") == 3).all()
    # without --jobs: one thread on small data (the toy's few hundred cells), the usable cores on large data
    assert (np.load(default / "oof" / "threads.npy") == 1).all()
    assert default_jobs(10_000_000) == default_jobs() >= 1 and default_jobs(1000) == 1


def test_set_over_params_over_preset_over_defaults(toy: str, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"alpha": 10.0, "sleep": 0.001}))

    def resolved(**kw: object) -> dict:
        return json.loads((run(opts(toy, models=["ridge"], **kw)) / "config.json").read_text())["config"]

    assert resolved()["alpha"] == 1.0
    assert resolved(preset="strong")["alpha"] == 100.0
    assert resolved(preset="strong", params=str(params))["alpha"] == 10.0
    both = resolved(preset="strong", params=str(params), sets=["alpha=2.5"])
    assert both["alpha"] == 2.5 and both["sleep"] == 0.001  # --set wins for its key only
    # and the fitted model follows the resolved value: a stronger ridge penalty, other predictions
    a = run(opts(toy, models=["ridge"], preset="strong", params=str(params), sets=["alpha=2.5"]))
    b = run(opts(toy, models=["ridge"], sets=["alpha=2.5", "sleep=0.001"]))
    assert np.array_equal(np.load(a / "oof" / "ridge.npy"), np.load(b / "oof" / "ridge.npy"))


@pytest.mark.parametrize("quiet", [True, False])
def test_a_models_warnings_go_to_the_run_log_and_quiet_keeps_the_console_clear(toy: str, quiet: bool) -> None:
    """A model that does not converge warns every fold: one line in log.txt (and on the console unless --quiet),
    not Python's raw warning text on stderr."""
    env = subprocess_env()
    cmd = [sys.executable, "-m", "pipeline", "run", toy, "--sample", "--models", "warns,ridge", "--set", "warns=true"]
    done = subprocess.run(cmd + (["--quiet"] if quiet else []), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    run_dir = next(Path("runs").glob("*/*/log.txt")).parent
    logged = [line for line in (run_dir / "log.txt").read_text().splitlines() if "ConvergenceWarning" in line]
    assert len(logged) == 1 and "warning: ConvergenceWarning: Objective did not converge (toy)" in logged[0]
    assert "warnings.warn(" not in done.stderr  # Python's own format quotes the source line
    assert ("ConvergenceWarning" in done.stderr) is not quiet


def test_a_class_rarer_than_the_folds_is_validated_where_its_rows_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: a class with one image stopped every stratified run ("Use --folds 2 or fewer", which failed again), and
    # a holdout raised scikit-learn's traceback
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    comp = make_toy(tmp_path / "comps", f"toy_classes_{uuid.uuid4().hex[:8]}", TOY_CLASSES)
    assert main(["run", str(comp), "--sample", "--quiet"]) == 0
    data = tmp_path / "rare"
    sample = next((tmp_path / "data" / "sample").glob("toy_classes_*"))
    data.mkdir()
    for name in ("test.csv", "sample_submission.csv"):
        (data / name).write_bytes((sample / name).read_bytes())
    train = pd.read_csv(sample / "train.csv")
    train.loc[train["label"].eq("c") & (train.index > 2), "label"] = "a"  # one row of c is left
    train.to_csv(data / "train.csv", index=False)
    assert main(["run", str(comp), "--data", str(data), "--folds", "5", "--tag", "k"]) == 0
    out = capsys.readouterr()
    assert "folds: 1 class(es) have fewer rows than the 5 folds (the rarest 1)" in out.err + out.out
    folds = np.load(next((tmp_path / "runs").glob("*/*-k/folds.npy")))
    assert sorted(np.bincount(folds).tolist()) == [30, 30, 30, 30, 30]
    from pipeline.folds import make_folds

    y = np.array([0] * 40 + [1] * 39 + [2])
    assert (make_folds(y, 5, 0, "stratified", holdout=0.2) == 0).sum() == 16  # drawn at random, not stratified
    y = np.repeat(np.arange(5), 20)  # 5 classes do not fit a 3-row holdout
    assert (make_folds(y, 5, 0, "stratified", holdout=0.03) == 0).sum() == 3


def test_the_time_limit_counts_from_the_process_start_when_the_run_command_began_it(
    toy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m pipeline run --time-limit S` bounds the command's wall time, the interpreter's imports included:
    the budget counts from when the process began (pipeline.PROCESS_STARTED, set by __main__.py), not from when
    the run itself started. A process that began 1.5 s before a 2 s limit has 0.5 s left: the models that need
    more are dropped, where the same limit counted from the run fits them."""
    import time

    import pipeline

    args = ["run", toy, "--sample", "--quiet", "--set", "sleep=0.2", "--time-limit", "2", "--models", "ridge,knn"]
    monkeypatch.setattr(pipeline, "PROCESS_STARTED", None)  # imported as a library: the run's own start
    assert main([*args, "--tag", "from_run"]) == 0
    (fresh,) = Path("runs").glob("*/*-from_run-sample")
    assert set(json.loads((fresh / "summary.json").read_text())["models"]) == {"ridge", "knn"}
    monkeypatch.setattr(pipeline, "PROCESS_STARTED", time.monotonic() - 1.5)
    assert main([*args, "--tag", "from_process"]) == 0
    (late,) = Path("runs").glob("*/*-from_process-sample")
    assert "time limit reached" in (late / "log.txt").read_text()
    assert json.loads((late / "summary.json").read_text())["models"] != ["ridge", "knn"]
    assert "started" not in json.loads((late / "command.json").read_text())["options"]
