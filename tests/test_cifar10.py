"""CIFAR-10: the sample in Kaggle's layout, 7z extraction through pipeline.datadir, load, submission, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import preset_takes_effect, subprocess_env

import competitions.cifar10 as cifar
from competitions.cifar10.sample import CLASSES, sample_labels, write_sample
from pipeline.config import resolve_config
from pipeline.contract import ContractError, load_competition
from pipeline.datadir import extract_competition_zip
from pipeline.submission import validate_submission


@pytest.fixture(scope="module")
def kaggle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cifar-10.zip exactly as Kaggle ships it: train.7z, test.7z and the two CSVs."""
    folder = tmp_path_factory.mktemp("sample")
    write_sample(folder, n_train=60, n_test=20)
    archive = folder.parent / "cifar-10.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("train.7z", "test.7z", "trainLabels.csv", "sampleSubmission.csv"):
            zf.write(folder / name, name)
    return archive


def test_contract_and_presets():
    module = load_competition("competitions/cifar10")
    assert module.KAGGLE_SLUG == "cifar-10" and module.METRIC.greater_is_better
    for preset in ("cpu", "gpu", "fast"):
        preset_takes_effect(module, preset)
    cfg, _ = resolve_config(module, preset="cpu", sets=["holdout=0.2", "tta=hflip"])
    assert cfg.holdout == 0.2 and cfg.tta == ("hflip",)


def test_zip_with_inner_7z_extracts_to_kaggle_layout_and_loads(kaggle_zip, tmp_path):
    folder = extract_competition_zip(kaggle_zip, tmp_path / "cifar-10")
    assert sorted(p.name for p in (folder / "train").iterdir())[:2] == ["1.png", "10.png"]
    assert len(list((folder / "test").iterdir())) == 20
    data = cifar.load(cifar.Config(), folder)
    y_train, _ = sample_labels(60, 20)
    assert data.classes == CLASSES and np.array_equal(data.y, y_train)
    assert Path(data.X[0]).name == "1.png" and Path(data.X_test[-1]).name == "20.png"
    assert list(data.test_ids[:3]) == ["1", "2", "3"]  # as the sample writes them


def test_missing_image_and_unknown_label_are_named(kaggle_zip, tmp_path):
    folder = extract_competition_zip(kaggle_zip, tmp_path / "cifar-10")
    (folder / "test" / "7.png").unlink()
    with pytest.raises(ContractError, match=r"sampleSubmission.csv line 8: 1 image\(s\) it lists are missing .*7.png"):
        cifar.load(cifar.Config(), folder)
    labels = pd.read_csv(folder / "trainLabels.csv")
    labels.loc[4, "label"] = "unicorn"
    labels.to_csv(folder / "trainLabels.csv", index=False)
    with pytest.raises(ContractError, match="line 6: unknown label 'unicorn'"):
        cifar.load(cifar.Config(), folder)


def test_transforms_keep_32px_uint8(kaggle_zip, tmp_path):
    from pipeline.vision.data import read_image

    folder = extract_competition_zip(kaggle_zip, tmp_path / "cifar-10")
    image = read_image(folder / "train" / "1.png")
    for train in (True, False):
        out = cifar.transforms(cifar.Config(), train)(image=image)["image"]
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8


def test_submission_in_sample_order_is_valid(kaggle_zip, tmp_path):
    folder = extract_competition_zip(kaggle_zip, tmp_path / "cifar-10")
    data = cifar.load(cifar.Config(), folder)
    proba = np.random.default_rng(0).random((len(data.X_test), 10))
    cifar.write_submission(data, proba, tmp_path / "sub.csv")
    sub = validate_submission(tmp_path / "sub.csv", data.sample_submission, allowed={"label": CLASSES})
    assert list(sub["label"]) == [CLASSES[k] for k in proba.argmax(1)]
    assert cifar.score(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])) == 0.5


def _cli(cwd: Path, *args: str, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    env = subprocess_env()
    cmd = [sys.executable, "-m", "pipeline", "run", *args, "--quiet"]
    if not wait:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_end_to_end_sample_run_gives_a_valid_submission_and_resumes_exactly(tmp_path):
    fast = ["competitions/cifar10", "--sample", "--preset", "fast", "--set", "epochs=12", "--set", "batch_size=16"]
    _cli(tmp_path, *fast, "--tag", "full")
    run_dir = next((tmp_path / "runs" / "cifar10").glob("*-full*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cv"] > 0.3  # holdout accuracy; chance is 0.1
    sample_sub = tmp_path / "data" / "sample" / "cifar10" / "sampleSubmission.csv"
    sub = validate_submission(run_dir / "submission.csv", sample_sub, allowed={"label": CLASSES})
    _, y_test = sample_labels()
    assert np.mean(sub["label"].to_numpy() == np.asarray(CLASSES)[y_test]) > 0.3
    assert list(run_dir.glob("checkpoints/*/fold0/history.json"))

    # the same run killed after its second epoch, then resumed: the same predictions as the uninterrupted run
    proc = _cli(tmp_path, *fast, "--tag", "cut", wait=False)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        history = list((tmp_path / "runs" / "cifar10").glob("*-cut*/checkpoints/*/fold0/history.json"))
        if history and len(json.loads(history[0].read_text())) >= 2:
            proc.kill()
            break
        time.sleep(0.02)
    proc.wait()
    cut_dir = next((tmp_path / "runs" / "cifar10").glob("*-cut*"))
    _cli(tmp_path, "--resume", str(cut_dir))
    assert "resume: continuing from epoch" in (cut_dir / "log.txt").read_text()  # it was killed mid-training
    model = next(run_dir.glob("test/*.npy")).name
    np.testing.assert_array_equal(np.load(cut_dir / "test" / model), np.load(run_dir / "test" / model))
    np.testing.assert_array_equal(np.load(cut_dir / "oof" / model), np.load(run_dir / "oof" / model))


def test_time_limit_through_the_runner_on_an_image_competition(tmp_path, monkeypatch):
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    fast = ["competitions/cifar10", "--sample", "--preset", "fast", "--set", "epochs=500", "--set", "batch_size=16"]
    assert main(["run", *fast, "--time-limit", "45", "--quiet"]) == 0
    run_dir = next((tmp_path / "runs" / "cifar10").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    history = json.loads(next(run_dir.glob("checkpoints/*/fold0/history.json")).read_text())
    log = (run_dir / "log.txt").read_text()
    # the trainer fitted its schedule to the runner's deadline: stopped far short of 500 epochs, by its own account
    assert len(history) < 500 and "time limit: schedule complete" in log
    assert summary["seconds"] < 45  # and the run (predictions, blend, submission) ended inside the budget
    validate_submission(
        run_dir / "submission.csv",
        tmp_path / "data" / "sample" / "cifar10" / "sampleSubmission.csv",
        allowed={"label": CLASSES},
    )


def test_tuned_image_competition_reports_epochs_to_the_pruner(tmp_path, monkeypatch):
    import optuna

    from pipeline.cli import main
    from pipeline.tuning.pruning import EPOCH_STRIDE

    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["competitions/cifar10", "--sample", "--preset", "fast", "--set", "epochs=3", "--set", "batch_size=16"]
    opts = ["--trials", "3", "--startup-trials", "1", "--pruner", "median", "--storage", db, "--study", "img"]
    assert main(["tune", *args, *opts, "--quiet"]) == 0
    trials = optuna.load_study(study_name="img", storage=db).get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3
    for t in finished:  # one report per validation epoch (steps inside the fold's stride), not only per fold
        epoch_steps = [s for s in t.intermediate_values if s % EPOCH_STRIDE != EPOCH_STRIDE - 1]
        assert epoch_steps, t.intermediate_values
    complete = [t for t in finished if t.state.name == "COMPLETE"]
    for t in complete:  # a complete trial is a whole run: every epoch reported, a submission written
        assert len([s for s in t.intermediate_values if s < EPOCH_STRIDE - 1]) == 3
        assert (Path(t.user_attrs["run_dir"]) / "submission.csv").is_file()


@pytest.mark.parametrize(
    ("csv", "edit", "message"),
    [
        # before: an image listed twice was trained with two labels; a sample id twice failed the run at its end
        (
            "trainLabels.csv",
            lambda f: pd.concat([f, f.iloc[[0]].assign(label="ship")]),
            "line 62: id 1 is listed twice",
        ),
        ("sampleSubmission.csv", lambda f: pd.concat([f, f.iloc[[3]]]), "line 22: id 4 is listed twice"),
        # before: one blank id made every id a float, and the error said every image was missing (1.0.png, ...)
        (
            "trainLabels.csv",
            lambda f: pd.concat([f, pd.DataFrame({"id": [""], "label": ["cat"]})]),
            "line 62: the id is empty",
        ),
    ],
)
def test_the_csvs_are_checked_line_by_line(kaggle_zip, tmp_path, csv, edit, message):
    folder = extract_competition_zip(kaggle_zip, tmp_path / "cifar-10")
    frame = pd.read_csv(folder / csv, dtype=str, keep_default_na=False)
    edit(frame).to_csv(folder / csv, index=False)
    with pytest.raises(ContractError, match=f"{csv} {message}"):
        cifar.load(cifar.Config(), folder)
