"""Competition zips: extracted once and atomically; unsafe members refused; truncated archives reported."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pipeline.datadir import DataError, extract_competition_zip


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extracts_once(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"train.csv": b"a,b\n1,2\n", "test.csv": b"a\n1\n"})
    dest = tmp_path / "data" / "c"
    extract_competition_zip(archive, dest)
    assert (dest / "train.csv").read_bytes() == b"a,b\n1,2\n"
    inode = (dest / "train.csv").stat().st_ino
    extract_competition_zip(archive, dest)  # complete and intact: not extracted again
    assert (dest / "train.csv").stat().st_ino == inode
    (dest / "train.csv").write_text("edited")
    extract_competition_zip(archive, dest)  # damaged since: extracted again from the same zip
    assert (dest / "train.csv").read_bytes() == b"a,b\n1,2\n"


@pytest.mark.parametrize("name", ["../evil.csv", "/abs/evil.csv", "sub/../../evil.csv"])
def test_member_outside_folder_is_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "c.zip", {"train.csv": b"x", name: b"evil"})
    dest = tmp_path / "data" / "c"
    with pytest.raises(DataError, match="would land outside the data folder"):
        extract_competition_zip(archive, dest)
    assert not dest.exists() and not (tmp_path / "evil.csv").exists() and not (tmp_path / "data" / "evil.csv").exists()


def test_truncated_zip_is_reported_and_nothing_half_extracted(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"train.csv": b"1,2\n" * 50000, "test.csv": b"3\n" * 50000})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "data" / "c"
    with pytest.raises(DataError, match="truncated|corrupt"):
        extract_competition_zip(archive, dest)
    assert not dest.exists()
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "data").iterdir())
