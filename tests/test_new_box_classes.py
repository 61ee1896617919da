"""`python -m pipeline new` on a download of boxes of several classes in VinBigData's layout (class_name, class_id,
corners, "No finding" rows, a sample of "14 1 0 0 1 1"): what it infers and refuses, the generated file, and a run of
it with a tiny Faster R-CNN from random init that tells the classes apart and writes a class-first submission."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from box_downloads import COLOURS, NO_FINDING, vinbig_download
from helpers import new_refuses

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.detection.boxes import pack, unpack

# the images' own 64 px, no TTA, 6 epochs: a minute or two of two CPU cores
TINY = ("--preset", "fast", "--set", "image_size=64", "--set", "tta=false", "--set", "epochs=6")


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def test_a_vinbigdata_download_becomes_a_detector_of_its_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = vinbig_download(tmp_path / "vinbigdata-chest-xray-abnormalities-detection")
    assert new(tmp_path, "vin_classes", data, "--metric", "voc_map40") == 0
    out = capsys.readouterr().out
    labels = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    counts = labels["class_name"].value_counts()
    assert "wrote" in out and "boxes (" in out and "of 3 classes" in out
    assert "classes: 3 in train.csv's class_name, each written as its class_id, boxes of each:" in out
    for name, (token, _) in COLOURS.items():
        assert f"    {token} {name}: {counts[name]}\n" in out
    assert "nothing here: class 14 (No finding), the sample's default prediction" in out
    assert "columns left aside: train.csv's rad_id" in out and "metric: voc_map40" in out
    # each image's boxes are one reader's here: nothing to fuse, the file as without a reader column
    assert "readers: 3 in train.csv's rad_id (R0, R1, R2), each image's boxes drawn by one of them: nothing to" in out
    path = tmp_path / "comps" / "vin_classes" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    files = module.FILES
    assert files.classes == {"Red square": "0", "Green square": "1", "Blue square": "2"} == module.CLASSES
    assert (files.class_column, files.nothing_class, files.prediction_boxes) == ("class_name", "14", "xyxy")
    assert files.xyxy_columns == ("x_min", "y_min", "x_max", "y_max") and module.METRIC.name == "voc_map40"
    assert files.reader_column is None and not hasattr(module.Config(), "fuse_readers")
    data_ = module.load(module.Config(), data)
    # each image's boxes as the CSV gives them: corners to x, y, w, h, each with its class's index; No finding: none
    for key, row in zip(data_.info["train_ids"], data_.y, strict=True):
        boxes, _, classes = unpack(row)
        mine = labels[(labels["image_id"] == key) & (labels["x_min"] != "")]
        want = sorted(
            (int(r.class_id), float(r.x_min), float(r.y_min), float(r.x_max) - float(r.x_min))
            for r in mine.itertuples()
        )
        assert sorted(zip(classes.tolist(), boxes[:, 0], boxes[:, 1], boxes[:, 2], strict=True)) == want
        assert len(mine) or set(labels.loc[labels["image_id"] == key, "class_name"]) == {NO_FINDING[0]}
    args = ["run", str(path.parent), "--data", str(data), *TINY, "--quiet"]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "runs" / "vin_classes").glob("*")
    summary = json.loads((run_dir / "summary.json").read_text())
    scored = np.load(run_dir / "folds.npy") >= 0
    oof = np.load(run_dir / "oof" / "_blend.npy")
    assert summary["cv"] == pytest.approx(module.score(data_.y[scored], oof[scored]))  # out of fold
    # the trivial answer, no box at all ("14 1 0 0 1 1" on every image), scores only the No finding class
    n = int(scored.sum())
    nothing = pack([np.zeros((0, 4))] * n, [np.zeros(0)] * n, [np.zeros(0, np.int64)] * n)
    trivial = module.score(data_.y[scored], nothing)
    assert 0 < trivial < 0.25 < summary["cv"]
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == list(sample.columns) and sub["image_id"].tolist() == sample["image_id"].tolist()
    groups = [cell.split()[k : k + 6] for cell in sub["PredictionString"] for k in range(0, len(cell.split()), 6)]
    assert {g[0] for g in groups} == {"0", "1", "2", "14"} and all(len(g) == 6 for g in groups)
    assert [cell.split().count("14") >= 1 for cell in sub["PredictionString"]] == [True] * len(sub)
    assert module.validate(module.load_test(module.Config(), data), run_dir / "submission.csv") == len(groups)
    # predict of the test set alone writes the run's submission again
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "pred" / "submission.csv", dtype=str, keep_default_na=False).equals(sub)


def test_class_csvs_that_cannot_be_read_as_boxes_are_refused_naming_file_and_column(tmp_path: Path) -> None:
    data = vinbig_download(tmp_path / "vin", n_train=12, n_test=4)
    csv, sample = data / "train.csv", data / "sample_submission.csv"
    labels = pd.read_csv(csv, dtype=str, keep_default_na=False)
    boxed = np.flatnonzero(labels["x_min"] != "")
    corners = ["x_min", "y_min", "x_max", "y_max"]
    labels.drop(columns=corners).to_csv(csv, index=False)
    new_refuses(
        tmp_path, "vin_no_box", data, "train.csv: its column class_name, class_id names classes of boxes, but no"
    )
    labels.drop(columns=["y_max"]).to_csv(csv, index=False)
    new_refuses(
        tmp_path, "vin_partial", data, r"train.csv: its box columns x_min, y_min, x_max \(no y_max\) are not all"
    )
    broken = labels.copy()
    broken.loc[boxed[1], "class_name"] = ""
    broken.to_csv(csv, index=False)
    new_refuses(tmp_path, "vin_no_class", data, rf"train.csv line {boxed[1] + 2}, column class_name: '' is no class")
    broken = labels.copy()
    red = np.flatnonzero(labels["class_name"] == "Red square")
    broken.loc[red[-1], "class_id"] = "1"
    broken.to_csv(csv, index=False)
    new_refuses(
        tmp_path, "vin_ids", data, rf"line {red[-1] + 2}: 'Red square' has class_id '1', but '0' on line {red[0] + 2}"
    )
    broken = labels.copy()
    broken.loc[boxed[0], ["x_min", "x_max"]] = broken.loc[boxed[0], ["x_max", "x_min"]].to_numpy()
    broken.to_csv(csv, index=False)
    new_refuses(
        tmp_path, "vin_flipped", data, rf"line {boxed[0] + 2}, column x_min/y_min/x_max/y_max: .* x_max and y_max"
    )
    labels.to_csv(csv, index=False)
    new_refuses(tmp_path, "vin_iou", data, "--metric iou_map scores boxes of one class", "--metric", "iou_map")
    text = sample.read_text()
    sample.write_text(text.replace("14 1 0 0 1 1", "1 0 0 50 50"))
    new_refuses(tmp_path, "vin_five", data, "sample_submission.csv: its PredictionString writes groups of five")
    sample.write_text(text)
    # the generated file's classes are the ones it reads: a box of a class taken out of CLASSES is refused
    assert new(tmp_path, "vin_edited", data) == 0
    module = load_competition(str(tmp_path / "comps" / "vin_edited"))
    assert module.METRIC.name == "voc_map"  # several classes: VOC mAP at 0.5 unless --metric says otherwise
    two = dataclasses.replace(module.FILES, classes={"Red square": "0", "Green square": "1"})
    blue = np.flatnonzero(labels["class_name"] == "Blue square")[0]
    with pytest.raises(ContractError, match=rf"train.csv line {blue + 2}, column class_name: 'Blue square' is not one"):
        two.load(module.Config(), data)
