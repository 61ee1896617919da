"""A segmentation download from `new` to a validated submission: `new`, then `run --preset fast` (a tiny U-Net from
random init), scored out of fold by mean Dice, its submission in the sample's rows, and `predict` of the saved fold
models writing the same file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mask_downloads import carvana_download, severstal_download, siim_download

from pipeline.cli import main
from pipeline.contract import load_competition


def final_oof(run_dir: Path) -> np.ndarray:
    """The run's out-of-fold predictions as its CV scores them: after the mask cut fitted out of fold where it was
    applied (fit_mask_cut, on in new's file), else the blend's."""
    cut = run_dir / "oof" / "_threshold.npy"
    return np.load(cut if cut.is_file() else run_dir / "oof" / "_blend.npy")


def new_and_run(tmp_path: Path, name: str, data: Path, *extra: str) -> tuple[object, Path]:
    """`new` then `run --preset fast` of the download; the competition's module and the run folder."""
    comps = tmp_path / "comps"
    assert main(["new", name, "--data", str(data), "--into", str(comps)]) == 0
    assert main(["run", str(comps / name), "--data", str(data), "--preset", "fast", "--quiet", *extra]) == 0
    (run_dir,) = (tmp_path / "runs" / name).glob("*")
    return load_competition(str(comps / name)), run_dir


def test_a_carvana_download_learns_its_masks_and_predict_writes_the_same_submission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = carvana_download(tmp_path / "carvana", n_train=48, n_test=8)
    module, run_dir = new_and_run(tmp_path, "seg_run_carvana", data, "--folds", "3")
    assert module.FILES.order == "row"  # Carvana numbers its pixels along rows: told from the images
    loaded = module.load(module.Config(), data)
    summary = json.loads((run_dir / "summary.json").read_text())
    scored = np.load(run_dir / "folds.npy") >= 0
    assert scored.all()  # three folds: every image predicted out of fold
    oof = final_oof(run_dir)
    assert summary["cv"] == pytest.approx(module.score(loaded.y, oof))  # the CV is the OOF predictions' Dice
    empty = module.score(loaded.y, np.zeros(loaded.y.shape, np.float32))
    assert empty == 0.0 and summary["cv"] > 0.8  # every car has a mask: predicting none scores 0
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == list(sample.columns) and sub["img"].tolist() == sample["img"].tolist()
    assert module.validate(loaded, run_dir / "submission.csv") == int((sub["rle_mask"] != "").sum()) > 0
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out / "submission.csv", dtype=str, keep_default_na=False).equals(sub)


def test_a_severstal_download_writes_a_row_per_image_and_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, masks = severstal_download(tmp_path / "severstal")
    module, run_dir = new_and_run(tmp_path, "seg_run_severstal", data)
    loaded = module.load(module.Config(), data)
    assert loaded.y.shape == (len(masks), 4 * 32 * 128)  # four classes at the grid, the 32x128 images' own size
    summary = json.loads((run_dir / "summary.json").read_text())
    scored = np.load(run_dir / "folds.npy") >= 0
    oof = final_oof(run_dir)
    assert summary["cv"] == pytest.approx(module.score(loaded.y[scored], oof[scored]))
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    key = ["ImageId", "ClassId"]
    assert list(sub.columns) == list(sample.columns) and sub[key].equals(sample[key])
    assert module.validate(loaded, run_dir / "submission.csv") == int((sub["EncodedPixels"] != "").sum())


def test_a_siim_download_writes_one_relative_mask_or_minus_one_per_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.segmentation.rle import decode

    monkeypatch.chdir(tmp_path)
    data, _ = siim_download(tmp_path / "siim-acr-pneumothorax-segmentation", n_train=40, n_test=8)
    module, run_dir = new_and_run(tmp_path, "seg_run_siim", data)
    loaded = module.load(module.Config(), data)
    summary = json.loads((run_dir / "summary.json").read_text())
    empty = module.score(loaded.y, np.zeros(loaded.y.shape, np.float32))  # the images with no mask, right
    assert 0.3 < empty < 0.8 and summary["cv"] > empty + 0.1  # out of fold
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "stage_2_sample_submission.csv", dtype=str, keep_default_na=False)
    assert list(sub.columns) == ["ImageId", "EncodedPixels"] and sub["ImageId"].tolist() == sample["ImageId"].tolist()
    cells = sub["EncodedPixels"]
    assert "" not in set(cells) and 0 < int((cells != "-1").sum()) < len(cells)  # "-1" for an empty mask
    assert module.validate(loaded, run_dir / "submission.csv") == int((cells != "-1").sum())
    assert all(decode(c, 64, 64, "column", "relative").any() for c in cells if c != "-1")
