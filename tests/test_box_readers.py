"""Several readers' boxes of one image (VinBigData's three radiologists, `rad_id`) fused per class by `new`'s
generated competition: on a generated download where each finding is drawn by three readers, a little apart, the
fused targets hold one box per finding of the generating truth, a run trains and scores its CV against them, and
`fuse_readers=0` is the run on every reader's box as given."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from box_downloads import COLOURS, vinbig_readers_download, wheat_download

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.detection.boxes import unpack
from pipeline.detection.readers import fuse_readers

# the images' own 64 px, no TTA, 6 epochs, as tests/test_new_box_classes.py runs its detector of classes
TINY = ("--preset", "fast", "--set", "image_size=64", "--set", "tta=false", "--set", "epochs=6")
CORNERS = ["x_min", "y_min", "x_max", "y_max"]


def _corners(boxes: np.ndarray) -> np.ndarray:
    return np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])


def test_new_fuses_each_findings_readers_into_one_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data, truth = vinbig_readers_download(tmp_path / "vinbig")
    args = ["new", "vin_readers", "--data", str(data), "--into", str(tmp_path / "comps"), "--metric", "voc_map40"]
    assert main(args) == 0
    out = capsys.readouterr().out
    findings = sum(len(f) for f in truth.values())
    assert (
        "readers: 3 in train.csv's rad_id (R0, R1, R2), up to 3 on one image; each image's boxes of one class fused "
        f"by weighted boxes fusion at IoU 0.5 before training and scoring (Config.fuse_readers; 0: every reader's box "
        f"as given): {3 * findings} boxes -> {findings}\n"
    ) in out
    assert "left aside" not in out  # rad_id is read
    path = tmp_path / "comps" / "vin_readers" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    assert module.FILES.reader_column == "rad_id" and module.Config().fuse_readers == 0.5
    fused = module.load(module.Config(), data)
    assert (fused.info["boxes"], fused.info["readers_boxes"]) == (findings, 3 * findings)
    for key, row in zip(fused.info["train_ids"], fused.y, strict=True):
        boxes, _, classes = unpack(row)
        want = sorted((COLOURS[name][1], x, y, x + w, y + h) for name, (x, y, w, h) in truth[key])
        got = sorted(zip(classes.tolist(), *_corners(boxes).T.tolist(), strict=True))
        assert [g[0] for g in got] == [w[0] for w in want], key  # one box per finding, of its class
        # each corner the mean of three readers' corners, each within 1 px of the truth
        assert np.abs(np.array([g[1:] for g in got]) - np.array([w[1:] for w in want])).max(initial=0) <= 1, key
    # off: every reader's box as the CSV gives it, three a finding
    raw = module.load(dataclasses.replace(module.Config(), fuse_readers=0), data)
    assert raw.info["boxes"] == 3 * findings and "readers_boxes" not in raw.info
    for key, row in zip(raw.info["train_ids"], raw.y, strict=True):
        assert len(unpack(row)[0]) == 3 * len(truth[key])
    with pytest.raises(ContractError, match=r"Config.fuse_readers 1.5: the IoU above 0 and below 1"):
        module.load(dataclasses.replace(module.Config(), fuse_readers=1.5), data)


def test_fusion_keeps_classes_apart_and_a_lone_box_as_it_is() -> None:
    boxes = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [10, 11, 20, 20], [40, 40, 10, 10.5]], float)
    # the first two of class 0 by two readers, the third of class 1 over them, the fourth alone
    out, classes = fuse_readers(boxes, np.array([0, 0, 1, 0]), ["A", "B", "A", "B"], 0.5, (64, 64))
    assert classes.tolist() == [0, 0, 1]
    assert out.tolist() == [[11, 10, 20, 20], [40, 40, 10, 10.5], [10, 11, 20, 20]]
    # below the IoU nothing fuses: [10, 10, 20, 20] and [22, 10, 20, 20] overlap at IoU 0.25
    out, _ = fuse_readers(boxes[[0, 1]] + [[0, 0, 0, 0], [10, 0, 0, 0]], np.array([0, 0]), ["A", "B"], 0.5)
    assert len(out) == 2


def _run(comp: Path, data: Path, runs: Path, *extra: str) -> tuple[float, np.ndarray, np.ndarray, Path]:
    """One run of the competition: its CV, which training images it scored, their out-of-fold boxes, its folder."""
    before = set(runs.glob("*"))
    assert main(["run", str(comp), "--data", str(data), *TINY, *extra, "--seed", "0", "--quiet"]) == 0
    (run_dir,) = set(runs.glob("*")) - before
    scored = np.load(run_dir / "folds.npy") >= 0
    cv = json.loads((run_dir / "summary.json").read_text())["cv"]
    return cv, scored, np.load(run_dir / "oof" / "_blend.npy")[scored], run_dir


def test_a_run_learns_and_scores_the_fused_boxes_and_fuse_readers_0_the_readers_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = vinbig_readers_download(tmp_path / "vinbig", n_train=36, n_test=6, seed=6)
    comp = tmp_path / "comps" / "vin_readers_run"
    assert main(["new", comp.name, "--data", str(data), "--into", str(comp.parent)]) == 0
    module = load_competition(str(comp))
    runs = tmp_path / "runs" / comp.name
    y_fused = module.load(module.Config(), data).y
    y_raw = module.load(dataclasses.replace(module.Config(), fuse_readers=0), data).y
    cv, scored, oof, run_dir = _run(comp, data, runs)
    # the CV's truth is the fused boxes: one box a finding, not three
    assert cv == pytest.approx(module.score(y_fused[scored], oof))
    assert cv != pytest.approx(module.score(y_raw[scored], oof))
    assert module.validate(module.load_test(module.Config(), data), run_dir / "submission.csv") > 0
    # the same run with fuse_readers=0 learns and scores every reader's box: other targets, other boxes, other truth
    cv_off, scored_off, oof_off, _ = _run(comp, data, runs, "--set", "fuse_readers=0")
    assert (scored_off == scored).all()
    assert cv_off == pytest.approx(module.score(y_raw[scored], oof_off))
    assert not np.array_equal(np.nan_to_num(oof_off), np.nan_to_num(oof))


def test_one_class_with_two_annotators_is_fused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = wheat_download(tmp_path / "wheat", n_train=24, n_test=4)
    labels = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    moved = labels.copy()  # a second annotator's box of each, 1 px right and 1 px shorter
    moved["bbox"] = [f"[{x + 1}, {y}, {w}, {h - 1}]" for x, y, w, h in (json.loads(b) for b in labels["bbox"])]
    both = pd.concat([labels.assign(radiologist_id="A"), moved.assign(radiologist_id="B")]).sort_index(kind="stable")
    both.to_csv(data / "train.csv", index=False)
    assert main(["new", "wheat_readers", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    path = tmp_path / "comps" / "wheat_readers" / "__init__.py"
    # the project's 120 columns, with the longest reader column's name
    assert max(len(line) for line in path.read_text().splitlines()) <= 120
    module = load_competition(str(path.parent))
    assert module.FILES.reader_column == "radiologist_id"
    fused = module.load(module.Config(), data)
    assert (fused.info["boxes"], fused.info["readers_boxes"]) == (len(labels), 2 * len(labels))
    for key, row in zip(fused.info["train_ids"], fused.y, strict=True):
        want = sorted(tuple(json.loads(b)) for b in labels.loc[labels["image_id"] == key, "bbox"])
        got = sorted(tuple(b) for b in unpack(row)[0].tolist())
        assert got == [(x + 0.5, y, w, h - 0.5) for x, y, w, h in want]  # the two annotators' mean
