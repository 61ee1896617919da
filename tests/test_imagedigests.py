"""pipeline/imagedigests.py: files known by their bytes, whatever their names; only files of a known size are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import imagedigests


def test_same_bytes_are_found_under_any_name_and_only_files_of_a_known_size_are_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write(name: str, data: bytes) -> str:
        (tmp_path / name).write_bytes(data)
        return str(tmp_path / name)

    known = [write("a.jpg", b"picture a"), write("b.jpg", b"picture b"), write("c.jpg", b"a longer picture c")]
    saved = imagedigests.save_training_images(tmp_path / "run", known, tmp_path)
    assert imagedigests.saved_training_images(tmp_path / "run") == saved
    paths = [write("new.jpg", b"a new picture"), write("copy.jpg", b"picture b"), write("same.jpg", b"picture x")]
    hashed: list[str] = []
    digest = imagedigests.file_digest
    monkeypatch.setattr(imagedigests, "file_digest", lambda p: hashed.append(Path(p).name) or digest(p))
    said = imagedigests.run_copies(saved, paths, tmp_path)
    assert said.startswith("1 test image(s) are training images, byte for byte: test row 2 'copy.jpg' is training ")
    assert "row 1 'b.jpg'" in said and "same.jpg" not in said  # same.jpg is only as long as a and b
    assert hashed == ["copy.jpg", "same.jpg"]  # new.jpg: no training file of its size, so never read
