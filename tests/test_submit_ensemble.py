"""`submit` of an `ensemble` folder, and `push` of its package, against the local Kaggle stand-in: the submission
is validated again with the Config of the run the ensemble is based on (an ensemble has no config.json of its own),
read from that run's folder.

The case where it matters: a competition of `new --original` (ORIGINAL: the dataset it was generated from) whose runs
were made with `--set original=off` on a machine without the original. The defaults ("add") would make submit's
validation load the original's rows, which are not here: it downloaded them from Kaggle, or, without that dataset,
failed before submitting.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_stub import Competition, KaggleStub, KernelPlan  # noqa: E402
from test_new_original import competition, new, original_zip, run  # noqa: E402

from pipeline import cli  # noqa: E402
from pipeline.kaggle.records import load_records  # noqa: E402

SLUG = "playground-regression"  # `new` names the competition after its zip, playground-regression.zip
DATASET = "stub-user/playground-ensemble"


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A generated competition with an original dataset, two runs of it made without the original (a linear model,
    LightGBM), their ensemble and its package; the original's file is then gone from this machine."""
    root = tmp_path_factory.mktemp("playground")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("KAGGLE_API_TOKEN", raising=False)
        data, orig = competition(root, "regression"), original_zip(root, "regression")
        assert (
            new(root, "orig_reg_submit", data, "--original", str(orig), "--original-slug", "someone/source-data") == 0
        )
        (root / "data" / "datasets" / "someone" / "source-data" / "source.csv").unlink()
        runs = [
            run(root, "orig_reg_submit", data, "--models", m, "--set", "original=off") for m in ("linear", "lightgbm")
        ]
        assert cli.main(["ensemble", *(r["run_dir"] for r in runs), "--quiet"]) == 0
        ensemble = next((root / "runs" / "orig_reg_submit").glob("*-ensemble"))
        assert cli.main(["package", str(ensemble), "--out", str(root / "pkg"), "--deps", "", "--id", DATASET]) == 0
    summary = json.loads((ensemble / "summary.json").read_text())
    [base] = [m["run_id"] for m in summary["members"] if m["base"]]
    return {
        "competition": str(root / "comps" / "orig_reg_submit"),
        "ensemble": ensemble,
        "base": base,
        "pkg": root / "pkg",
    }


@pytest.fixture
def kaggle(stub: KaggleStub) -> KaggleStub:
    """The stand-in knowing the competition, and not the original dataset (someone/source-data)."""
    stub.competitions[SLUG] = Competition(title="Playground Regression")
    return stub


def submit(blend: dict[str, Any]) -> int:
    return cli.main(["submit", blend["competition"], str(blend["ensemble"])])


def scores_command_names_the_competition(out: str, blend: dict[str, Any]) -> None:
    """The printed next command names the competition's folder (`new --into`), as the user gave it, not
    competitions/<name> (before: the project's folder, where there is no such competition)."""
    [line] = [x for x in out.splitlines() if x.startswith("Scores: python -m pipeline submissions ")]
    assert Path(line.split()[-1]).resolve() == Path(blend["competition"]).resolve()


def test_submit_of_an_ensemble_validates_with_its_base_runs_config(
    kaggle: KaggleStub, blend: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ens = blend["ensemble"]
    before = len(load_records(ens))
    # before: "error: Cannot download the dataset 'someone/source-data' ...": validated with Config() (original
    # "add"), submit went for the original the runs never read
    assert submit(blend) == 0
    out, err = capsys.readouterr()
    assert f"Submitted submission.csv of run {ens.name}" in out and "Traceback" not in err
    assert kaggle.calls("DownloadDataset") == []
    [sub] = kaggle.competitions[SLUG].submissions
    assert sub["fileName"] == f"{ens.name}.csv" and sub["description"].startswith(f"run {ens.name} | CV ")
    assert len(load_records(ens)) == before + 1
    scores_command_names_the_competition(out, blend)


def test_submit_of_an_ensemble_whose_base_run_moved_names_it(
    kaggle: KaggleStub, blend: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ens, base = blend["ensemble"], blend["base"]
    gone = ens.parent / base
    gone.rename(ens.parent.parent / base)
    try:
        assert submit(blend) == 2
    finally:
        (ens.parent.parent / base).rename(gone)
    err = capsys.readouterr().err
    assert f"error: {ens}: the run it blends, {base}, is not at {gone} (moved or removed)" in err
    assert "put the run folder back there" in err and "Traceback" not in err
    assert kaggle.calls("CreateSubmission") == [] and kaggle.calls("DownloadDataset") == []


def test_push_of_the_ensembles_package_validates_its_output_with_its_base_runs_config(
    kaggle: KaggleStub, no_sleep: list[float], blend: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ens = blend["ensemble"]
    kaggle.datasets.add(DATASET)
    kaggle.kernel_plan = KernelPlan(outputs={"submission.csv": (ens / "submission.csv").read_bytes()})
    # before: the notebook ran, then its output's validation went for the original and nothing was submitted
    assert cli.main(["push", blend["competition"], "--package", str(blend["pkg"])]) == 0
    out, err = capsys.readouterr()
    assert "valid: submission.csv of notebook version 1" in out and "Traceback" not in err
    scores_command_names_the_competition(out, blend)
    [request] = kaggle.pushed("stub-user/orig-reg-submit-pipeline")
    assert request["datasetDataSources"] == [DATASET]  # neither run read the original: not mounted
    assert kaggle.calls("DownloadDataset") == []
    [sub] = kaggle.competitions[SLUG].submissions
    assert sub["fileName"] == f"{ens.name}-kernel-v1.csv"
