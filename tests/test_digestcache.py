"""pipeline/digestcache.py: files' digests remembered across runs, used only while the file is unchanged."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pipeline import digestcache


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files read and hashed, in order."""
    names: list[str] = []
    digest = digestcache.file_digest
    monkeypatch.setattr(digestcache, "file_digest", lambda p: names.append(Path(p).name) or digest(p))
    return names


def images(folder: Path, count: int = 3) -> list[str]:
    """`count` small files of different bytes in `folder`: their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i}.png").write_bytes(f"picture {i}".encode() * (i + 1))
    return [str(folder / f"{i}.png") for i in range(count)]


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_second_call_on_unchanged_files_reads_their_digests_from_the_cache(tmp_path: Path, hashed: list[str]) -> None:
    paths = images(tmp_path / "data")
    first = digestcache.digests(paths, tmp_path / "data")
    assert first == [(os.path.getsize(p), sha256(p)) for p in paths]
    assert hashed == ["0.png", "1.png", "2.png"] and (tmp_path / "data" / digestcache.CACHE_FILE).is_file()
    hashed.clear()
    assert digestcache.digests([*reversed(paths), paths[0]], tmp_path / "data") == [*reversed(first), first[0]]
    assert hashed == []  # no file read again
    assert digestcache.digests(paths) == first and hashed == ["0.png", "1.png", "2.png"]  # no cache_dir: no cache


def test_a_changed_file_is_hashed_again_and_gets_its_new_digest(tmp_path: Path, hashed: list[str]) -> None:
    paths = images(tmp_path)
    digestcache.digests(paths, tmp_path)
    time.sleep(0.05)  # past the filesystem clock's tick: a rewrite in the same tick can keep every time stamp
    Path(paths[0]).write_bytes(b"a new, longer picture")  # new bytes, new size, new mtime
    before = os.stat(paths[1])
    Path(paths[1]).write_bytes(b"picture X" * 2)  # same size, new bytes
    os.utime(paths[1], ns=(before.st_atime_ns, before.st_mtime_ns))  # and its mtime set back, as `cp -p` does
    assert os.stat(paths[1]).st_size == before.st_size and os.stat(paths[1]).st_mtime_ns == before.st_mtime_ns
    hashed.clear()
    found = digestcache.digests(paths, tmp_path)
    assert hashed == ["0.png", "1.png"]  # 2.png is unchanged
    assert found == [(os.path.getsize(p), sha256(p)) for p in paths]
    hashed.clear()
    assert digestcache.digests(paths, tmp_path) == found and hashed == []  # the new digests are the ones remembered


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\x00 not JSON",
        b'{"format": 1, "algorithm": "sha256", "files": [1, 2]}',
        b'{"format": 1, "algorithm": "md5", "files": {}}',
        b"[]",
    ],
)
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path: Path, hashed: list[str], content: bytes) -> None:
    paths = images(tmp_path)
    (tmp_path / digestcache.CACHE_FILE).write_bytes(content)
    assert digestcache.digests(paths, tmp_path) == [(os.path.getsize(p), sha256(p)) for p in paths]
    assert len(hashed) == 3
    hashed.clear()
    digestcache.digests(paths, tmp_path)
    assert hashed == []  # written again, readable


def test_a_cached_entry_that_is_not_a_digest_is_hashed_again(tmp_path: Path, hashed: list[str]) -> None:
    import json

    paths = images(tmp_path, 2)
    digestcache.digests(paths, tmp_path)
    record = json.loads((tmp_path / digestcache.CACHE_FILE).read_text())
    record["files"][os.path.abspath(paths[0])][4] = "not a digest"
    del record["files"][os.path.abspath(paths[1])][4]
    (tmp_path / digestcache.CACHE_FILE).write_text(json.dumps(record))
    hashed.clear()
    assert digestcache.digests(paths, tmp_path) == [(os.path.getsize(p), sha256(p)) for p in paths]
    assert hashed == ["0.png", "1.png"]


def test_the_cache_keeps_the_files_used_last(
    tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digestcache, "MAX_FILES", 2)
    paths = images(tmp_path, 3)
    digestcache.digests(paths[:2], tmp_path)
    digestcache.digests(paths[2:], tmp_path)  # 2.png is the newest: 0.png goes
    hashed.clear()
    digestcache.digests(paths, tmp_path)
    assert hashed == ["0.png"]
