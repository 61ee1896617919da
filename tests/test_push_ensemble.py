"""`push` of an ensemble's package: `ensemble RUN RUN` of two House Prices runs (ridge, lasso; 2 folds, one seed) on the
generated sample laid out as a real download, packaged (the runs it blends under run/members/) and pushed against the
local Kaggle stand-in: the output is fetched, validated and submitted as the ensemble's. The generated notebook's
cell is also run for real, in a fresh environment against a fake /kaggle/input holding the package and the
competition's data: the package's predict.py writes the ensemble's own submission, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import HOUSE_SLUG  # noqa: E402
from kaggle_stub import Competition, KaggleStub, KernelPlan  # noqa: E402
from test_package import fresh_env  # noqa: E402

from pipeline import cli  # noqa: E402
from pipeline.kaggle.records import load_records  # noqa: E402

DATASET = "stub-user/house-prices-ensemble"
REF = "stub-user/house-prices-pipeline"


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs of different models on one download, their ensemble, and the ensemble's package (wheels included)."""
    import competitions.house_prices as hp

    root = tmp_path_factory.mktemp("blend")
    data = root / "download"
    hp.sample(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for models in ("ridge", "lasso"):
            args = ["run", "competitions/house_prices", "--data", str(data), "--folds", "2", "--seed", "7"]
            assert cli.main([*args, "--models", models, "--quiet"]) == 0
        runs = sorted((root / "runs" / "house_prices").iterdir())
        assert cli.main(["ensemble", *map(str, runs), "--quiet"]) == 0
        [ens] = set((root / "runs" / "house_prices").iterdir()) - set(runs)
        assert cli.main(["package", str(ens), "--out", str(root / "pkg"), "--deps", "", "--id", DATASET]) == 0
    return {"ensemble": ens, "runs": runs, "package": root / "pkg", "data": data}


@pytest.fixture
def kaggle(stub: KaggleStub, no_sleep: list[float], blend: dict[str, Any]) -> KaggleStub:
    """The stand-in knowing House Prices and the uploaded package; the notebook writes the ensemble's submission."""
    stub.competitions[HOUSE_SLUG] = Competition(title="House Prices")
    stub.datasets.add(DATASET)
    stub.kernel_plan = KernelPlan(outputs={"submission.csv": (blend["ensemble"] / "submission.csv").read_bytes()})
    return stub


def push(package: Path, *extra: str) -> int:
    return cli.main(["push", "competitions/house_prices", "--package", str(package), *extra])


def test_push_of_an_ensemble_package_submits_its_output_as_the_ensembles(
    kaggle: KaggleStub, blend: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ens = blend["ensemble"]
    before = len(load_records(ens))
    # before: "error: .../pkg/run/config.json: No such file or directory" (an ensemble has no config of its own)
    assert push(blend["package"]) == 0
    out, err = capsys.readouterr()
    assert f"pushed notebook {REF} version 1" in out and "Traceback" not in err
    [request] = kaggle.pushed(REF)
    assert request["datasetDataSources"] == [DATASET] and request["competitionDataSources"] == [HOUSE_SLUG]
    fetched = Path("kernels/house-prices-pipeline/output/v1/submission.csv")
    assert fetched.read_bytes() == (ens / "submission.csv").read_bytes()
    assert "valid: submission.csv of notebook version 1" in out
    [sub] = kaggle.competitions[HOUSE_SLUG].submissions
    assert sub["fileName"] == f"{ens.name}-kernel-v1.csv" and sub["description"].startswith(f"run {ens.name} | CV ")
    assert len(load_records(ens)) == before + 1  # recorded beside the ensemble, where `runs` shows it


def test_the_notebook_names_the_ensemble_and_the_runs_it_blends(kaggle: KaggleStub, blend: dict[str, Any]) -> None:
    assert push(blend["package"], "--no-submit") == 0
    [request] = kaggle.pushed(REF)
    intro, code = (cell["source"] for cell in json.loads(request["text"])["cells"])
    first, second = (run.name for run in blend["runs"])
    named = f"ensemble {blend['ensemble'].name} of runs {first}, {second}"
    assert intro.startswith(f"# Inference: {named}\n\n")  # before: "# Inference: run <the ensemble's id>"
    assert f"(python -m pipeline package), {named}\n" in code


def _original_mode(package: Path, run: Path, mode: str) -> None:
    """Set --set original=MODE in the config.json of the package's copy of `run` (one of the runs it blends)."""
    path = package / "run" / "members" / run.name / "config.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(saved | {"config": saved["config"] | {"original": mode}}))


def test_the_original_dataset_is_mounted_when_any_run_the_ensemble_blends_read_it(
    kaggle: KaggleStub, blend: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import competitions.house_prices as hp
    from pipeline.tabular.original import Original

    monkeypatch.setattr(hp, "ORIGINAL", Original("someone/ames-original", "ames.csv"), raising=False)
    kaggle.datasets.add("someone/ames-original")
    package = tmp_path / "pkg"
    shutil.copytree(blend["package"], package)
    first, second = blend["runs"]
    _original_mode(package, first, "off")
    _original_mode(package, second, "off")
    assert push(package, "--no-submit") == 0  # neither run read it: not mounted
    _original_mode(package, second, "add")
    assert push(package, "--no-submit") == 0  # the second run's predict loads its rows
    none, one = kaggle.pushed(REF)
    assert none["datasetDataSources"] == [DATASET]
    assert one["datasetDataSources"] == [DATASET, "someone/ames-original"]


def _fake_kaggle(root: Path, package: Path, data: Path) -> Path:
    """/kaggle as a notebook sees it: the package dataset and the competition's data under input/, and working/."""
    shutil.copytree(package, root / "input" / "datasets" / DATASET)
    shutil.copytree(data, root / "input" / "competitions" / HOUSE_SLUG)
    (root / "working").mkdir()
    return root


def test_the_generated_notebook_predicts_the_ensemble_from_the_mounted_package(
    kaggle: KaggleStub, blend: dict[str, Any], tmp_path: Path
) -> None:
    assert push(blend["package"], "--no-submit") == 0
    code = json.loads(Path("kernels/house-prices-pipeline/notebook.ipynb").read_text())["cells"][1]["source"]
    kaggle_root = _fake_kaggle(tmp_path / "kaggle", blend["package"], blend["data"])
    py = fresh_env(tmp_path / "venv")  # plays the notebook image: no `pipeline` but the package's wheel
    drop = ("PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("KAGGLE_", "PIPELINE_"))}
    env |= {"PIP_NO_INDEX": "1", "KAGGLE_KERNEL_RUN_TYPE": "Batch", "PIPELINE_KAGGLE_INPUT": str(kaggle_root / "input")}
    away = blend["data"].with_name("download-away")  # the data the runs were made on: the notebook has only its input
    blend["data"].rename(away)
    try:
        local = code.replace("/kaggle/", f"{kaggle_root}/")
        cmd = [str(py), "-c", local]
        result = subprocess.run(cmd, cwd=kaggle_root / "working", env=env, capture_output=True, text=True, timeout=600)
    finally:
        away.rename(blend["data"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    written = kaggle_root / "working" / "submission.csv"
    assert written.read_bytes() == (blend["ensemble"] / "submission.csv").read_bytes()
