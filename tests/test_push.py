"""`push competitions/<name> --package DIR` against the local Kaggle stand-in's kernels endpoints.

One House Prices run (ridge, 2 folds, on the generated sample laid out as a real download) is packaged once per
module; the stand-in plays the notebook: its status moves QUEUED -> RUNNING -> COMPLETE (or ERROR) over polls and
its output (the run's own submission, as test_package.py shows predict.py writes it) is served from the storage
host. The generated notebook's code is also run for real, against a fake /kaggle/input holding a stand-in entry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kaggle_fixtures import HOUSE_SLUG  # noqa: E402
from kaggle_stub import Competition, KaggleStub, KernelPlan, kaggle_log  # noqa: E402

from pipeline import cli  # noqa: E402
from pipeline.kaggle.records import load_records  # noqa: E402

DATASET = "stub-user/house-prices-inference"
REF = "stub-user/house-prices-pipeline"


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A House Prices run on data laid out as Kaggle ships it, and its package (not the built-in sample run)."""
    import competitions.house_prices as hp

    root = tmp_path_factory.mktemp("house")
    data = root / "download"
    hp.sample(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        args = ["run", "competitions/house_prices", "--data", str(data), "--folds", "2", "--models", "ridge"]
        assert cli.main([*args, "--quiet"]) == 0
        run_dir = next((root / "runs" / "house_prices").iterdir())
        assert cli.main(["package", str(run_dir), "--out", str(root / "pkg"), "--deps", "", "--id", DATASET]) == 0
    return {"run": run_dir, "package": root / "pkg", "data": data}


@pytest.fixture
def kaggle(stub: KaggleStub, no_sleep: list[float], house: dict[str, Path]) -> KaggleStub:
    """The stand-in knowing House Prices and the uploaded package; the notebook writes the run's submission."""
    stub.competitions[HOUSE_SLUG] = Competition(title="House Prices")
    stub.datasets.add(DATASET)
    stub.kernel_plan = KernelPlan(outputs={"submission.csv": (house["run"] / "submission.csv").read_bytes()})
    return stub


def push(house: dict[str, Path], *extra: str) -> int:
    return cli.main(["push", "competitions/house_prices", "--package", str(house["package"]), *extra])


def test_push_polls_to_complete_fetches_the_output_and_submits_it(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle.kernel_plan.outputs["notes.txt"] = b"other output"
    kaggle.kernel_output_page = 1  # one file a page: the listing is followed by nextPageToken
    before = len(load_records(house["run"]))
    assert push(house) == 0
    out, err = capsys.readouterr()
    assert f"pushed notebook {REF} version 1 (CPU, internet off)" in out
    assert "QUEUED after" in err and "RUNNING after" in err  # a progress line per poll
    assert len(kaggle.calls("GetKernelSessionStatus")) == 3

    [request] = kaggle.pushed(REF)
    assert request["datasetDataSources"] == [DATASET] and request["competitionDataSources"] == [HOUSE_SLUG]
    assert request["enableGpu"] is False and request["enableInternet"] is False and request["isPrivate"] is True
    intro, code = (cell["source"] for cell in json.loads(request["text"])["cells"])
    assert intro.startswith(f"# Inference: run {house['run'].name}\n\n")
    assert repr(DATASET) in code and "predict.py" in code and "/kaggle/working" in code

    fetched = Path("kernels/house-prices-pipeline/output/v1/submission.csv")
    assert fetched.read_bytes() == (house["run"] / "submission.csv").read_bytes()
    downloads = [r for r in kaggle.requests if r["role"] == "storage" and "kernel-output" in r["path"]]
    assert len(downloads) == 1 and all("Authorization" not in r["headers"] for r in downloads)

    [create] = kaggle.calls("CreateSubmission")
    [uploaded] = [v for v in kaggle.uploads.values() if v]
    assert uploaded == fetched.read_bytes()
    [sub] = kaggle.competitions[HOUSE_SLUG].submissions
    assert sub["fileName"] == f"{house['run'].name}-kernel-v1.csv" and "notebook v1" in sub["description"]
    assert len(load_records(house["run"])) == before + 1  # `runs` shows it beside the run


def test_an_account_that_has_not_joined_is_refused_before_the_notebook_is_pushed(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle.competitions[HOUSE_SLUG].rules_accepted = False
    assert push(house) == 2
    err = capsys.readouterr().err
    assert f"you have not joined the competition '{HOUSE_SLUG}'" in err and "Traceback" not in err
    assert f"https://www.kaggle.com/competitions/{HOUSE_SLUG}/rules" in err
    assert kaggle.calls("SaveKernel") == [] and kaggle.calls("GetKernelSessionStatus") == []  # no kernel time spent
    assert not Path("kernels/house-prices-pipeline").exists()
    kaggle.competitions[HOUSE_SLUG].rules_accepted = True  # joined on the rules page: the same command goes on
    assert push(house, "--no-submit") == 0
    assert len(kaggle.calls("SaveKernel")) == 1


def test_gpu_and_internet_options_reach_the_pushed_metadata(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert push(house, "--no-submit") == 0
    assert push(house, "--no-submit", "--gpu", "--internet", "on") == 0
    plain, options = kaggle.pushed(REF)
    assert (plain["enableGpu"], plain["enableInternet"]) == (False, False)
    assert (options["enableGpu"], options["enableInternet"]) == (True, True)
    assert {k: v for k, v in plain.items() if not k.startswith("enable")} == {
        k: v for k, v in options.items() if not k.startswith("enable")
    }
    assert "version 2 (GPU, internet on)" in capsys.readouterr().out
    assert kaggle.calls("CreateSubmission") == []  # --no-submit


def test_a_failing_notebook_exits_2_with_its_log_tail(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    kaggle.kernel_plan.statuses = ["QUEUED", "RUNNING", "RUNNING", "ERROR"]
    kaggle.kernel_plan.failure_message = "Your notebook tried to allocate more memory than is available."
    kaggle.kernel_plan.outputs = {}
    kaggle.kernel_plan.log = kaggle_log(
        "installing the package offline", "predict house_prices", "error: 1459 training rows, the run had 395"
    )
    assert push(house) == 2
    err = capsys.readouterr().err
    assert "error: 1459 training rows, the run had 395" in err and "installing the package offline" in err
    assert "ended ERROR: Your notebook tried to allocate more memory" in err and "Traceback" not in err
    log = Path("kernels/house-prices-pipeline/output/v1/log.txt").read_text()
    assert log.splitlines()[-1] == "error: 1459 training rows, the run had 395"
    assert kaggle.calls("StartSubmissionUpload") == [] and kaggle.calls("CreateSubmission") == []


def test_code_competition_reports_the_version_and_submits_nothing(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import competitions.house_prices as hp

    monkeypatch.setattr(hp, "CODE_COMPETITION", True, raising=False)
    assert push(house, "--internet", "on") == 2  # code competitions score offline notebooks only
    assert "internet off" in capsys.readouterr().err and kaggle.calls("SaveKernel") == []
    assert push(house) == 0
    out = capsys.readouterr().out
    assert f"Submit version 1 of {REF}" in out and f"-k {REF} -v 1" in out and "Nothing was submitted" in out
    assert kaggle.calls("GetSubmissionLimits") == [] and kaggle.calls("CreateSubmission") == []


def test_invalid_output_is_refused_before_any_submission_slot(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    good = (house["run"] / "submission.csv").read_text().splitlines()
    kaggle.kernel_plan.outputs["submission.csv"] = ("\n".join(good[:-1]) + "\n").encode()  # a test row is missing
    assert push(house) == 2
    err = capsys.readouterr().err
    assert "the output of notebook version" in err and "does not validate" in err and "Traceback" not in err
    assert kaggle.calls("GetSubmissionLimits") == [] and kaggle.calls("StartSubmissionUpload") == []
    assert kaggle.calls("CreateSubmission") == []


def test_timeout_leaves_the_notebook_running_and_attach_resumes(
    kaggle: KaggleStub, house: dict[str, Path], capsys: pytest.CaptureFixture[str], no_sleep: list[float]
) -> None:
    kaggle.kernel_plan.statuses = ["QUEUED", "RUNNING"]
    assert push(house, "--timeout", "120") == 1
    assert "--attach" in capsys.readouterr().err and kaggle.calls("CreateSubmission") == []
    assert sum(no_sleep) <= 120 and no_sleep[1] > no_sleep[0]  # back-off within the budget
    kaggle.kernels[REF][-1]["plan"].statuses = ["RUNNING", "COMPLETE"]
    assert push(house, "--attach") == 0
    assert len(kaggle.calls("SaveKernel")) == 1 and len(kaggle.calls("CreateSubmission")) == 1
    assert "nothing pushed" in capsys.readouterr().out


def test_package_not_uploaded_or_missing_dataset_is_refused(
    kaggle: KaggleStub, house: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "local-pkg"
    shutil.copytree(house["package"], local)
    meta = json.loads((local / "dataset-metadata.json").read_text())
    (local / "dataset-metadata.json").write_text(json.dumps(meta | {"id": "INSERT_USERNAME/x"}))
    assert cli.main(["push", "competitions/house_prices", "--package", str(local)]) == 2
    assert "not uploaded yet" in capsys.readouterr().err and kaggle.requests == []

    kaggle.datasets.clear()  # the id is set but Kaggle has no such dataset
    assert push(house) == 2
    err = capsys.readouterr().err
    assert f"dataset source(s) not found or not visible to you: {DATASET}" in err
    assert kaggle.calls("GetKernelSessionStatus") == []


def test_a_package_of_a_sample_run_is_refused_before_anything_is_sent(
    kaggle: KaggleStub, house: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sampled = tmp_path / "sample-pkg"
    shutil.copytree(house["package"], sampled)
    summary = sampled / "run" / "summary.json"
    summary.write_text(json.dumps(json.loads(summary.read_text()) | {"sample": True}))
    assert cli.main(["push", "competitions/house_prices", "--package", str(sampled)]) == 2
    err = capsys.readouterr().err
    assert "was made on the built-in sample data: its models learned from generated rows" in err
    assert "Package a run on the real data." in err and "Traceback" not in err
    assert kaggle.requests == []


def test_the_generated_notebook_finds_the_package_and_fails_loudly(
    kaggle: KaggleStub, house: dict[str, Path], tmp_path: Path
) -> None:
    assert push(house, "--no-submit") == 0
    code = json.loads(Path("kernels/house-prices-pipeline/notebook.ipynb").read_text())["cells"][1]["source"]
    kaggle_root = tmp_path / "kaggle"
    entry = kaggle_root / "input" / "datasets" / "stub-user" / "house-prices-inference" / "predict.py"
    entry.parent.mkdir(parents=True)
    entry.write_text("import sys, pathlib\npathlib.Path(sys.argv[2], 'args.txt').write_text(' '.join(sys.argv[1:]))\n")
    (kaggle_root / "working").mkdir()
    local = code.replace("/kaggle/", f"{kaggle_root}/")
    subprocess.run([sys.executable, "-c", local], check=True, timeout=60)
    assert (kaggle_root / "working" / "args.txt").read_text() == f"--out {kaggle_root}/working"
    entry.write_text("raise SystemExit(3)\n")
    failed = subprocess.run([sys.executable, "-c", local], capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "predict.py failed with exit status 3" in failed.stderr
    shutil.rmtree(kaggle_root / "input")
    missing = subprocess.run([sys.executable, "-c", local], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "not mounted under" in missing.stderr


def test_the_original_dataset_is_mounted_too_and_a_local_one_refused(
    kaggle: KaggleStub, house: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # predict loads the run's training rows, the original's among them: the notebook must mount that dataset too
    import competitions.house_prices as hp
    from pipeline.tabular.original import Original

    kaggle.datasets.add("someone/ames-original")
    assert push(house, "--no-submit") == 0
    monkeypatch.setattr(hp, "ORIGINAL", Original("someone/ames-original", "ames.csv"), raising=False)
    assert push(house, "--no-submit") == 0
    before, after = kaggle.pushed(REF)
    assert before["datasetDataSources"] == [DATASET]
    assert after["datasetDataSources"] == [DATASET, "someone/ames-original"]
    monkeypatch.setattr(hp, "ORIGINAL", Original("ames-original", "ames.csv"))
    assert push(house, "--no-submit") == 2
    assert "'ames-original' is a local dataset, which a Kaggle notebook cannot mount" in capsys.readouterr().err
    assert len(kaggle.pushed(REF)) == 2  # nothing pushed


@pytest.mark.parametrize("extra", [(), ("--no-submit",)])
def test_without_the_data_to_validate_against_nothing_is_pushed(
    kaggle: KaggleStub,
    house: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
) -> None:
    # the notebook's output is validated against the run's data with or without --no-submit: without that data, an
    # hour of notebook would end in a refusal, so push refuses first (before: with --no-submit it pushed)
    monkeypatch.setenv("PIPELINE_DATA_CACHE", str(tmp_path / "cache"))  # no data/<slug>/ to fall back on
    away = house["data"].rename(tmp_path / "moved")
    try:
        assert push(house, *extra) == 2
    finally:
        away.rename(house["data"])
    assert "Get the data again: python -m pipeline download competitions/house_prices" in capsys.readouterr().err
    assert kaggle.calls("SaveKernel") == []


def test_the_notebook_names_the_runs_of_an_ensemble_of_two_competitions_by_competition() -> None:
    """Runs of two competitions begun in one second share an id: the notebook's description names each by its
    competition, as the blend's keys do, so the two are told apart; one competition's runs keep their plain ids."""
    from pipeline.commands.push import inferred

    two = {"members": [{"run_id": "20260102-030405", "competition": c} for c in ("meta_images", "meta_table")]}
    assert inferred("E", two) == "ensemble E of runs meta_images:20260102-030405, meta_table:20260102-030405"
    one = {"members": [{"run_id": r, "competition": "house_prices"} for r in ("a", "b")]}
    assert inferred("E", one) == "ensemble E of runs a, b"
    assert inferred("R", {}) == "run R"
