"""pipeline/imagedigests.py: files known by their bytes, whatever their names; only files of a known size are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import digestcache, imagedigests


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
    digest = digestcache.file_digest
    monkeypatch.setattr(digestcache, "file_digest", lambda p: hashed.append(Path(p).name) or digest(p))
    said = imagedigests.run_copies(saved, paths, tmp_path)
    assert said.startswith("1 test image(s) are training images, byte for byte: test row 2 'copy.jpg' is training ")
    assert "row 1 'b.jpg'" in said and "same.jpg" not in said  # same.jpg is only as long as a and b
    assert hashed == ["copy.jpg", "same.jpg"]  # new.jpg: no training file of its size, so never read


def test_a_second_run_and_predict_read_no_unchanged_image_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: every run hashed every training image (3.2 s for CIFAR-10's 50,000), and the run and predict every
    # test image of a training image's size; now their digests are remembered in the data folder's cache
    import hashlib
    import shutil
    import time

    from competitions.cifar10.sample import write_sample
    from pipeline.contract import load_competition
    from pipeline.prediction import _check_training_images
    from pipeline.runner import _save_training_images

    monkeypatch.chdir(tmp_path)
    hashed: list[str] = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, algorithm: hashed.append(f.name) or real(f, algorithm))
    folder = tmp_path / "cifar"
    write_sample(folder, n_train=12, n_test=4)
    shutil.copy(folder / "train" / "5.png", folder / "test" / "3.png")  # a training image in the test set
    module = load_competition("competitions/cifar10")
    data = module.load(module.Config(), folder)
    warned = _save_training_images(module, tmp_path / "run1", data, folder)
    assert "'test/3.png' is training row 4 'train/5.png'" in warned
    assert set(hashed) >= {str(folder / "train" / f"{i}.png") for i in range(1, 13)} | {str(folder / "test/3.png")}
    hashed.clear()
    assert _save_training_images(module, tmp_path / "run2", data, folder) == warned
    assert hashed == []  # the second run read no image
    saved = [(tmp_path / run / "train_images.json").read_text() for run in ("run1", "run2")]
    assert saved[0] == saved[1]

    warnings: list[str] = []
    log = type("Log", (), {"warn": staticmethod(warnings.append)})()
    test = module.load_test(module.Config(), folder)
    _check_training_images(module, tmp_path / "run1", test, folder, log)
    assert hashed == [] and "'test/3.png' is training image 'train/5.png'" in warnings[0]  # predict: none read either
    time.sleep(0.05)  # past the filesystem clock's tick: a rewrite within it could keep every time stamp
    shutil.copy(folder / "train" / "6.png", folder / "test" / "3.png")  # now another training image
    warnings.clear()
    _check_training_images(module, tmp_path / "run1", test, folder, log)
    assert hashed == [str(folder / "test" / "3.png")]  # the changed file alone is read, and its new bytes found
    assert "'test/3.png' is training image 'train/6.png'" in warnings[0]
