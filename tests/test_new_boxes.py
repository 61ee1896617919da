"""`python -m pipeline new` on downloads of boxes in a CSV (Global Wheat Detection's layout, RSNA Pneumonia's
columns): what it infers and refuses, the generated file (ruff, the contract, `list`), and runs of it with a tiny
Faster R-CNN from random init that learn the squares and write a PredictionString submission that validates."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from box_downloads import rsna_download, wheat_download

from pipeline.cli import main
from pipeline.commands.list import rows
from pipeline.commands.new import BOX_METRIC_NAMES, add_arguments
from pipeline.commands.new import main as new_main
from pipeline.contract import ContractError, load_competition
from pipeline.detection.boxes import count, pack
from pipeline.detection.csv_boxes import METRICS

# small enough to learn the squares in about a minute of two CPU cores: the images' own 64 px, no TTA
TINY = ("--preset", "fast", "--set", "image_size=64", "--set", "tta=false", "--set", "min_score=0.3")


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def run(tmp_path: Path, name: str, data: Path, *extra: str) -> Path:
    """`run` of a generated competition with TINY settings; its run folder."""
    args = ["run", str(tmp_path / "comps" / name), "--data", str(data), *TINY, "--quiet", *extra]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "runs" / name).glob("*")
    return run_dir


def test_the_metric_names_new_knows_are_the_loaders() -> None:
    assert BOX_METRIC_NAMES == METRICS


def test_a_wheat_download_becomes_a_detection_competition_that_learns_the_boxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = wheat_download(tmp_path / "global-wheat-detection")
    assert new(tmp_path, "wheat_boxes", data) == 0
    out = capsys.readouterr().out
    assert "metric iou_map" in out and "train.csv's image_id names train/<id>.png" in out
    listed_ids = set(pd.read_csv(data / "train.csv")["image_id"])
    unlisted = len(list((data / "train").glob("*.png"))) - len(listed_ids)
    assert unlisted > 0 and f"{unlisted} images of train/ are not in train.csv: images with no box" in out
    path = tmp_path / "comps" / "wheat_boxes" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    assert (module.METRIC.name, module.FOLDS, module.FILES.unlisted) == ("iou_map", "kfold", True)
    listed = {r[0]: r[1:] for r in rows([str(tmp_path / "comps")])}
    assert listed[str(path.parent)] == ("global-wheat-detection", "iou_map (higher is better)", "cpu, fast")
    data_ = module.load(module.Config(), data)
    assert len(data_.X) == 48 and (count(data_.y) == 0).sum() == unlisted  # the images with no box are kept
    run_dir = run(tmp_path, "wheat_boxes", data, "--set", "epochs=10")
    summary = json.loads((run_dir / "summary.json").read_text())
    folds = np.load(run_dir / "folds.npy")
    scored = folds >= 0
    oof = np.load(run_dir / "oof" / "_blend.npy")
    assert summary["cv"] == pytest.approx(module.score(data_.y[scored], oof[scored]))  # out of fold
    n = int(scored.sum())
    nothing = pack([np.zeros((0, 4))] * n, [np.zeros(0)] * n, [np.zeros(0, np.int64)] * n)
    assert module.score(data_.y[scored], nothing) == 0.0 and summary["cv"] > 0.3  # predicting no box scores 0
    submission = run_dir / "submission.csv"
    sub, sample = pd.read_csv(submission, dtype=str), pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == list(sample.columns) and sub["image_id"].tolist() == sample["image_id"].tolist()
    assert module.validate(data_, submission) > 0
    assert (tmp_path / "submissions" / "wheat_boxes" / f"{run_dir.name}.csv").is_file()


def test_an_rsna_download_reads_target_zero_rows_as_images_without_boxes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = rsna_download(tmp_path / "rsna-pneumonia-detection-challenge")
    assert new(tmp_path, "rsna_boxes", data, "--metric", "iou_map40") == 0
    out = capsys.readouterr().out
    assert "metric iou_map40" in out and "(x, y, width, height)" in out
    module = load_competition(str(tmp_path / "comps" / "rsna_boxes"))
    files = module.FILES
    assert (files.bbox_column, files.xywh_columns, files.target_column) == (
        None,
        ("x", "y", "width", "height"),
        "Target",
    )
    labels = pd.read_csv(data / "stage_2_train_labels.csv")
    data_ = module.load(module.Config(), data)
    empty = set(labels.loc[labels["Target"] == 0, "patientId"])
    assert (
        len(data_.X) == 48
        and {k for k, n in zip(data_.info["train_ids"], count(data_.y), strict=True) if n == 0} == empty
    )
    run_dir = run(tmp_path, "rsna_boxes", data, "--set", "epochs=2")
    submission = run_dir / "submission.csv"
    sub = pd.read_csv(submission, dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "stage_2_sample_submission.csv", dtype=str)
    assert (
        list(sub.columns) == ["patientId", "PredictionString"]
        and sub["patientId"].tolist() == sample["patientId"].tolist()
    )
    assert module.validate(data_, submission) >= 0
    # predict of the test set alone (the fold models, their fusion and the cut) writes the run's submission again
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    again = pd.read_csv(tmp_path / "pred" / "submission.csv", dtype=str, keep_default_na=False)
    assert again.equals(sub)


def _refused(tmp_path: Path, name: str, data: Path, match: str, *extra: str) -> None:
    """`new` refuses the download with an error matching `match`, and writes nothing."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])
    with pytest.raises(ContractError, match=match):
        new_main(args)
    assert not (tmp_path / "comps" / name).exists()


def test_a_box_that_does_not_parse_and_several_classes_are_refused(tmp_path: Path) -> None:
    data = wheat_download(tmp_path / "wheat", n_train=12, n_test=4)
    train = (data / "train.csv").read_text().splitlines()
    broken = [*train[:3], train[3].replace("[", "(", 1), *train[4:]]
    (data / "train.csv").write_text("\n".join(broken) + "\n")
    _refused(
        tmp_path, "wheat_broken", data, r"train.csv line 4, column bbox: '\(.*' is not a box \[x, y, width, height\]"
    )
    (data / "train.csv").write_text("\n".join(train) + "\n")
    frame = pd.read_csv(data / "train.csv")
    frame["class"] = np.where(np.arange(len(frame)) % 3, "wheat", "weed")
    frame.to_csv(data / "train.csv", index=False)
    _refused(tmp_path, "wheat_classes", data, r"its column class holds 2 classes of boxes \(weed \(\d+\), wheat")
    frame["class"] = "wheat"
    frame.to_csv(data / "train.csv", index=False)
    _refused(
        tmp_path,
        "wheat_metric",
        data,
        "--metric f1_samples: a submission of boxes is scored by",
        "--metric",
        "f1_samples",
    )
    _refused(tmp_path, "wheat_task", data, "holds boxes to detect: --task", "--task", "binary")
    assert new(tmp_path, "wheat_one_class", data) == 0
    assert load_competition(str(tmp_path / "comps" / "wheat_one_class")).FILES.class_name == "wheat"


def test_rsna_rows_whose_target_disagrees_with_the_box_are_refused(tmp_path: Path) -> None:
    data = rsna_download(tmp_path / "rsna", n_train=12, n_test=4)
    labels = pd.read_csv(data / "stage_2_train_labels.csv", dtype=str, keep_default_na=False)
    row = int((labels["Target"] == "0").to_numpy().argmax())
    labels.loc[row, "Target"] = "1"
    labels.to_csv(data / "stage_2_train_labels.csv", index=False)
    _refused(tmp_path, "rsna_target", data, rf"stage_2_train_labels.csv line {row + 2}, column Target: '1' disagrees")
    labels.loc[row, ["x", "Target"]] = ["12.0", "0"]
    labels.to_csv(data / "stage_2_train_labels.csv", index=False)
    _refused(tmp_path, "rsna_partial", data, rf"line {row + 2}, column y: '' is no number")
