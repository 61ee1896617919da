"""Bad archives never cost a good data folder; damage is named with the command that repairs it."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import cli, refused, snapshot

from pipeline.archives import MARKER, extract_competition_zip, extract_inner
from pipeline.datadir import DataError

SLUG = "house-prices-advanced-regression-techniques"


def kaggle_zip(work, path: Path, drop: str | None = None, replace: dict[str, bytes] | None = None) -> Path:
    """House Prices' sample files zipped the way Kaggle ships them, optionally without or with a changed member."""
    folder = work("house_prices")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in ("train.csv", "test.csv", "sample_submission.csv", "data_description.txt"):
            if f != drop and (folder / f).exists():
                zf.writestr(f, (replace or {}).get(f, (folder / f).read_bytes()))
    return path


@pytest.fixture
def good(work, tmp_path, capsys) -> Path:
    """data/<slug>/ extracted from a complete zip (through the CLI) and a valid submission to check with it."""
    import pandas as pd

    archive = kaggle_zip(work, tmp_path / "good.zip")
    sub = tmp_path / "sub.csv"
    frame = pd.read_csv(work("house_prices") / "sample_submission.csv")
    frame.assign(SalePrice=1.0).to_csv(sub, index=False)
    r = cli(capsys, "validate", "competitions/house_prices", sub, "--data", archive)
    assert r.code == 0, r.err
    return tmp_path / "data" / SLUG


def corrupt_member(path: Path) -> None:
    """Flip bytes inside the first member's compressed data (the CRC no longer matches)."""
    data = bytearray(path.read_bytes())
    for i in range(200, 260):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def bad_zip(work, tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.zip"
    if case == "missing-test":
        return kaggle_zip(work, path, drop="test.csv")
    if case == "corrupt-member":
        corrupt_member(kaggle_zip(work, path))
    elif case == "truncated":
        full = kaggle_zip(work, path).read_bytes()
        path.write_bytes(full[: len(full) // 2])
    elif case == "html":
        path.write_text("<!DOCTYPE html><html><body>Please log in</body></html>")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "unparsable-csv":
        kaggle_zip(work, path, replace={"train.csv": b'Id,SalePrice\n1,"unclosed\n2,3\n'})
    elif case == "zip-slip":
        kaggle_zip(work, path)
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("../evil.csv", "x")
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-test", "the zip has no test.csv"),
        ("corrupt-member", "is corrupt"),
        ("truncated", "the download was cut short:"),
        ("html", "an HTML page"),
        ("empty", "an empty file (0 bytes)"),
        ("unparsable-csv", "train.csv does not parse as CSV"),
        ("zip-slip", "would land outside the data folder"),
    ],
)
def test_bad_zip_leaves_the_good_folder_byte_for_byte(work, tmp_path, capsys, good: Path, case: str, message) -> None:
    before = snapshot(good)
    archive = bad_zip(work, tmp_path, case)
    refused(capsys, "validate", "competitions/house_prices", tmp_path / "sub.csv", "--data", archive, says=message)
    assert snapshot(good) == before
    assert sorted(p.name for p in good.parent.iterdir()) == [SLUG, "sample"]  # no .partial or .old debris
    assert not (tmp_path / "evil.csv").exists()


def test_truncated_zip_says_how_many_bytes_arrived(work, tmp_path) -> None:
    full = kaggle_zip(work, tmp_path / "full.zip").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(full[:3000])
    with pytest.raises(DataError, match=r"the download was cut short: 3,000 of at least [\d,]+ bytes; download it"):
        extract_competition_zip(cut, tmp_path / "out" / "x")
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_inner_archive_leaves_no_debris(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    folder = tmp_path / "cifar"
    (folder / "src" / "test").mkdir(parents=True)
    for i in range(50):
        (folder / "src" / "test" / f"{i}.txt").write_text(f"{i}" * 500)
    with py7zr.SevenZipFile(folder / "test.7z", "w") as z:
        z.writeall(folder / "src" / "test", arcname="test")
    shutil.rmtree(folder / "src")
    data = (folder / "test.7z").read_bytes()
    (folder / "test.7z").write_bytes(data[: len(data) // 2])
    before = snapshot(folder)
    with pytest.raises(DataError, match="test.7z"):
        extract_inner(folder)
    assert snapshot(folder) == before and [p.name for p in folder.iterdir()] == ["test.7z"]


def test_stamp_records_sha256_and_files(work, tmp_path, good: Path) -> None:
    import hashlib

    stamp = json.loads((good / MARKER).read_text())
    assert stamp["sha256"] == hashlib.sha256((tmp_path / "good.zip").read_bytes()).hexdigest()
    assert stamp["files"]["train.csv"][0] == (good / "train.csv").stat().st_size
    assert set(stamp["files"]) == {"train.csv", "test.csv", "sample_submission.csv", "data_description.txt"} & set(
        p.name for p in good.iterdir()
    )


@pytest.mark.parametrize("damage", ["deleted", "changed"])
def test_damaged_folder_is_named_with_the_repair_command(tmp_path, capsys, good: Path, damage: str) -> None:
    if damage == "deleted":
        (good / "test.csv").unlink()
    else:
        (good / "test.csv").write_text("Id\n1\n")
    r = refused(
        capsys,
        "validate",
        "competitions/house_prices",
        tmp_path / "sub.csv",
        says=("test.csv", "python -m pipeline download competitions/house_prices --force"),
    )
    assert ("missing" if damage == "deleted" else "changed") in r.err


def test_rerun_with_the_zip_repairs_a_damaged_folder(tmp_path, capsys, good: Path) -> None:
    original = (good / "test.csv").read_bytes()
    (good / "test.csv").write_text("Id\n1\n")
    r = cli(capsys, "validate", "competitions/house_prices", tmp_path / "sub.csv", "--data", tmp_path / "good.zip")
    assert r.code == 0, r.err
    assert (good / "test.csv").read_bytes() == original
    assert sorted(p.name for p in good.parent.iterdir()) == [SLUG, "sample"]


def test_force_reextracts_through_the_safe_swap(tmp_path, good: Path) -> None:
    inode = (good / "train.csv").stat().st_ino
    extract_competition_zip(tmp_path / "good.zip", good)  # intact and same zip: nothing to do
    assert (good / "train.csv").stat().st_ino == inode
    extract_competition_zip(tmp_path / "good.zip", good, force=True)
    assert (good / "train.csv").stat().st_ino != inode
    assert sorted(p.name for p in good.parent.iterdir()) == [SLUG, "sample"]


def test_stale_partial_of_a_killed_extraction_is_cleaned(work, tmp_path) -> None:
    dest = tmp_path / "data" / "hp"
    stale = tmp_path / "data" / ".hp.abc123.partial"
    stale.mkdir(parents=True)
    (stale / "train.csv").write_text("half")
    extract_competition_zip(kaggle_zip(work, tmp_path / "k.zip"), dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["hp", "sample"]
