"""`package --python X.Y`: the dependency wheels are fetched for the notebook's machine (Linux x86_64, that Python),
not this one's; the entry script, when they fail to install on another Python, says which and how to package again.

pip runs for real against a local folder of wheels (PIP_NO_INDEX, PIP_FIND_LINKS), as it would against PyPI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.contract import ContractError


def write_wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    """A minimal valid wheel of one empty module, tagged `tag` (python-abi-platform)."""
    dist = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-{tag}.whl"
    files = {
        f"{name}.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as whl:
        for n, text in (files | {f"{dist}/RECORD": record}).items():
            whl.writestr(n, text)
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local index holding `fastdep` 1.0 built for CPython 3.11 and 3.12 on Linux x86_64 and on macOS; pip reads it
    alone, and `package` believes fastdep 1.0 is installed here and skips building the project's wheel."""
    from pipeline.commands import package

    folder = tmp_path / "index"
    folder.mkdir()
    for py in ("311", "312"):
        write_wheel(folder, "fastdep", "1.0", f"cp{py}-cp{py}-manylinux_2_17_x86_64")
        write_wheel(folder, "fastdep", "1.0", f"cp{py}-cp{py}-macosx_11_0_arm64")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setattr(package, "_version", lambda dist: "1.0" if dist == "fastdep" else None)
    real = package._pip
    monkeypatch.setattr(package, "_pip", lambda *a, what: None if a[0] == "wheel" else real(*a, what=what))
    return folder


def test_the_dependency_wheels_are_those_of_the_notebooks_python_and_machine(index: Path, tmp_path: Path) -> None:
    from pipeline.commands.package import build_wheels

    assert build_wheels(tmp_path / "a", ["fastdep"], "3.12") == ["fastdep-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    assert build_wheels(tmp_path / "b", ["fastdep"], "3.11") == ["fastdep-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    with pytest.raises(ContractError, match="pip download fastdep==1.0 failed"):
        build_wheels(tmp_path / "c", ["fastdep"], "3.13")  # none built for it
    with pytest.raises(ContractError, match=r"--python '3': a Python version as X.Y"):
        build_wheels(tmp_path / "d", ["fastdep"], "3")


def test_package_records_the_python_its_wheels_are_for(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["competitions/house_prices", "--sample", "--folds", "2", "--models", "ridge", "--quiet"]
    assert main(["run", *args]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", "fastdep", "--python", "3.12"]) == 0
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["wheels_python"] == "3.12"
    assert manifest["wheels"] == ["fastdep-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert main(["package", str(run_dir), "--out", "pkg2", "--deps", "fastdep"]) == 0  # default: this Python
    assert json.loads((tmp_path / "pkg2" / "manifest.json").read_text())["wheels_python"] == here


def test_the_entry_script_names_the_python_the_wheels_were_fetched_for(tmp_path: Path) -> None:
    from test_package import fresh_env

    from pipeline.commands.package import ENTRY_SOURCE

    pkg = tmp_path / "pkg"
    (pkg / "wheels").mkdir(parents=True)
    (pkg / "predict.py").write_text(ENTRY_SOURCE.read_text())
    write_wheel(pkg / "wheels", "kaggle_pipeline", "0.0.1", "py3-none-any")  # stands in for the project's wheel
    write_wheel(pkg / "wheels", "fastdep", "1.0", "cp399-cp399-manylinux_2_17_x86_64")
    manifest = {"files": {}, "deps": ["fastdep"], "versions": {"fastdep": "1.0"}, "check_only": []}
    py = fresh_env(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {"PIP_NO_INDEX": "1"}
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for target, hint in (("3.99", True), (here, False)):
        (pkg / "manifest.json").write_text(json.dumps(manifest | {"wheels_python": target}))
        result = subprocess.run([str(py), str(pkg / "predict.py")], env=env, capture_output=True, text=True)
        assert result.returncode == 2
        assert "installing fastdep==1.0 from the package failed" in result.stderr
        expected = f"fetched for Python 3.99 and this notebook runs Python {here}: package the run again with"
        assert (expected in result.stderr and f"--python {here}`" in result.stderr) == hint, result.stderr
