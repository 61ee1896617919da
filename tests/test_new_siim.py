"""`python -m pipeline new` on SIIM-ACR Pneumothorax's layout (tests/mask_downloads.py siim_download): relative
run-length masks, one row per region of an image (their union its mask), the training CSV's " EncodedPixels" with its
leading space, DICOM files nested in folders of their own, and a sample of "-1"; the encoding told from the cells or
named with --rle, and a repeated image refused where the competition does not union its rows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import new_refuses
from mask_downloads import siim_download, tgs_download

from pipeline.cli import main
from pipeline.commands.new import RLE_ENCODINGS
from pipeline.contract import ContractError, load_competition
from pipeline.segmentation.rle import ENCODINGS


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def test_the_rle_flags_choices_are_the_encodings() -> None:
    assert RLE_ENCODINGS == ENCODINGS


def test_new_reads_a_siim_download_into_a_competition_of_unioned_relative_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, masks = siim_download(tmp_path / "siim-acr-pneumothorax-segmentation")
    assert new(tmp_path, "masks_siim_new", data) == 0
    out = capsys.readouterr().out
    assert "run-length encoding: relative (each start the gap after the run before)" in out
    assert "each image's mask is the union of its rows" in out
    path = tmp_path / "comps" / "masks_siim_new" / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    files = load_competition(str(path.parent)).FILES
    assert (files.image_path, files.test_image_path) == ("dicom-images-train/**/{}.dcm", "dicom-images-test/**/{}.dcm")
    assert (files.encoding, files.union_rows, files.order, files.empty) == ("relative", True, "column", "-1")
    assert (files.rle_column, files.prediction_column) == (" EncodedPixels", "EncodedPixels")
    module = load_competition(str(path.parent))
    d = module.load(module.Config(), data)
    ids = list(d.info["train_ids"])
    assert sorted(ids) == sorted(masks) and all(p.endswith(".dcm") for p in d.X[:, 0])
    y = d.y.reshape(len(ids), 64, 64)
    assert all(y[i].tolist() == masks[key].tolist() for i, key in enumerate(ids))  # each the union of its regions
    listed = [line.split(",")[0] for line in (data / "train-rle.csv").read_text().splitlines()[1:]]
    assert len(listed) > len(set(listed)) and d.info["images_without_masks"] > 5  # some images on several rows


def test_masks_of_one_run_each_are_refused_unless_rle_names_the_encoding(tmp_path: Path) -> None:
    data, _ = siim_download(tmp_path / "siim-single-runs", n_train=12, n_test=2)
    csv = data / "train-rle.csv"
    lines = csv.read_text().splitlines()
    rows = [lines[0]] + [f"{line.split(',')[0]}, {5 + 64 * i} 9" for i, line in enumerate(lines[1:])]
    csv.write_text("\n".join(rows) + "\n")  # every mask one run: both encodings read it
    new_refuses(tmp_path, "masks_siim_one_run", data, r"cannot tell whether its runs' starts .* --rle relative")
    assert new(tmp_path, "masks_siim_one_run", data, "--rle", "relative") == 0
    files = load_competition(str(tmp_path / "comps" / "masks_siim_one_run")).FILES
    assert files.encoding == "relative"


def test_an_image_listed_twice_is_refused_where_the_competition_does_not_union_its_rows(tmp_path: Path) -> None:
    data, _ = tgs_download(tmp_path / "tgs-twice", n_train=12, n_test=2)
    assert new(tmp_path, "masks_siim_tgs_once", data) == 0  # one row per image: no union_rows
    module = load_competition(str(tmp_path / "comps" / "masks_siim_tgs_once"))
    assert not module.FILES.union_rows
    csv = data / "train.csv"
    lines = csv.read_text().splitlines()
    key = next(line.split(",")[0] for line in lines[1:] if line.split(",")[1])
    csv.write_text("\n".join([*lines, f"{key},1 3"]) + "\n")  # a second row of one image: appended, or another mask
    with pytest.raises(ContractError, match=rf"train.csv line {len(lines) + 1}: {key} is listed twice .*union_rows"):
        module.load(module.Config(), data)
    assert new(tmp_path, "masks_siim_tgs_twice", data) == 0  # rows named by image alone: `new` unions them
    twice = load_competition(str(tmp_path / "comps" / "masks_siim_tgs_twice"))
    d = twice.load(twice.Config(), data)
    row = list(d.info["train_ids"]).index(key)
    assert d.y.reshape(len(d.y), 48, 48)[row][:3, 0].tolist() == [1, 1, 1]  # "1 3" joins the image's own mask


def test_two_files_of_one_name_under_a_deep_folder_are_refused_naming_both(tmp_path: Path) -> None:
    data, _ = siim_download(tmp_path / "siim-twins", n_train=12, n_test=2)
    assert new(tmp_path, "masks_siim_twins", data) == 0
    module = load_competition(str(tmp_path / "comps" / "masks_siim_twins"))
    first = sorted((data / "dicom-images-train").rglob("*.dcm"))[0]
    (data / "dicom-images-train" / "copy").mkdir()
    shutil.copy(first, data / "dicom-images-train" / "copy" / first.name)
    with pytest.raises(ContractError, match=rf"2 files named {first.name} under it .*copy/{first.name}"):
        module.load(module.Config(), data)
