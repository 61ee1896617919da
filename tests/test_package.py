"""`package RUN_DIR --out DIR`: a fresh environment installs it offline, runs its entry script, and gets the
run's submission; damaged files and version differences are reported.

The fresh environment plays a Kaggle image: `python -m venv --system-site-packages` made from the project's .venv
interpreter (whose "system" site-packages is the base Python's, so a .pth line adds the project's .venv
site-packages: torch, pandas, scikit-learn ... as the image would have them, but not this checkout's `pipeline`).
A sitecustomize.py in it refuses every non-loopback connection, so nothing can be fetched.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.cli import main

GUARD = """import socket
_connect = socket.socket.connect
def _refuse(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
        raise ConnectionRefusedError("network blocked in this test environment")
    return _connect(self, address)
socket.socket.connect = _refuse
"""


def fresh_env(where: Path) -> Path:
    """A new venv seeing the project's installed libraries as its system packages, network blocked; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(where)], check=True)
    py = where / "bin" / "python"
    own = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    libs = next(p for p in site.getsitepackages() if Path(p, "sklearn").is_dir())
    Path(own, "image_packages.pth").write_text(libs + "\n")
    Path(own, "sitecustomize.py").write_text(GUARD)
    return py


def test_package_round_trip_offline_in_a_fresh_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["competitions/house_prices", "--sample", "--folds", "2", "--models", "ridge,lightgbm", "--quiet"]
    assert main(["run", *args]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", "torch"]) == 2  # only checked, never packaged
    assert "torch and torchvision come from the notebook image" in capsys.readouterr().err
    assert not (tmp_path / "pkg").exists()
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", ""]) == 0
    pkg = tmp_path / "pkg"
    meta = json.loads((pkg / "dataset-metadata.json").read_text())
    assert meta["id"].endswith(run_dir.name.lower()) and meta["licenses"]
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["versions"]["scikit-learn"] and manifest["versions"]["torch"]
    assert any(w.startswith("kaggle_pipeline-") for w in manifest["wheels"])
    assert "run/models/ridge/fold0.joblib" in manifest["files"] and "run/config.json" in manifest["files"]

    py = fresh_env(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PIP_NO_INDEX": "1"}
    work = tmp_path / "notebook"
    work.mkdir()
    data = tmp_path / "data" / "sample" / "house_prices"
    cmd = [str(py), str(pkg / "predict.py"), "--data", str(data), "--out", str(work)]
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (work / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
    where = subprocess.run(
        [str(py), "-c", "import pipeline; print(pipeline.__file__)"], cwd=work, env=env, capture_output=True, text=True
    ).stdout
    assert str(tmp_path / "venv") in where  # the package's wheel, not this checkout
    assert "version differs" not in result.stdout

    # a library at another version than at training: named before predicting
    manifest["versions"]["scikit-learn"] = "0.0.1"
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0
    assert "version differs: scikit-learn trained with 0.0.1, here " in result.stdout

    # a damaged model file: refused before anything is installed or predicted
    with open(pkg / "run" / "models" / "ridge" / "fold0.joblib", "ab") as f:
        f.write(b"x")
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "run/models/ridge/fold0.joblib is missing or damaged" in result.stderr


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def test_package_leaves_the_checkout_and_the_working_folder_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.commands import package

    # a checkout of the project to build the wheel from (the real one may hold an earlier build's folders)
    root, checkout = package.project_root(), tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (checkout / name).write_bytes((root / name).read_bytes())
    for name in ("pipeline", "competitions", "features"):
        shutil.copytree(root / name, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(package, "project_root", lambda: checkout)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["competitions/house_prices", "--sample", "--folds", "2", "--models", "ridge", "--quiet"]
    assert main(["run", *args]) == 0
    run_dir = next((work / "runs" / "house_prices").iterdir())
    checkout_before, work_before = tree(checkout), sorted(p.name for p in work.iterdir())
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", ""]) == 0
    assert tree(checkout) == checkout_before  # no build/, no kaggle_pipeline.egg-info
    assert sorted(p.name for p in work.iterdir()) == sorted([*work_before, "pkg"])
    [wheel] = json.loads((work / "pkg" / "manifest.json").read_text())["wheels"]
    with zipfile.ZipFile(work / "pkg" / "wheels" / wheel) as whl:
        names = whl.namelist()
    for module in ("pipeline/cli.py", "competitions/house_prices/__init__.py", "features/tabular.py"):
        assert module in names  # the wheel built from the copy holds the project's packages
    # and the data files they read: House Prices' sample (run --sample, predict of a sample run) reads its schema
    assert "competitions/house_prices/schema.json" in names


def test_package_carries_a_competition_made_outside_competitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`new NAME --into comps` keeps comps/NAME as the run's competition: the package carries that folder, so its run/
    predicts the run's submission in a new process with comps/ gone (as on Kaggle, where only the package is)."""
    from helpers import subprocess_env
    from test_new_command import write_zip
    from test_predict_test_only import FAST, _test_only

    from pipeline.commands import package

    monkeypatch.chdir(tmp_path)
    download = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert main(["new", "outside", "--data", str(download), "--into", "comps"]) == 0
    assert main(["run", "comps/outside", "--data", str(download), *FAST, "--models", "lightgbm,linear", "--quiet"]) == 0
    run_dir = next((tmp_path / "runs" / "outside").iterdir())
    monkeypatch.setattr(package, "build_wheels", lambda dest, deps, python: [])  # the wheel: the test above
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", ""]) == 0
    run = tmp_path / "pkg" / "run"
    assert json.loads((run / "summary.json").read_text())["competition_spec"] == "competition/outside"
    files = json.loads((tmp_path / "pkg" / "manifest.json").read_text())["files"]
    assert "run/competition/outside/__init__.py" in files  # checked by the entry script like the models

    shutil.rmtree(tmp_path / "comps")  # the folder the run was made from is gone
    work = tmp_path / "notebook"
    work.mkdir()
    only_test = _test_only(download, tmp_path / "only_test")
    cmd = [sys.executable, "-m", "pipeline", "predict", str(run), "--data", str(only_test), "--out", str(work)]
    result = subprocess.run(cmd, cwd=work, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (work / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
