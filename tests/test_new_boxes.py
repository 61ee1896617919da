"""`python -m pipeline new` on downloads of boxes in a CSV (Global Wheat Detection's layout, RSNA Pneumonia's
columns): what it infers and refuses, the generated file (ruff, the contract, `list`), and runs of it with a tiny
Faster R-CNN from random init that learn the squares and write a PredictionString submission that validates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from box_downloads import rsna_download, wheat_download
from helpers import new_refuses

from pipeline.cli import main
from pipeline.commands.list import rows
from pipeline.commands.new import BOX_METRIC_NAMES
from pipeline.contract import load_competition
from pipeline.detection.boxes import count, drop_below, pack, unpack
from pipeline.detection.csv_boxes import METRICS

# small enough to learn the squares in about a minute of two CPU cores: the images' own 64 px, no TTA
TINY = ("--preset", "fast", "--set", "image_size=64", "--set", "tta=false", "--set", "min_score=0.3")


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def run(tmp_path: Path, name: str, data: Path, *extra: str) -> Path:
    """`run` of a generated competition with TINY settings; its run folder."""
    args = ["run", str(tmp_path / "comps" / name), "--data", str(data), *TINY, "--quiet", *extra]
    before = set((tmp_path / "runs" / name).glob("*"))
    assert main(args) == 0
    (run_dir,) = set((tmp_path / "runs" / name).glob("*")) - before
    return run_dir


def lowest_score(arr: np.ndarray) -> float:
    """The lowest confidence of any box of packed rows (inf: no box)."""
    scores = [unpack(r)[1] for r in arr]
    return min((float(s.min()) for s in scores if len(s)), default=np.inf)


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
    # min_score 0.9 lets few of the tiny detector's boxes through: the cut fitted out of fold beats it
    run_dir = run(tmp_path, "wheat_boxes", data, "--set", "epochs=10", "--set", "min_score=0.9")
    summary = json.loads((run_dir / "summary.json").read_text())
    folds = np.load(run_dir / "folds.npy")
    scored = folds >= 0
    cut = json.loads((run_dir / "threshold.json").read_text())
    assert cut["kind"] == "box_cut" and cut["applied"] and cut["min_score"] == cut["fitted_min_score"] < 0.9
    blended = json.loads((run_dir / "blend.json").read_text())["score"]  # the blend's, at min_score
    assert summary["cv"] == cut["score_after"] > cut["score_before"] == blended
    stages = json.loads((run_dir / "stages.json").read_text())
    assert stages["threshold"] == {"kind": "box_cut", "min_score": cut["min_score"]}
    oof = np.load(run_dir / "oof" / "_threshold.npy")
    assert summary["cv"] == pytest.approx(module.score(data_.y[scored], oof[scored]))  # out of fold
    # the detector predicted its boxes below any cut (down to its score_thresh), the blend cut them at min_score
    assert lowest_score(np.load(run_dir / "oof" / "fasterrcnn_tiny.npy")[scored]) < cut["min_score"]
    assert lowest_score(np.load(run_dir / "oof" / "_blend.npy")[scored]) >= 0.9
    log = (run_dir / "log.txt").read_text()
    assert f"box cut {cut['min_score']:g} (fitted out of fold): iou_map" in log
    assert "valid_iou_map " in log and "valid_mAP" not in log  # each epoch's validation: the competition's metric
    n = int(scored.sum())
    nothing = pack([np.zeros((0, 4))] * n, [np.zeros(0)] * n, [np.zeros(0, np.int64)] * n)
    assert module.score(data_.y[scored], nothing) == 0.0 and summary["cv"] > 0.3  # predicting no box scores 0
    submission = run_dir / "submission.csv"
    sub, sample = pd.read_csv(submission, dtype=str), pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == list(sample.columns) and sub["image_id"].tolist() == sample["image_id"].tolist()
    assert module.validate(data_, submission) > 0
    assert (tmp_path / "submissions" / "wheat_boxes" / f"{run_dir.name}.csv").is_file()
    confidences = [float(v) for cell in sub["PredictionString"].dropna() for v in cell.split()[::5]]
    assert cut["min_score"] <= min(confidences) < 0.9  # the test boxes cut at the fitted cut, not at min_score
    # predict of the test set alone: the fold models' boxes, their fusion, the blend and the fitted cut saved
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "pred" / "submission.csv", dtype=str).equals(sub)


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
    # fit_min_score off: the run before the option, each box below min_score dropped by the detector, no cut stage
    off = run(tmp_path, "rsna_boxes", data, "--set", "epochs=2", "--set", "fit_min_score=false", "--tag", "off")
    assert json.loads((off / "config.json").read_text())["config"]["fit_min_score"] is False
    assert not (off / "threshold.json").exists() and json.loads((off / "summary.json").read_text())["threshold"] is None
    assert "threshold" not in json.loads((off / "stages.json").read_text())
    on_oof, off_oof = (np.load(d / "oof" / "fasterrcnn_tiny.npy") for d in (run_dir, off))
    assert lowest_score(off_oof) >= 0.3 and lowest_score(on_oof) < 0.3
    # the same detector either way: the boxes it predicts, the blend, the fold scores at min_score are the same
    assert np.array_equal(drop_below(on_oof, 0.3), off_oof, equal_nan=True)
    blends = [np.load(d / "oof" / "_blend.npy") for d in (run_dir, off)]
    assert np.array_equal(*blends, equal_nan=True)
    scores = [json.loads((d / "scores.json").read_text())["fasterrcnn_tiny"]["fold_scores"] for d in (run_dir, off)]
    assert scores[0] == scores[1]


def test_a_box_that_does_not_parse_and_several_classes_arenew_refuses(tmp_path: Path) -> None:
    data = wheat_download(tmp_path / "wheat", n_train=12, n_test=4)
    train = (data / "train.csv").read_text().splitlines()
    broken = [*train[:3], train[3].replace("[", "(", 1), *train[4:]]
    (data / "train.csv").write_text("\n".join(broken) + "\n")
    new_refuses(
        tmp_path, "wheat_broken", data, r"train.csv line 4, column bbox: '\(.*' is not a box \[x, y, width, height\]"
    )
    (data / "train.csv").write_text("\n".join(train) + "\n")
    frame = pd.read_csv(data / "train.csv")
    frame["class"] = np.where(np.arange(len(frame)) % 3, "wheat", "weed")
    frame.to_csv(data / "train.csv", index=False)
    new_refuses(
        tmp_path,
        "wheat_classes",
        data,
        r"sample_submission.csv: its PredictionString writes groups of five \(conf x y w h\), no class, but "
        r"train.csv's column class holds 2 classes of boxes \(weed \(\d+\), wheat",
    )
    frame["class"] = "wheat"
    frame.to_csv(data / "train.csv", index=False)
    new_refuses(
        tmp_path,
        "wheat_metric",
        data,
        "--metric f1_samples: a submission of boxes is scored by",
        "--metric",
        "f1_samples",
    )
    new_refuses(tmp_path, "wheat_task", data, "holds boxes to detect: --task", "--task", "binary")
    assert new(tmp_path, "wheat_one_class", data) == 0
    assert load_competition(str(tmp_path / "comps" / "wheat_one_class")).FILES.class_name == "wheat"


def test_rsna_rows_whose_target_disagrees_with_the_box_arenew_refuses(tmp_path: Path) -> None:
    data = rsna_download(tmp_path / "rsna", n_train=12, n_test=4)
    labels = pd.read_csv(data / "stage_2_train_labels.csv", dtype=str, keep_default_na=False)
    row = int((labels["Target"] == "0").to_numpy().argmax())
    labels.loc[row, "Target"] = "1"
    labels.to_csv(data / "stage_2_train_labels.csv", index=False)
    new_refuses(
        tmp_path, "rsna_target", data, rf"stage_2_train_labels.csv line {row + 2}, column Target: '1' disagrees"
    )
    labels.loc[row, ["x", "Target"]] = ["12.0", "0"]
    labels.to_csv(data / "stage_2_train_labels.csv", index=False)
    new_refuses(tmp_path, "rsna_partial", data, rf"line {row + 2}, column y: '' is no number")
