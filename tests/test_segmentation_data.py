"""CsvMasks on generated downloads in Carvana's, TGS Salt's and Severstal's layouts (tests/mask_downloads.py): what
load reads (X, y at the grid), the score, the submission written and validated against the sample, and bad input
refused naming the file, the line and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mask_downloads import Masks, carvana_download, severstal_download, tgs_download

from pipeline.contract import ContractError
from pipeline.segmentation.csv_masks import CsvMasks
from pipeline.segmentation.grid import BUDGET_BYTES, grid_for, to_grid, upsample
from pipeline.segmentation.rle import decode, encode
from pipeline.submission import SubmissionError

SEVERSTAL = {"classes": ("1", "2", "3", "4"), "grid": (16, 64), "shape": (32, 128)}


def carvana(root: Path, **kw: object) -> tuple[CsvMasks, Path, Masks]:
    data, masks = carvana_download(root, **kw)  # type: ignore[arg-type]
    files = CsvMasks("train_masks.csv", "img", "train/{}", "test/{}", (20, 32), "row", "rle_mask", shape=(40, 64))
    return files, data, masks


def severstal(root: Path, old: bool = False) -> tuple[CsvMasks, Path, Masks]:
    data, masks = severstal_download(root, old=old)
    if old:
        files = CsvMasks("train.csv", "ImageId_ClassId", "train_images/{}", "test_images/{}", joined="_", **SEVERSTAL)
    else:
        files = CsvMasks(
            "train.csv",
            "ImageId",
            "train_images/{}",
            "test_images/{}",
            class_column="ClassId",
            sample_class_column="ClassId",
            unlisted=True,
            **SEVERSTAL,
        )
    return files, data, masks


class Cut:
    mask_threshold = 0.5
    min_area = 0


def test_grid_rule_and_nearest_sampling() -> None:
    assert grid_for(1280, 1918) == (171, 256) and grid_for(256, 1600) == (41, 256)
    assert grid_for(101, 101) == (101, 101) and grid_for(4000, 20) == (256, 8)
    mask = np.zeros((6, 9), np.uint8)
    mask[2:5, 3:9] = 1
    for order in ("row", "column"):
        assert np.array_equal(to_grid(encode(mask, order), 6, 9, order, (6, 9)), mask)
        assert np.array_equal(to_grid(encode(mask, order), 6, 9, order, (3, 3)), mask[1::2, 1::3])
    assert upsample(np.array([[0.0, 1.0]], np.float32), 1, 4).round(2).tolist() == [[0.0, 0.25, 0.75, 1.0]]


def test_carvana_load_reads_every_image_at_the_grid(tmp_path: Path) -> None:
    files, data, masks = carvana(tmp_path / "carvana")
    d = files.load(Cut(), data)
    assert d.X.shape == (32, 2) and d.y.shape == (32, 20 * 32) and d.y.dtype == np.uint8
    assert d.X_test.shape == (8, 1) and len(d.test_ids) == 8
    ids = list(d.info["train_ids"])
    assert ids == list(masks) and all(Path(p).name == k for p, k in zip(d.X[:, 0], ids, strict=True))
    for i, key in enumerate(ids):
        assert decode(d.X[i, 1], 40, 64, "row").tolist() == masks[key][0].tolist()  # the cell as written
        assert d.y[i].reshape(20, 32).tolist() == masks[key][0][1::2, 1::2].tolist()  # nearest at the grid


def test_severstal_reads_unlisted_images_and_missing_pairs_as_empty(tmp_path: Path) -> None:
    for old in (False, True):
        files, data, masks = severstal(tmp_path / f"severstal{old}", old)
        d = files.load(Cut(), data)
        ids = list(d.info["train_ids"])
        assert sorted(ids) == sorted(masks) and d.X.shape == (32, 5) and d.y.shape == (32, 4 * 16 * 64)
        y = d.y.reshape(32, 4, 16, 64)
        for i, key in enumerate(ids):
            for k in range(4):
                assert y[i, k].tolist() == masks[key][k][1::2, 1::2].tolist()
                assert (d.X[i, 1 + k] == "") == (not masks[key][k].any())
        listed = set(pd.read_csv(data / "train.csv").iloc[:, 0].str.rpartition("_")[0] if old else [])
        assert not old or listed == set(masks)  # the old layout lists every pair, the new only the masks
        assert d.info["images_without_masks"] == sum(not any(m.any() for m in ms) for ms in masks.values())


def test_score_perfect_empty_and_min_area(tmp_path: Path) -> None:
    files, data, _ = severstal(tmp_path / "sev")
    d = files.load(Cut(), data)
    assert files.score(d.y, d.y.astype(np.float32)) == 1.0
    empty_pairs = (d.y.reshape(32, 4, -1).sum(axis=2) == 0).mean()
    assert files.score(d.y, np.zeros(d.y.shape, np.float32)) == pytest.approx(empty_pairs)
    # a 2x2 false positive at the grid on every empty pair: 4 grid pixels are 16 of the original's
    pred = d.y.astype(np.float32).reshape(32, 4, 16, 64)
    empty = d.y.reshape(32, 4, -1).sum(axis=2) == 0
    pred[empty, :2, :2] = 0.9
    pred = pred.reshape(32, -1)
    assert files.score(d.y, pred) == pytest.approx(1 - empty_pairs)

    class Dropped(Cut):
        min_area = 17  # original pixels: 4.25 at the grid, the false positives' 4 under it

    assert files.score(d.y, pred, Dropped()) == 1.0
    assert set(files.class_scores(d.y, pred)) == {"1", "2", "3", "4"}


@pytest.mark.parametrize("layout", ["carvana", "tgs", "severstal", "severstal_old"])
def test_a_perfect_prediction_writes_the_truth_back(tmp_path: Path, layout: str) -> None:
    """The test images' own masks at the grid, written and validated: each cell decodes to the drawn mask, resized to
    the grid and back (exact at half the size: each grid pixel covers 2x2), in the sample's rows and columns."""
    if layout == "carvana":
        files, data, _ = carvana(tmp_path / layout, n_test=8)
        truth_dir, order = data / "test", "row"
    elif layout == "tgs":
        data, _ = tgs_download(tmp_path / layout)
        files = CsvMasks("train.csv", "id", "train/images/{}.png", "test/images/{}.png", (48, 48), "column", "rle_mask")
        truth_dir, order = data / "test" / "images", "column"
    else:
        files, data, _ = severstal(tmp_path / layout, old=layout.endswith("old"))
        truth_dir, order = data / "test_images", "column"
    d = files.load_test(Cut(), data)
    masks = _test_masks(truth_dir, d.test_ids, len(files.classes))
    k, (gh, gw) = len(files.classes), files.grid
    pred = np.stack([np.stack([to_grid(encode(m, order), *m.shape, order, files.grid) for m in ms]) for ms in masks])
    path = tmp_path / "submission.csv"
    files.write_submission(d, pred.reshape(len(masks), k * gh * gw).astype(np.float32), path)
    assert files.validate(d, path) == sum(m.any() for ms in masks for m in ms)
    sub = pd.read_csv(path, dtype=str, keep_default_na=False)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str, keep_default_na=False)
    rle = files.prediction_column or files.rle_column
    assert list(sub.columns) == list(sample.columns) and sub.drop(columns=rle).equals(sample.drop(columns=rle))
    for i, cell in enumerate(sub[rle]):
        image, klass = divmod(i, k)
        mask = masks[image][klass]
        if files.grid != mask.shape:  # at half the size: each grid pixel back on the 2x2 it covers
            mask = np.kron(mask[1::2, 1::2], np.ones((2, 2), np.uint8))
        assert decode(cell, *mask.shape, order).tolist() == mask.tolist()


def _test_masks(folder: Path, ids: np.ndarray, classes: int) -> list[list[np.ndarray]]:
    """The drawn masks of the generated test images, found again from the pixels: each class's own brightness."""
    from PIL import Image

    out = []
    for key in ids:
        name = str(key) if str(key).endswith(".png") else f"{key}.png"
        img = np.asarray(Image.open(folder / name)).astype(int)[..., 0]
        out.append([((img <= 255 - 40 * k) & (img > 235 - 40 * k)).astype(np.uint8) for k in range(classes)])
    return out


def _edit(path: Path, line: int, field: int, value: str) -> None:
    """Set one field of one line (1-based, the header line 1) of a CSV of no quoted cells."""
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[field] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_bad_training_csvs_are_refused_naming_file_line_and_column(tmp_path: Path) -> None:
    files, data, _ = severstal(tmp_path / "sev")
    csv = data / "train.csv"
    original = csv.read_text()
    cases = [
        (3, 2, "1 x", r"train.csv line 3, column EncodedPixels: run-length mask holds 'x'"),
        (4, 2, "3 7 1", r"train.csv line 4, column EncodedPixels: run-length mask has 3 numbers"),
        (2, 1, "7", r"train.csv line 2, column ClassId: class '7' is not one of the competition's classes"),
    ]
    for line, field, value, match in cases:
        csv.write_text(original)
        _edit(csv, line, field, value)
        with pytest.raises(ContractError, match=match):
            files.load(Cut(), data)
    csv.write_text(original)
    lines = original.splitlines()
    csv.write_text("\n".join([*lines, lines[3]]) + "\n")  # line 4's (image, class) again
    image, klass = lines[3].split(",")[:2]
    with pytest.raises(
        ContractError, match=rf"line {len(lines) + 1}: {image} class {klass} is listed twice \(first on line 4\)"
    ):
        files.load(Cut(), data)
    row = lines[1].split(",")
    csv.write_text("\n".join([lines[0], f"{row[0]},{row[1]},{32 * 128} 2", *lines[2:]]) + "\n")
    with pytest.raises(ContractError, match=r"train.csv line 2, column EncodedPixels: .*past the image's 4096 pixels"):
        files.load(Cut(), data)
    csv.write_text(original.replace(row[0], "nothere.png", 1))
    with pytest.raises(ContractError, match=r"train.csv line 2: image 'train_images/nothere.png' not found"):
        files.load(Cut(), data)


def test_validate_refuses_a_bad_cell_a_wrong_id_and_the_wrong_order(tmp_path: Path) -> None:
    for old in (False, True):
        files, data, _ = severstal(tmp_path / f"sev{old}", old)
        d = files.load_test(Cut(), data)
        path = tmp_path / "sub.csv"
        files.write_submission(d, np.full((len(d.test_ids), 4 * 16 * 64), 0.9, np.float32), path)
        assert files.validate(d, path) == 4 * len(d.test_ids)
        good = path.read_text().splitlines()
        key = "ImageId_ClassId" if old else "ImageId"
        bad = [good[0], good[1].replace(",1 ", ",x ", 1) if not old else good[1].replace(",1 ", ",0 ", 1), *good[2:]]
        path.write_text("\n".join(bad) + "\n")
        word = "1-based" if old else "'x'"
        with pytest.raises(SubmissionError, match=rf"sub.csv line 2 \({key} .*\), column EncodedPixels: .*{word}"):
            files.validate(d, path)
        path.write_text("\n".join([good[0], good[1].replace(".png", ".jpg", 1), *good[2:]]) + "\n")
        with pytest.raises(SubmissionError, match=r"of the sample submission are missing"):
            files.validate(d, path)
        path.write_text("\n".join([good[0], good[2], good[1], *good[3:]]) + "\n")
        with pytest.raises(SubmissionError, match=r"not in the sample submission's order"):
            files.validate(d, path)
        past = good[1].split(",")
        past[1] = f"{32 * 128} 2"
        path.write_text("\n".join([good[0], ",".join(past), *good[2:]]) + "\n")
        with pytest.raises(SubmissionError, match=r"line 2 .*past the image's 4096 pixels"):
            files.validate(d, path)


def test_the_grid_shrinks_to_hold_a_large_downloads_predictions_in_memory() -> None:
    # Carvana: 5,088 training and 100,064 test images of 1280x1918, one class: 171x256 would take 35 GB as float64
    gh, gw = grid_for(1280, 1918, values=105_152)
    assert 8 * 105_152 * gh * gw <= BUDGET_BYTES < 8 * 105_152 * (gh + 1) * (gw + 1)
    assert abs(gw / gh - 1918 / 1280) < 0.05  # the aspect kept
    assert grid_for(256, 1600, values=4 * 300) == grid_for(256, 1600)  # a small download keeps the full grid
