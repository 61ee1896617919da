"""Airbus Ship Detection's layout (tests/mask_downloads.py airbus_download): one training row per ship, unioned into
each image's mask to learn; a submission of one row per predicted ship (the mask's connected components), scored by
F2 over IoU thresholds 0.5 to 0.95 per image, averaged (pipeline/segmentation/instances.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mask_downloads import airbus_download

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.segmentation.instances import image_score, mean_iou_score
from pipeline.segmentation.rle import decode, encode
from pipeline.submission import SubmissionError


def box(top: int, left: int, h: int, w: int, size: int = 20) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + h, left : left + w] = True
    return mask


def test_f2_over_iou_thresholds_matches_a_hand_worked_example() -> None:
    # image A: two ships of 5x5; one found by a 5x4 box inside it minus two pixels (18 of its 25: IoU 0.72), one missed
    ship1, ship2 = box(1, 1, 5, 5), box(10, 10, 5, 5)
    found = box(1, 1, 5, 4)
    found[1, 1] = found[2, 1] = False
    assert found.sum() == 18
    # thresholds 0.5 .. 0.7 (5 of 10): TP 1, FN 1, FP 0 -> 5 / (5 + 4) = 5/9; 0.75 .. 0.95: TP 0, FN 2, FP 1 -> 0
    a = image_score([ship1, ship2], [found])
    assert a == pytest.approx(5 * (5 / 9) / 10)  # 5/18
    assert image_score([], []) == 1.0  # image B: no ship, none predicted
    assert image_score([], [found]) == 0.0 and image_score([ship1], []) == 0.0
    # the same two images as masks at a 20x20 grid: the competition's mean over images
    truth = np.stack([(ship1 | ship2).ravel(), np.zeros(400)]).astype(np.uint8)
    pred = np.stack([found.ravel() * 0.9, np.full(400, 0.2)])
    assert mean_iou_score(truth, pred, (20, 20)) == pytest.approx((5 / 18 + 1) / 2)  # 23/36
    assert mean_iou_score(truth, pred, (20, 20), min_pixels=19) == pytest.approx((0 + 1) / 2)  # the find dropped


def test_new_reads_an_airbus_download_into_a_competition_of_ship_instances(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, ships = airbus_download(tmp_path / "airbus-ship-detection", n_train=16, n_test=3)
    listed = [line.split(",")[0] for line in (data / "train_ship_segmentations_v2.csv").read_text().splitlines()[1:]]
    assert len(listed) > len(set(listed))  # some images on several rows
    comps = tmp_path / "comps"
    assert main(["new", "airbus_ship_new", "--data", str(data), "--into", str(comps)]) == 0
    out = capsys.readouterr().out
    assert "metric f2_iou" in out and "one row per object" in out
    path = comps / "airbus_ship_new" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    files = module.FILES
    assert (module.METRIC.name, files.metric, files.instances, files.union_rows) == ("f2_iou", "f2_iou", True, True)
    assert (files.image_path, files.test_image_path, files.empty) == ("train_v2/{}", "test_v2/{}", "")
    assert module.Config().fit_mask_cut is True  # the cut fitted out of fold to F2 (mask_cut.py, object_cut.py)
    d = module.load(module.Config(), data)
    y = d.y.reshape(len(d.info["train_ids"]), 64, 64)
    for i, key in enumerate(d.info["train_ids"]):  # each image's mask the union of its ships
        assert y[i].tolist() == (sum(ships[key], np.zeros((64, 64), np.uint8)) > 0).astype(np.uint8).tolist()
    assert module.score(d.y, d.y.astype(np.float32)) == 1.0


def test_dice_stays_the_metric_of_a_download_of_one_mask_per_image(tmp_path: Path) -> None:
    data, _ = airbus_download(tmp_path / "some-other-ships", n_train=8, n_test=2)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_ship_dice", "--data", str(data), "--into", str(comps)]) == 0
    module = load_competition(str(comps / "airbus_ship_dice"))
    assert (module.METRIC.name, module.FILES.instances) == ("dice", False)
    assert main(["new", "airbus_ship_named", "--data", str(data), "--into", str(comps), "--metric", "f2_iou"]) == 0
    assert load_competition(str(comps / "airbus_ship_named")).FILES.instances


def test_run_writes_one_row_per_predicted_ship_that_validates_and_predict_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = airbus_download(tmp_path / "airbus-ship-detection", n_train=32, n_test=6)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_ship_run", "--data", str(data), "--into", str(comps)]) == 0
    args = ["run", str(comps / "airbus_ship_run"), "--data", str(data), "--preset", "fast", "--quiet"]
    assert main([*args, "--folds", "2", "--set", "epochs=12"]) == 0
    (run_dir,) = (tmp_path / "runs" / "airbus_ship_run").glob("*")
    module = load_competition(str(comps / "airbus_ship_run"))
    loaded = module.load(module.Config(), data)
    summary = json.loads((run_dir / "summary.json").read_text())
    empty = module.score(loaded.y, np.zeros(loaded.y.shape, np.float32))  # the images without ships, right
    assert summary["cv"] > empty  # out of fold, on objects
    cut = json.loads((run_dir / "threshold.json").read_text())  # new writes fit_mask_cut on: the cut fitted to F2
    saved = json.loads((run_dir / "stages.json").read_text())["threshold"]
    assert cut["kind"] == saved["kind"] == "mask_cut" and saved["grid"] == list(module.FILES.grid)
    assert summary["cv"] == (cut["score_after"] if cut["applied"] else cut["score_before"])
    assert saved["thresholds"] == cut["cut"]["thresholds"] and saved["min_areas"] == cut["cut"]["min_areas"]
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission_v2.csv", dtype=str, keep_default_na=False)
    assert list(sub.columns) == ["ImageId", "EncodedPixels"]
    assert list(dict.fromkeys(sub["ImageId"])) == sample["ImageId"].tolist()
    cells = sub["EncodedPixels"]
    assert len(sub) > len(sample) and (cells != "").sum() > 0  # some image with several ships, one row each
    assert module.validate(loaded, run_dir / "submission.csv") == int((cells != "").sum())
    for _, rows in sub[cells != ""].groupby("ImageId"):
        masks = [decode(c, 64, 64, "column") for c in rows["EncodedPixels"]]
        assert (sum(masks) <= 1).all()  # apart: each row one ship
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out / "submission.csv", dtype=str, keep_default_na=False).equals(sub)


def test_validate_refuses_a_missing_image_and_overlapping_ships(tmp_path: Path) -> None:
    data, _ = airbus_download(tmp_path / "airbus-ship-detection", n_train=8, n_test=3)
    comps = tmp_path / "comps"
    assert main(["new", "airbus_ship_check", "--data", str(data), "--into", str(comps)]) == 0
    module = load_competition(str(comps / "airbus_ship_check"))
    loaded = module.load_test(module.Config(), data)
    a, b, c = loaded.test_ids
    ship = encode(box(2, 2, 6, 6, 64), "column")
    path = tmp_path / "sub.csv"
    path.write_text(f"ImageId,EncodedPixels\n{a},{ship}\n{a},{encode(box(40, 40, 5, 5, 64), 'column')}\n{b},\n{c},\n")
    assert module.validate(loaded, path) == 2
    path.write_text(f"ImageId,EncodedPixels\n{a},{ship}\n{b},\n")
    with pytest.raises(SubmissionError, match=f"1 images of the sample have no row, ImageId {c}"):
        module.validate(loaded, path)
    path.write_text(f"ImageId,EncodedPixels\n{a},{ship}\n{a},{encode(box(5, 5, 6, 6, 64), 'column')}\n{b},\n{c},\n")
    with pytest.raises(SubmissionError, match="line 3 .*overlaps another"):
        module.validate(loaded, path)
