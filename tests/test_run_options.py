"""`run` and `tune` options a user gets wrong, and what a run reads again later: every mistake is refused before any
run folder exists, naming the option; a resume replays the run's own settings; another zip of the competition leaves
the first one's data to the runs made from it."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from toy import make_toy

from pipeline.archives import DataError
from pipeline.cli import main

HP = ["competitions/house_prices", "--sample", "--models", "lasso", "--folds", "2", "--quiet"]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working folder, the project's competitions linked into it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "competitions").symlink_to(Path(__file__).resolve().parent.parent / "competitions")
    return tmp_path


def run_dirs(root: Path, name: str = "house_prices") -> list[Path]:
    return sorted(p for p in (root / "runs" / name).glob("*") if p.is_dir()) if (root / "runs" / name).exists() else []


def test_json_true_is_no_number_of_folds(here: Path, capsys: pytest.CaptureFixture) -> None:
    (here / "p.json").write_text(json.dumps({"folds": True}))  # JSON's true was taken for 1
    assert main(["run", *[a for a in HP if a not in ("--folds", "2")], "--params", "p.json"]) == 2
    assert "Wrong type for 'folds': expected int, got True" in capsys.readouterr().err
    assert run_dirs(here) == []


def test_tune_checks_what_run_checks(here: Path, capsys: pytest.CaptureFixture) -> None:
    tune = ["tune", "competitions/house_prices", "--sample", "--trials", "1", "--quiet"]
    (here / "list.json").write_text("[1, 2]")
    for extra, message in (
        (["--folds", "1"], "--folds must be at least 2"),
        (["--set", "folds=1"], "folds must be at least 2"),
        (["--seed", "-1"], "--seed must be an integer in 0..4294967295"),
        (["--params", "list.json"], "must hold a JSON object of Config overrides"),
        (["--data", "somewhere.zip"], "tune: give --data or --sample, not both"),
        (["--startup-trials", "-1"], "--startup-trials must be 0 or more"),  # was Optuna's traceback
        (["--timeout", "-5"], "--timeout must be a number of seconds > 0"),  # ran nothing and exited 0
        (["--study", "a/b"], "--study 'a/b': use letters"),
    ):
        assert main([*tune, *extra]) == 2, extra
        assert message in capsys.readouterr().err
    assert not (here / "runs" / "house_prices" / "optuna.db").exists()


def test_a_resume_replays_the_params_the_run_started_with(here: Path, capsys: pytest.CaptureFixture) -> None:
    # before: the file was read again, so a finished run was refitted with the new values and its submission
    # overwritten; with the file gone, the run could not be resumed at all
    params = here / "best_params.json"
    params.write_text(json.dumps({"lasso_alpha": 0.001}))
    assert main(["run", *HP, "--params", str(params)]) == 0
    (run_dir,) = run_dirs(here)
    before = (run_dir / "submission.csv").read_bytes()
    params.write_text(json.dumps({"lasso_alpha": 0.01}))  # `tune` rewrites best_params.json
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert "is already complete" in capsys.readouterr().err
    params.unlink()
    assert main(["run", "--resume", str(run_dir)]) == 0
    assert (run_dir / "submission.csv").read_bytes() == before
    assert json.loads((run_dir / "config.json").read_text())["config"]["lasso_alpha"] == 0.001


def test_the_largest_seed_runs_every_fold(here: Path) -> None:
    # before: fold 1's seed 2**32 was refused by scikit-learn mid-run
    assert main(["run", *HP, "--models", "gbr", "--seed", str(2**32 - 1), "--set", "gbr_trees=20"]) == 0


def test_the_sample_folder_given_as_data_is_still_a_sample(here: Path) -> None:
    assert main(["run", *HP]) == 0
    assert main(["run", *[a for a in HP if a != "--sample"], "--data", "data/sample/house_prices", "--tag", "d"]) == 0
    summary = json.loads(next(p for p in run_dirs(here) if "-d-" in p.name).joinpath("summary.json").read_text())
    assert summary["sample"] is True  # `submit` refuses it


def toy_zip(path: Path, n_test: int) -> Path:
    rng = np.random.default_rng(0)  # the same training rows in every zip; only the test set differs
    X = rng.normal(size=(120, 4))
    train = pd.DataFrame(X, columns=["x0", "x1", "x2", "x3"]).assign(target=X @ [1.0, -2.0, 0.5, 0.0])
    train.insert(0, "id", np.arange(120))
    test = pd.DataFrame(np.random.default_rng(n_test).normal(size=(n_test, 4)), columns=["x0", "x1", "x2", "x3"])
    test.insert(0, "id", np.arange(1000, 1000 + n_test))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("train.csv", train.to_csv(index=False))
        z.writestr("test.csv", test.to_csv(index=False))
        z.writestr("sample_submission.csv", pd.DataFrame({"id": test["id"], "target": 0.0}).to_csv(index=False))
    return path


def no_kaggle(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Kaggle credentials: missing data is reported, never downloaded."""
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(here / "no-kaggle"))
    monkeypatch.setenv("HOME", str(here))
    for key in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)


def test_a_test_set_alone_never_becomes_the_competition_s_data_folder(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: `predict RUN --data new-test.zip` (a zip of the test set alone) with no data/<slug>/ yet was extracted
    # there, and a later `run` without --data took that test set alone for the competition's data
    from pipeline.contract import load_competition
    from pipeline.datadir import resolve_data

    no_kaggle(here, monkeypatch)
    module = load_competition(str(make_toy(here / "comps", f"toy_{uuid.uuid4().hex[:8]}")))
    full = toy_zip(here / "full.zip", 30)
    alone = here / "new-test.zip"
    with zipfile.ZipFile(full) as z, zipfile.ZipFile(alone, "w") as out:
        for name in ("test.csv", "sample_submission.csv"):
            out.writestr(name, z.read(name))
    folder, _ = resolve_data(module, alone, False, expected=["test.csv"])  # as predict reads for saved weights
    assert folder.name.startswith("toy-competition@") and (folder / "test.csv").is_file()
    assert not (here / "data" / "toy-competition").exists()
    with pytest.raises(DataError, match="No data for 'toy-competition'"):
        resolve_data(module, None, False)
    assert resolve_data(module, alone, False, expected=["test.csv"])[0] == folder  # extracted once
    assert resolve_data(module, full, False)[0] == here / "data" / "toy-competition"  # the full download: data/<slug>/
    assert resolve_data(module, None, False)[0] == here / "data" / "toy-competition"


def test_validate_without_data_hints_validate_sample(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: the hint named `python -m pipeline run ... --sample`, another command than the one the user ran
    no_kaggle(here, monkeypatch)
    toy = str(make_toy(here / "comps", f"toy_{uuid.uuid4().hex[:8]}"))
    (here / "sub.csv").write_text("id,target\n1000,0.0\n")
    assert main(["validate", toy, "sub.csv"]) == 2
    err = capsys.readouterr().err
    assert f"python -m pipeline validate comps/{Path(toy).name} sub.csv --sample" in err
    assert f"python -m pipeline validate comps/{Path(toy).name} sub.csv --data data/toy-competition.zip" in err
    assert "pipeline run" not in err


def test_another_zip_leaves_the_first_one_s_data_to_its_runs(here: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `predict RUN --data new.zip` replaced data/<slug>/, and the run's own submission no longer validated
    toy = str(make_toy(here / "comps", f"toy_{uuid.uuid4().hex[:8]}"))
    name = Path(toy).name
    first, second = toy_zip(here / "first.zip", 30), toy_zip(here / "second.zip", 20)
    assert main(["run", toy, "--data", str(first), "--quiet"]) == 0
    (run_dir,) = run_dirs(here, name)
    assert main(["predict", str(run_dir), "--data", str(second), "--out", str(here / "new")]) == 0
    assert len(pd.read_csv(here / "new" / "submission.csv")) == 20
    assert "differ from blend.json" not in capsys.readouterr().err
    assert len(pd.read_csv(here / "data" / "toy-competition" / "test.csv")) == 30
    (beside,) = (here / "data").glob("toy-competition@*")
    assert len(pd.read_csv(beside / "test.csv")) == 20
    assert main(["validate", toy, str(run_dir / "submission.csv"), "--data", str(first)]) == 0
    assert main(["ensemble", str(run_dir), "--quiet"]) == 0
    assert main(["ensemble", str(run_dir), "--tag", "../out", "--quiet"]) == 2  # was a folder outside runs/
    assert "--tag '../out': use letters" in capsys.readouterr().err
    # a run on the other zip predicted other test rows: blending the two is refused (it averaged two houses' prices)
    assert main(["run", toy, "--data", str(second), "--quiet", "--tag", "second"]) == 0
    other = next(p for p in run_dirs(here, name) if p.name.endswith("-second"))
    assert main(["ensemble", str(run_dir), str(other), "--quiet"]) == 2
    assert "the runs were made on different data" in capsys.readouterr().err
    # the same download as a folder of the user's: the same rows, so the two runs blend
    mine = here / "mine"
    mine.mkdir()
    for f in (here / "data" / "toy-competition").glob("*.csv"):
        (mine / f.name).write_bytes(f.read_bytes())
    assert main(["run", toy, "--data", str(mine), "--quiet", "--tag", "mine"]) == 0
    same = next(p for p in run_dirs(here, name) if p.name.endswith("-mine"))
    assert main(["ensemble", str(run_dir), str(same), "--quiet"]) == 0
    assert main(["ensemble", str(run_dir), str(run_dir), "--quiet"]) == 2  # before: blended, its models keyed once
    assert f"{run_dir} and {run_dir} are one run" in capsys.readouterr().err
    # a run whose data folder changed under it is named by ensemble, not a reshape traceback
    (here / "data" / "toy-competition" / "test.csv").write_text((beside / "test.csv").read_text())
    capsys.readouterr()
    assert main(["ensemble", str(run_dir), "--quiet"]) == 2
    assert "predicted 30 test rows (ridge), but" in capsys.readouterr().err


def test_push_refuses_a_notebook_slug_kaggle_would_refuse(here: Path, capsys: pytest.CaptureFixture) -> None:
    # before: a traceback from the kaggle client, after kernels/<slug>/ was written
    for slug in ("x", "a/b", "bad slug"):
        assert main(["push", "competitions/house_prices", "--package", "pkg", "--kernel", slug]) == 2
        assert f"--kernel {slug!r}: a Kaggle notebook's slug is 5 to 50" in capsys.readouterr().err
    assert not (here / "kernels").exists()


def test_ctrl_c_names_the_run_folder_to_resume(here: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # before: "resume with --resume RUN_DIR", the folder left for the user to find
    import pipeline.runner as runner

    folder = here / "runs" / "house_prices" / "20261205-000000"
    folder.mkdir(parents=True)

    def interrupted(opts: object, created: list[Path]) -> Path:
        created.append(folder)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run", interrupted)
    assert main(["run", *HP]) == 130
    assert f"interrupted: resume with --resume {folder}" in capsys.readouterr().err


def test_ctrl_c_before_a_run_folder_is_made_says_to_run_again(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: "resume with --resume RUN_DIR", for a run that had made no folder (Ctrl-C while the data loaded), and
    # for predict, which has no --resume
    import pipeline.runner as runner

    def interrupted(opts: object, created: list[Path]) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run", interrupted)
    assert main(["run", *HP]) == 130
    assert "interrupted: no run folder to resume; run the command again" in capsys.readouterr().err
    assert run_dirs(here) == []
