"""`predict` of a test set alone: the stages a run fitted after its models (stages.json: blend weights, stack
meta-model, threshold or grade cuts, calibration) are applied as saved, so a folder holding only the test file and
the sample submission is enough, and on the run's own test rows the submission is the run's, byte for byte."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predict import _forbid_fitting, _run  # noqa: E402

FAST = ["--preset", "fast", "--set", "max_trees=300", "--folds", "3"]


def _test_only(download: Path, dest: Path, names: tuple[str, ...] = ("test.csv", "sample_submission.csv")) -> Path:
    """A folder holding only `names` of a Kaggle-style download (its zip or its folder): a new test set without the
    training data."""
    dest.mkdir(parents=True)
    if download.is_dir():
        for name in names:
            (dest / name).write_bytes((download / name).read_bytes())
        return dest
    with zipfile.ZipFile(download) as zf:
        for name in names:
            (dest / name).write_bytes(zf.read(name))
    return dest


def _predicts_the_run(run_dir: Path, data: Path, out: Path, *more: str) -> None:
    """predict on `data` exits 0 and writes the run's own submission, byte for byte."""
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet", *more]) == 0
    name = next(p.name for p in run_dir.iterdir() if p.name.startswith("submission.") or p.name == "answer.zip")
    assert (out / name).read_bytes() == (run_dir / name).read_bytes()


def test_generated_competition_with_a_used_stack_predicts_a_test_set_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_new_command import write_zip

    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert main(["new", "comp_stack", "--data", str(z), "--metric", "log_loss", "--into", "comps"]) == 0
    run_dir = _run(tmp_path, "comps/comp_stack", "--data", str(z), *FAST, "--models", "lightgbm,linear")
    assert json.loads((run_dir / "stack.json").read_text())["used"]
    saved = json.loads((run_dir / "stages.json").read_text())
    assert list(saved) == ["version", "blend", "stack"] and saved["stack"]["models"] == ["lightgbm", "linear"]
    assert json.loads((run_dir / "summary.json").read_text())["trained"]["classes"] == ["0", "1"]
    _forbid_fitting(monkeypatch)
    capsys.readouterr()
    # before: "missing train.csv ... predict refits the blend (and any stack, threshold or calibration)", exit 2
    only_test = _test_only(z, tmp_path / "only_test")
    _predicts_the_run(run_dir, only_test, tmp_path / "out")

    # a run folder without stages.json (a run from before it, or a folder copied without it) refits its stages from
    # the OOF predictions, as before: it needs the training data, says why naming the folder and what else would do,
    # and with it gives the same submission, saying it refitted.
    # before: "the run folder holds no saved stages (stages.json, written by runs since ...)": an old run, unnamed
    record = json.loads((run_dir / "stages.json").read_text())
    (run_dir / "stages.json").unlink()
    assert main(["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err
    assert "missing train.csv" in err and "predict needs run" in err
    assert (
        f"{run_dir} has no stages.json, the stages the run fitted after its models (a run made before runs saved it, "
        "or a folder copied without it: copy it from the run's own folder to predict without refitting)" in err
    )
    assert main(["predict", str(run_dir), "--data", str(z), "--out", str(tmp_path / "old")]) == 0
    said = capsys.readouterr().err
    assert f"stages refitted from the run's OOF predictions against the training targets: {run_dir} has no " in said
    assert (tmp_path / "old" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
    # a stages.json of another layout (written by another version of the project) is named as such, not as missing
    (run_dir / "stages.json").write_text(json.dumps(record | {"version": 99}))
    assert main(["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert f"{run_dir / 'stages.json'} is of layout version 99, not 1: written by another version of the project" in err


def _classes_zip(path: Path) -> Path:
    """A three-class download whose sample submission asks for a probability per class (log_loss)."""
    from test_new_command import N_TEST, N_TRAIN, table

    train, latent = table(N_TRAIN * 2, 0)
    test, _ = table(N_TEST, 1, start=10_000)
    train["target"] = np.array(["low", "mid", "high"])[np.digitize(latent, [-0.5, 1.0])]
    sample = pd.DataFrame({"key": test["key"], "high": 1 / 3, "low": 1 / 3, "mid": 1 / 3})
    with zipfile.ZipFile(path, "w") as zf:
        for name, frame in (("train.csv", train), ("test.csv", test), ("sample_submission.csv", sample)):
            zf.writestr(name, frame.to_csv(index=False))
    return path


@pytest.mark.parametrize("meta", ["multinomial", "pool"])
def test_a_multi_class_stack_predicts_a_test_set_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meta: str
) -> None:
    """The multi-class meta-model in stages.json (the multinomial's "classes", the pool's "pool") gives the run's
    submission, byte for byte, from the test file alone."""
    monkeypatch.chdir(tmp_path)
    z = _classes_zip(tmp_path / "classes-comp.zip")
    assert main(["new", "comp_classes", "--data", str(z), "--into", "comps"]) == 0
    # ten trees a model: probabilities too soft, which the stack sharpens and the blend cannot, so the stack is used
    fast = ["--preset", "fast", "--set", "max_trees=10", "--folds", "3", "--models", "lightgbm,linear"]
    fast += ["--set", f"stack={ {'multinomial': 'linear', 'pool': 'pool'}[meta] }"]
    run_dir = _run(tmp_path, "comps/comp_classes", "--data", str(z), *fast)
    assert json.loads((run_dir / "stack.json").read_text())["used"]
    saved = json.loads((run_dir / "stages.json").read_text())["stack"]
    assert saved["model"]["kind"] == {"multinomial": "classes", "pool": "pool"}[meta]
    _forbid_fitting(monkeypatch)
    _predicts_the_run(run_dir, _test_only(z, tmp_path / "only_test"), tmp_path / "out")


def test_id_groups_keep_asking_for_the_training_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A generated competition whose id groups count training rows: load_test says so, predict needs train.csv."""
    from test_new_command import write_zip

    from pipeline.contract import TrainingDataNeeded, load_competition
    from pipeline.tabular import load_test_table

    with pytest.raises(TrainingDataNeeded, match=r"id groups' sizes \(ID_GROUPS\) count the training rows"):
        load_test_table(tmp_path, "test.csv", "sample_submission.csv", "key", "target", "binary", {}, id_groups=True)
    monkeypatch.chdir(tmp_path)
    z = write_zip(tmp_path / "binary-comp.zip", "binary")
    assert main(["new", "comp_groups", "--data", str(z), "--into", "comps"]) == 0
    run_dir = _run(tmp_path, "comps/comp_groups", "--data", str(z), *FAST, "--models", "linear")
    monkeypatch.setattr(load_competition("comps/comp_groups"), "ID_GROUPS", True)  # as `new` writes for such ids
    capsys.readouterr()
    only_test = _test_only(z, tmp_path / "only_test")
    assert main(["predict", str(run_dir), "--data", str(only_test), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "missing train.csv" in err and "comp_groups's test rows need them: the id groups' sizes" in err


def test_f1_threshold_is_applied_to_a_test_set_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_new_command import rare_class_zip

    monkeypatch.chdir(tmp_path)
    z = rare_class_zip(tmp_path / "rare-comp.zip")
    assert main(["new", "comp_f1", "--data", str(z), "--metric", "f1", "--into", "comps"]) == 0
    run_dir = _run(tmp_path, "comps/comp_f1", "--data", str(z), *FAST)
    threshold = json.loads((run_dir / "threshold.json").read_text())
    assert threshold["applied"] and threshold["threshold"] < 0.5
    saved = json.loads((run_dir / "stages.json").read_text())["threshold"]
    assert saved == {"kind": "threshold", "threshold": threshold["threshold"]}
    _forbid_fitting(monkeypatch)
    _predicts_the_run(run_dir, _test_only(z, tmp_path / "only_test"), tmp_path / "out")


def test_qwk_grade_cuts_are_applied_to_a_test_set_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_grades import FAST as GRADES_FAST
    from test_grades import download

    monkeypatch.chdir(tmp_path)
    z = download(tmp_path)
    assert main(["new", "wine", "--data", str(z), "--metric", "qwk", "--into", "comps"]) == 0
    run_dir = _run(tmp_path, "comps/wine", "--data", str(z), "--folds", "3", *GRADES_FAST)
    assert json.loads((run_dir / "threshold.json").read_text())["applied"]
    saved = json.loads((run_dir / "stages.json").read_text())["threshold"]
    assert saved["kind"] == "cuts" and saved["grades"] == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0] and len(saved["cuts"]) == 5
    _forbid_fitting(monkeypatch)
    # the grades a submission rounds to come from the run's record, not from train.csv
    _predicts_the_run(run_dir, _test_only(z, tmp_path / "only_test"), tmp_path / "out")


def test_calibrated_image_run_predicts_a_test_set_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dog_breeds (CALIBRATE = "temperature") on its sample: the saved temperature applied per fold model."""
    monkeypatch.chdir(tmp_path)
    run_dir = _run(tmp_path, "competitions/dog_breeds", "--sample", "--preset", "fast", "--set", "label_smoothing=0.6")
    calibration = json.loads((run_dir / "calibration.json").read_text())
    assert calibration["applied"] and calibration["test_per_fold"]
    saved = json.loads((run_dir / "stages.json").read_text())["calibration"]
    assert saved == {"method": "temperature", "temperature": calibration["temperature"], "test_per_fold": True}
    _forbid_fitting(monkeypatch)
    data = tmp_path / "data" / "sample" / "dog_breeds"
    only_test = tmp_path / "only_test"
    shutil.copytree(data / "test", only_test / "test")
    shutil.copy(data / "sample_submission.csv", only_test)
    _predicts_the_run(run_dir, only_test, tmp_path / "out", "--device", "cpu")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A log_loss run of a generated binary competition (lightgbm alone); its working folder and its download."""
    from test_new_command import write_zip

    here = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(here)
        z = write_zip(here / "binary-comp.zip", "binary")
        assert main(["new", "comp_refusals", "--data", str(z), "--metric", "log_loss", "--into", "comps"]) == 0
        run_dir = _run(here, "comps/comp_refusals", "--data", str(z), *FAST, "--models", "lightgbm")
    return here, run_dir, z


def test_a_test_set_whose_ids_the_sample_lacks_is_refused_on_reading(
    finished: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: predict (and run, after fitting every model) refused submission.csv, "40 id(s) of the sample submission
    # are missing", pointing at a rejected file in a scratch folder it had deleted, naming neither test.csv nor the
    # sample
    here, run_dir, z = finished
    fewer = _test_only(z, tmp_path / "fewer")
    pd.read_csv(fewer / "test.csv").iloc[:30].to_csv(fewer / "test.csv", index=False)  # the sample keeps its 40 ids
    args = ["predict", str(run_dir), "--data", str(fewer), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{fewer / 'sample_submission.csv'}: 10 of its 40 ids are not in {fewer / 'test.csv'} (first '10030'" in err
    assert "give the sample submission that goes with this test set" in err
    assert not (tmp_path / "out" / "submission.csv").exists()

    other = _test_only(z, tmp_path / "other", ("train.csv", "test.csv", "sample_submission.csv"))
    test = pd.read_csv(other / "test.csv")
    test.assign(key=test["key"] + 5000).to_csv(other / "test.csv", index=False)
    start = len(list((here / "runs" / "comp_refusals").iterdir()))
    assert main(["run", str(here / "comps" / "comp_refusals"), "--data", str(other), *FAST, "--quiet"]) == 2
    assert "40 of its 40 ids are not in" in capsys.readouterr().err
    assert len(list((here / "runs" / "comp_refusals").iterdir())) == start  # refused before a run folder was made


def test_a_sample_of_another_competition_is_refused_before_any_model_predicts(
    finished: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: IndexError (index 2 is out of bounds for axis 1 with size 2), a traceback, after every model predicted
    _, run_dir, z = finished
    three = _test_only(z, tmp_path / "three")
    ids = pd.read_csv(three / "sample_submission.csv")["key"]
    pd.DataFrame({"key": ids, "a": 0.2, "b": 0.3, "c": 0.5}).to_csv(three / "sample_submission.csv", index=False)
    args = ["predict", str(run_dir), "--data", str(three), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{three / 'sample_submission.csv'}: columns ['key', 'a', 'b', 'c'], but run {run_dir.name} writes " in err
    assert "['key', 'target']; predict needs the sample submission of the run's competition (comp_refusals)" in err
