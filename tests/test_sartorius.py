"""Sartorius Cell Instance Segmentation's layout (tests/cell_downloads.py): one training row per cell, row-wise runs,
width and height columns beside them; a submission of one row per predicted cell, no two overlapping, scored by the
mean over IoU thresholds 0.5 to 0.95 of TP / (TP + FP + FN) per image, averaged (metric ap_iou,
pipeline/segmentation/instances.py); `new` turns `touching` on, as cells touch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cell_downloads import sartorius_download

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.segmentation.instances import image_score, mean_iou_score
from pipeline.segmentation.rle import decode, encode
from pipeline.submission import SubmissionError


def box(top: int, left: int, h: int, w: int, size: tuple[int, int] = (20, 20)) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[top : top + h, left : left + w] = True
    return mask


def test_ap_over_iou_thresholds_matches_a_hand_worked_example() -> None:
    # image A: two cells of 5x5 and three predictions: 18 pixels inside the first (IoU 18/25 = 0.72), 16 inside the
    # second (IoU 0.64), and one on no cell
    cell1, cell2 = box(1, 1, 5, 5), box(10, 10, 5, 5)
    found1 = box(1, 1, 5, 4)
    found1[1, 1] = found1[2, 1] = False
    found2 = box(10, 10, 5, 3)
    found2[10, 13] = True
    stray = box(16, 1, 2, 2)
    assert (found1.sum(), found2.sum()) == (18, 16)
    # t = 0.5, 0.55, 0.6: TP 2, FP 1, FN 0 -> 2/3; t = 0.65, 0.7: TP 1, FP 2, FN 1 -> 1/4; t >= 0.75: TP 0 -> 0
    a = image_score([cell1, cell2], [found1, found2, stray], "ap_iou")
    assert a == pytest.approx((3 * 2 / 3 + 2 * 1 / 4) / 10)  # 1/4
    # the same matches scored by F2 (Airbus): 5 TP / (5 TP + 4 FN + FP) -> 10/11 three times, 5/11 twice
    assert image_score([cell1, cell2], [found1, found2, stray], "f2_iou") == pytest.approx((30 / 11 + 10 / 11) / 10)
    # image B: no cell and none predicted scores 1 (DSB 2018's and Sartorius's pages leave 0/0 open; the module
    # docstring says why 1); cells on one side only score 0
    assert image_score([], [], "ap_iou") == 1.0
    assert image_score([], [stray], "ap_iou") == 0.0 == image_score([cell1], [], "ap_iou")
    # both images as masks at a 20x20 grid: the mean over the images
    truth = np.stack([(cell1 | cell2).ravel(), np.zeros(400)]).astype(np.uint8)
    pred = np.stack([(found1 | found2 | stray).ravel() * 0.9, np.full(400, 0.2)])
    assert mean_iou_score(truth, pred, (20, 20), metric="ap_iou") == pytest.approx((1 / 4 + 1) / 2)
    # min_area 5 drops the stray prediction: t <= 0.6: 2/2, t = 0.65, 0.7: 1/3 -> (3 + 2/3) / 10 on image A
    dropped = mean_iou_score(truth, pred, (20, 20), min_pixels=5, metric="ap_iou")
    assert dropped == pytest.approx(((3 + 2 / 3) / 10 + 1) / 2)


def _new(data: Path, comps: Path, name: str, *more: str) -> object:
    assert main(["new", name, "--data", str(data), "--into", str(comps), *more]) == 0
    return load_competition(str(comps / name))


def test_new_reads_a_sartorius_download_into_a_competition_of_touching_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, cells = sartorius_download(tmp_path / "sartorius-cell-instance-segmentation", n_train=9, n_test=2)
    module = _new(data, tmp_path / "comps", "sartorius_new")
    out = capsys.readouterr().out
    assert "metric ap_iou" in out and "no two overlapping" in out
    assert "sizes: train.csv's width and height agree with the images on" in out
    assert "columns left aside: train.csv's cell_type, plate_time, sample_date, sample_id, elapsed_timedelta" in out
    path = tmp_path / "comps" / "sartorius_new" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    files, cfg = module.FILES, module.Config()
    assert (module.METRIC.name, files.metric, files.instances, files.union_rows) == ("ap_iou", "ap_iou", True, True)
    assert (files.order, files.rle_column, files.prediction_column, files.grid) == (
        "row",
        "annotation",
        "predicted",
        (72, 96),
    )
    assert (files.image_path, files.test_image_path) == ("train/{}.png", "test/{}.png")
    assert cfg.touching is True and cfg.fit_mask_cut is True
    d = module.load(cfg, data)
    assert d.X.shape == (9, 3)  # the path, the union's cell, the contact map's cell
    y = d.y.reshape(9, 2, 72, 96)
    for i, key in enumerate(d.info["train_ids"]):  # the mask the union of the image's cells, read row-wise
        assert y[i, 0].tolist() == (sum(cells[key]) > 0).astype(np.uint8).tolist()
    assert y[:, 1].any()  # cells touch: contact pixels
    assert module.score(d.y, d.y.astype(np.float32), cfg=cfg) == 1.0
    union_only = np.concatenate([d.y[:, : 72 * 96], np.zeros_like(d.y[:, 72 * 96 :])], axis=1)
    assert module.score(d.y, union_only.astype(np.float32), cfg=cfg) < 0.5  # touching cells one object each


def test_ap_iou_is_named_by_the_folder_s_slug_or_by_metric(tmp_path: Path) -> None:
    data, _ = sartorius_download(tmp_path / "some-cells", n_train=6, n_test=2)
    comps = tmp_path / "comps"
    assert _new(data, comps, "sartorius_as_dice").METRIC.name == "dice"  # a folder Kaggle's slug does not name
    named = _new(data, comps, "sartorius_named", "--metric", "ap_iou")
    assert (named.METRIC.name, named.FILES.instances, named.Config().touching) == ("ap_iou", True, True)


def test_new_says_where_the_grid_shrinks_cells_below_the_contact_map_s_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, _ = sartorius_download(tmp_path / "sartorius-cell-instance-segmentation", 3, 1, size=(300, 400))
    assert _new(data, tmp_path / "comps", "sartorius_big").FILES.grid == (192, 256)
    out = capsys.readouterr().out
    assert "so at 192x256 a cell a few grid pixels across can lose its seed to it" in out
    assert "a larger FILES grid (the images' own 300x400, with --set tile=...)" in out


def test_a_width_that_is_not_the_image_s_is_refused_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, _ = sartorius_download(tmp_path / "sartorius-cell-instance-segmentation", n_train=6, n_test=2)
    frame = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[4, "width"] = "704"
    frame.to_csv(data / "train.csv", index=False)
    assert main(["new", "sartorius_sizes", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    key = frame.loc[4, "id"]
    assert f"train.csv line 6: width '704' and height '72', but image {key} is 96 wide" in capsys.readouterr().err


def test_validate_refuses_overlapping_cells_naming_the_image(tmp_path: Path) -> None:
    data, _ = sartorius_download(tmp_path / "sartorius-cell-instance-segmentation", n_train=6, n_test=3)
    module = _new(data, tmp_path / "comps", "sartorius_check")
    loaded = module.load_test(module.Config(), data)
    a, b, c = loaded.test_ids
    one, two = encode(box(2, 2, 6, 6, (72, 96)), "row"), encode(box(30, 40, 5, 5, (72, 96)), "row")
    path = tmp_path / "sub.csv"
    path.write_text(f"id,predicted\n{a},{one}\n{a},{two}\n{b},\n{c},{two}\n")
    assert module.validate(loaded, path) == 3
    path.write_text(f"id,predicted\n{a},{one}\n{b},\n{c},{two}\n{c},{encode(box(32, 42, 5, 5, (72, 96)), 'row')}\n")
    with pytest.raises(SubmissionError, match=f"line 5 \\(id {c}\\), column predicted: .*overlaps another"):
        module.validate(loaded, path)


def test_a_run_writes_one_row_per_predicted_cell_that_validates_and_predict_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = sartorius_download(tmp_path / "sartorius-cell-instance-segmentation", n_train=24, n_test=4)
    comps = tmp_path / "comps"
    module = _new(data, comps, "sartorius_run")
    args = ["run", str(comps / "sartorius_run"), "--data", str(data), "--preset", "fast", "--quiet"]
    assert main([*args, "--folds", "2", "--set", "epochs=10", "--set", "image_size=96"]) == 0
    (run_dir,) = (tmp_path / "runs" / "sartorius_run").glob("*")
    cfg = module.Config()
    loaded = module.load(cfg, data)
    oof = np.load(run_dir / "oof" / "_blend.npy")
    assert oof.shape == loaded.y.shape == (24, 2 * 72 * 96)  # the mask and the contact map (touching), out of fold
    summary = json.loads((run_dir / "summary.json").read_text())
    cut = json.loads((run_dir / "threshold.json").read_text())  # the cut fitted to ap_iou
    assert summary["cv"] == (cut["score_after"] if cut["applied"] else cut["score_before"])
    assert summary["cv"] > module.score(loaded.y, np.zeros(loaded.y.shape, np.float32), cfg=cfg) == 0.0
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str, keep_default_na=False)
    assert list(sub.columns) == ["id", "predicted"]
    assert list(dict.fromkeys(sub["id"])) == sample["id"].tolist()
    cells = sub["predicted"]
    assert len(sub) > len(sample) and module.validate(loaded, run_dir / "submission.csv") == int((cells != "").sum())
    for _, rows in sub[cells != ""].groupby("id"):
        masks = [decode(c, 72, 96, "row") for c in rows["predicted"]]
        assert (sum(masks) <= 1).all()  # apart: each row one cell
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
