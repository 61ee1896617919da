"""`predict` and `package` of an ensemble of saved runs (`ensemble RUN RUN`): each run it blends predicts the new test
set with its own Config and saved models, the ensemble's saved stages make the submission; on the ensemble's own test
set alone that is the ensemble's submission, byte for byte. A run it blends that is gone is named."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pipeline.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predict import _forbid_fitting  # noqa: E402
from test_predict_test_only import FAST, _test_only  # noqa: E402


def _run(tmp_path: Path, *args: str) -> Path:
    """A finished run of the generated competition; its folder (the newest in runs/comp_ens)."""
    before = set((tmp_path / "runs" / "comp_ens").glob("*"))
    assert main(["run", "comps/comp_ens", *args, "--quiet"]) == 0
    [run_dir] = set((tmp_path / "runs" / "comp_ens").glob("*")) - before
    return run_dir


def _ensemble(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Two runs with different Configs (models, and the features one drops) blended: (zip, run a, run b, ensemble)."""
    from test_new_command import write_zip

    z = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert main(["new", "comp_ens", "--data", str(z), "--metric", "log_loss", "--into", "comps"]) == 0
    a = _run(tmp_path, "--data", str(z), *FAST, "--models", "lightgbm,linear", "--tag", "a")
    b = _run(tmp_path, "--data", str(z), *FAST, "--models", "linear", "--set", "drop=noise", "--tag", "b")
    assert "noise" in json.loads((a / "summary.json").read_text())["features"]
    assert "noise" not in json.loads((b / "summary.json").read_text())["features"]
    before = set((tmp_path / "runs" / "comp_ens").glob("*"))
    assert main(["ensemble", str(a), str(b), "--quiet"]) == 0
    [ens] = set((tmp_path / "runs" / "comp_ens").glob("*")) - before
    return z, a, b, ens


def _predict(ens: Path, data: Path, out: Path) -> int:
    return main(["predict", str(ens), "--data", str(data), "--out", str(out), "--quiet"])


def test_ensemble_of_two_configs_predicts_a_test_set_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    z, a, b, ens = _ensemble(tmp_path)
    members = json.loads((ens / "summary.json").read_text())["members"]
    assert [m["path"] for m in members] == [f"../{a.name}", f"../{b.name}"]  # relative: a moved runs/ still finds them
    assert members[0]["keys"] == {f"{a.name}/lightgbm": "lightgbm", f"{a.name}/linear": "linear"}
    assert set(json.loads((ens / "stages.json").read_text())["blend"]["weights"]) == {
        f"{a.name}/lightgbm",
        f"{a.name}/linear",
        f"{b.name}/linear",
    }
    _forbid_fitting(monkeypatch)
    only_test = _test_only(z, tmp_path / "only_test")
    capsys.readouterr()
    # before: "an ensemble of saved runs keeps their predictions, not their models", exit 2
    assert _predict(ens, only_test, tmp_path / "out") == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()

    # the whole runs/ tree moved: the members are found relative to the ensemble
    shutil.move(tmp_path / "runs", tmp_path / "moved")
    ens, b = tmp_path / "moved" / "comp_ens" / ens.name, tmp_path / "moved" / "comp_ens" / b.name
    assert _predict(ens, only_test, tmp_path / "out2") == 0
    assert (tmp_path / "out2" / "submission.csv").read_bytes() == (ens / "submission.csv").read_bytes()

    # a run it blends removed: named, with what to do
    shutil.move(b, tmp_path / "elsewhere")
    capsys.readouterr()
    assert _predict(ens, only_test, tmp_path / "out3") == 2
    err = capsys.readouterr().err
    assert f"the run it blends, {b.name}, is not at {b}" in err and "put the run folder back" in err
    shutil.move(tmp_path / "elsewhere", b)

    # a run it blends without its fitted models: named
    shutil.move(b / "models", tmp_path / "models")
    assert _predict(ens, only_test, tmp_path / "out4") == 2
    err = capsys.readouterr().err
    assert f"blends run {b.name}, which cannot predict: {b}: no models/ folder" in err
    shutil.move(tmp_path / "models", b / "models")

    # a run it blends copied in part, or the ensemble's own folder (before: "No such file or directory"): named
    shutil.move(b / "config.json", tmp_path / "config.json")
    assert _predict(ens, only_test, tmp_path / "out7") == 2
    err = capsys.readouterr().err
    assert f"blends run {b.name}, which cannot predict: {b}: the run folder is incomplete: it lacks config.json" in err
    shutil.move(tmp_path / "config.json", b / "config.json")
    shutil.move(ens / "stages.json", tmp_path / "stages.json")
    assert _predict(ens, only_test, tmp_path / "out8") == 2
    err = capsys.readouterr().err
    assert f"{ens}: the run folder is incomplete: it lacks stages.json, which the run wrote" in err
    assert f"make the run anew (python -m pipeline ensemble {ens.parent / a.name} {b})" in err
    shutil.move(tmp_path / "stages.json", ens / "stages.json")

    # a run it blends that is not complete (failed, or killed and not resumed): named, with the command that ends it
    summary_b = (b / "summary.json").read_text()
    (b / "summary.json").write_text(json.dumps(json.loads(summary_b) | {"status": "failed"}))
    assert _predict(ens, only_test, tmp_path / "out6") == 2
    err = capsys.readouterr().err
    assert f"{b}: the run is not complete (status failed); finish it first (python -m pipeline run --resume {b})" in err
    (b / "summary.json").write_text(summary_b)

    # an ensemble made before its runs were recorded: refused, naming them
    summary = json.loads((ens / "summary.json").read_text())
    (ens / "summary.json").write_text(json.dumps({k: v for k, v in summary.items() if k != "members"}))
    assert _predict(ens, only_test, tmp_path / "out5") == 2
    err = capsys.readouterr().err
    assert 'has no "members"' in err and f"ensemble` again on its runs ({a.name}, {b.name})" in err


def test_package_of_an_ensemble_predicts_from_its_own_copy_of_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.commands import package

    monkeypatch.chdir(tmp_path)
    z, a, b, ens = _ensemble(tmp_path)
    # the wheels are test_package.py's subject; here the run/ folder the entry script predicts
    monkeypatch.setattr(package, "build_wheels", lambda dest, deps, python: [])
    assert main(["package", str(ens), "--out", "pkg", "--deps", ""]) == 0
    run = tmp_path / "pkg" / "run"
    files = json.loads((tmp_path / "pkg" / "manifest.json").read_text())["files"]
    for member in (a, b):
        assert f"run/members/{member.name}/models/linear/fold0.joblib" in files
        assert f"run/members/{member.name}/config.json" in files
    assert [m["path"] for m in json.loads((run / "summary.json").read_text())["members"]] == [
        f"members/{a.name}",
        f"members/{b.name}",
    ]
    submission = (ens / "submission.csv").read_bytes()
    shutil.rmtree(tmp_path / "runs")  # the package alone: no run folder to fall back on
    shutil.rmtree(tmp_path / "comps")  # nor the competition's folder: the package's copy (run/competition/comp_ens)
    monkeypatch.delitem(sys.modules, "comp_ens")  # imported from there, not the module imported from comps/
    _forbid_fitting(monkeypatch)
    assert _predict(run, _test_only(z, tmp_path / "only_test"), tmp_path / "out") == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == submission
    assert Path(sys.modules["comp_ens"].__file__).is_relative_to(run / "competition")


def test_runs_of_two_competitions_begun_in_one_second_blend_predict_and_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two competitions of one download whose runs began in one second (runs/same_second_a/<stamp> and
    runs/same_second_b/<stamp>) share their run id; the ensemble names each run's models by its competition and id,
    and predict and package of it give its submission again. A run of it that moved is not taken for the other
    competition's run of that name beside the ensemble; two folders of ONE competition sharing an id are refused."""
    import datetime as dt
    from types import SimpleNamespace

    from test_run_options import toy_zip
    from toy import make_toy

    from pipeline import runfolder
    from pipeline.commands import package

    class OneSecond(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> OneSecond:
            return cls(2026, 1, 2, 3, 4, 5)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runfolder, "dt", SimpleNamespace(datetime=OneSecond))  # every run folder's stamp: one second
    z, runs = toy_zip(tmp_path / "toy.zip", 30), {}
    for name in ("same_second_a", "same_second_b"):  # two competitions of toy.zip (both data/toy-competition/)
        make_toy(tmp_path / "comps", name)
        assert main(["run", f"comps/{name}", "--data", str(z), "--models", "ridge,knn", "--quiet"]) == 0
        [runs[name]] = (tmp_path / "runs" / name).glob("*")
    a, b = runs.values()
    assert a.name == b.name == "20260102-030405"
    capsys.readouterr()
    assert main(["ensemble", str(a), str(b), "--quiet"]) == 0  # before: refused, "share the run id 20260102-030405"
    ens = tmp_path / "runs" / "same_second_a" / "20260102-030405-ensemble"
    members = json.loads((ens / "summary.json").read_text())["members"]
    assert [m["keys"] for m in members] == [
        {f"{name}:{a.name}/ridge": "ridge", f"{name}:{a.name}/knn": "knn"} for name in runs
    ]
    weights = json.loads((ens / "stages.json").read_text())["blend"]["weights"]
    assert set(weights) == {f"{name}:{a.name}/{m}" for name in runs for m in ("ridge", "knn")}
    submission = (ens / "submission.csv").read_bytes()
    assert _predict(ens, z, tmp_path / "out") == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == submission

    # b moved: refused, not predicted by same_second_a's run of its name (a folder of that name beside the ensemble)
    shutil.move(b, tmp_path / "away")
    assert _predict(ens, z, tmp_path / "out2") == 2
    assert f"the run it blends, {b.name}, is not at {b} (moved or removed)" in capsys.readouterr().err
    shutil.move(tmp_path / "away", b)

    # the package keeps each run under its competition's folder, and predicts alone
    monkeypatch.setattr(package, "build_wheels", lambda dest, deps, python: [])
    assert main(["package", str(ens), "--out", "pkg", "--deps", ""]) == 0
    run = tmp_path / "pkg" / "run"
    assert [m["path"] for m in json.loads((run / "summary.json").read_text())["members"]] == [
        f"members/{name}/{a.name}" for name in runs
    ]
    # two folders of one competition sharing a run id (a copy, named otherwise: the id is summary.json's): refused
    shutil.copytree(a, a.parent / "copy")
    assert main(["ensemble", str(a), str(a.parent / "copy"), "--quiet"]) == 2
    assert f"share the run id {a.name} of same_second_a (their summary.json's run_id" in capsys.readouterr().err
    shutil.move(tmp_path / "runs", tmp_path / "runs-away")  # the package alone: no run folder to fall back on
    shutil.move(tmp_path / "comps", tmp_path / "comps-away")  # nor the competitions' folders
    for name in runs:
        monkeypatch.delitem(sys.modules, name, raising=False)
    _forbid_fitting(monkeypatch)
    assert _predict(run, z, tmp_path / "packaged") == 0
    assert (tmp_path / "packaged" / "submission.csv").read_bytes() == submission
