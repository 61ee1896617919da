"""Read-only data folders (Kaggle's /kaggle/input): never written to; archives inside go to a cache, once.

The guard makes every write below a folder fail, as on Kaggle's read-only mount (chmod alone does not stop root):
a Python audit hook refuses opening a file there for writing, creating, renaming, removing or linking anything.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from competitions.cifar10.sample import write_sample
from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.datadir import DataError, resolve_data

_guarded: list[Path] = []
_WRITES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.chmod", "os.utime"}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _guarded:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        paths = [path] if writing else []
    elif event in _WRITES:
        written = args[1:2] if event in ("os.symlink", "os.link") else args[:2]  # a link's target is only read
        paths = [a for a in written if isinstance(a, str | bytes | os.PathLike)]
    else:
        return
    for p in paths:
        if isinstance(p, int):
            continue
        target = Path(os.fsdecode(p)).absolute()
        if any(g == target or g in target.parents for g in _guarded):
            raise PermissionError(13, "Read-only file system", str(target))


sys.addaudithook(_audit)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry below `folder` (hidden ones too) with its size and mtime, and the folders' own mtimes."""
    out = {".": (0, folder.stat().st_mtime_ns)}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


@pytest.fixture
def read_only() -> Iterator[Any]:
    """read_only(folder): from now on every write below `folder` fails (and it is chmod a-w)."""

    def guard(folder: Path) -> Path:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        _guarded.append(folder.absolute())
        return folder

    yield guard
    folders = list(_guarded)
    _guarded.clear()
    for folder in folders:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


def cifar_download(dest: Path) -> Path:
    """CIFAR-10's competition folder as Kaggle mounts it: train.7z, test.7z and the CSVs, nothing extracted."""
    write_sample(dest, n_train=40, n_test=10)
    for extra in ("train", "test"):
        shutil.rmtree(dest / extra)
    for marker in dest.glob(".*"):
        marker.unlink()
    return dest


def test_guard_really_refuses_writes(tmp_path: Path, read_only: Any) -> None:
    folder = read_only(cifar_download(tmp_path / "in"))
    with pytest.raises(PermissionError):
        (folder / "x.txt").write_text("x")
    with pytest.raises(PermissionError):
        (folder / "sub").mkdir()


def test_cifar_archives_in_a_read_only_folder_go_to_the_cache_once(
    tmp_path: Path, read_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = read_only(cifar_download(tmp_path / "input" / "cifar-10"))
    before = snapshot(source)
    module = load_competition("competitions/cifar10")
    folder, is_sample = resolve_data(module, source, use_sample=False)
    assert not is_sample and folder == tmp_path / "data" / "cifar-10"
    assert len(list((folder / "train").glob("*.png"))) == 40 and len(list((folder / "test").glob("*.png"))) == 10
    assert (folder / "trainLabels.csv").read_bytes() == (source / "trainLabels.csv").read_bytes()
    data = module.load(module.Config(), folder)
    assert len(data.X) == 40 and len(data.X_test) == 10
    inode = (folder / "train" / "1.png").stat().st_ino
    assert resolve_data(module, source, use_sample=False)[0] == folder  # keyed by the source: not extracted again
    assert (folder / "train" / "1.png").stat().st_ino == inode
    (folder / "train" / "1.png").unlink()  # damage in the cache: extracted again
    resolve_data(module, source, use_sample=False)
    assert (folder / "train" / "1.png").is_file()
    assert snapshot(source) == before  # the read-only folder: not one byte, name or mtime changed


def test_cache_location_from_the_environment_and_a_foreign_folder_is_never_replaced(
    tmp_path: Path, read_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = read_only(cifar_download(tmp_path / "input" / "cifar-10"))
    module = load_competition("competitions/cifar10")
    mine = tmp_path / "data" / "cifar-10"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own files")
    with pytest.raises(DataError, match="PIPELINE_DATA_CACHE"):
        resolve_data(module, source, use_sample=False)
    assert (mine / "notes.txt").read_text() == "my own files"
    monkeypatch.setenv("PIPELINE_DATA_CACHE", str(tmp_path / "cache"))
    folder, _ = resolve_data(module, source, use_sample=False)
    assert folder == tmp_path / "cache" / "cifar-10" and (folder / "test" / "1.png").is_file()


def test_kaggle_notebook_defaults_to_the_mounted_competition_folder(
    tmp_path: Path, read_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "working"
    work.mkdir()
    monkeypatch.chdir(work)
    source = read_only(cifar_download(tmp_path / "input" / "cifar-10"))
    module = load_competition("competitions/cifar10")
    monkeypatch.setenv("PIPELINE_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    with pytest.raises(DataError, match="No data"):  # outside a notebook: data/<slug>/ as always
        resolve_data(module, None, use_sample=False)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    folder, _ = resolve_data(module, None, use_sample=False)
    assert folder == work / "data" / "cifar-10" and (folder / "train" / "40.png").is_file()
    other = load_competition("competitions/house_prices")
    with pytest.raises(DataError, match="Add Input"):
        resolve_data(other, None, use_sample=False)
    assert source.is_dir()


def test_house_prices_runs_from_a_read_only_folder(
    tmp_path: Path, read_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    from competitions.house_prices import sample

    source = tmp_path / "input" / "house-prices-advanced-regression-techniques"
    source.mkdir(parents=True)
    sample(source)
    read_only(source)
    before = snapshot(source)
    args = ["run", "competitions/house_prices", "--data", str(source), "--folds", "2", "--models", "ridge,lasso"]
    assert main([*args, "--quiet"]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    assert (run_dir / "submission.csv").is_file()
    assert snapshot(source) == before
    assert not (tmp_path / "data").exists()  # a folder without archives is used as it is: nothing copied


def test_the_image_check_remembers_a_user_s_folder_in_the_cache_not_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the check wrote .images-verified into any writable --data folder, which the docs say is never written to
    from competitions.leaves.sample import write_sample as leaves_sample
    from pipeline.folds import FoldPlan
    from pipeline.run_checks import load_checked
    from pipeline.runner import RunOptions

    monkeypatch.chdir(tmp_path)
    source = tmp_path / "mine"
    source.mkdir()
    leaves_sample(source)
    for marker in source.glob(".*"):
        marker.unlink()
    before = snapshot(source)
    module = load_competition("competitions/leaves")
    opts = RunOptions(competition="competitions/leaves", data=str(source), quiet=True)
    folder, _ = resolve_data(module, source, use_sample=False)
    assert folder == source  # extracted images: used where they are
    load_checked(module, module.Config(), folder, FoldPlan("stratified", 2, 0.0), opts)
    assert snapshot(source) == before
    assert (tmp_path / "data" / ".images-verified").is_file()  # remembered in the cache


def test_the_training_images_digests_of_a_read_only_folder(
    tmp_path: Path, read_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: every run read and hashed every training image again; now a user's read-only --data folder has its
    # digests remembered in the data cache (never in it), and a folder the pipeline made that has since become
    # read-only (its marker there) simply has none remembered: hashed on every run, no error
    import hashlib

    from pipeline.datadir import MARKER
    from pipeline.runner import _save_training_images

    monkeypatch.chdir(tmp_path)
    hashed: list[str] = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, algorithm: hashed.append(f.name) or real(f, algorithm))
    module = load_competition("competitions/cifar10")
    for marked in (False, True):
        source = tmp_path / f"input{int(marked)}" / "cifar-10"
        write_sample(source, n_train=12, n_test=4)
        if marked:
            (source / MARKER).write_text("made by the pipeline\n")
        before = snapshot(read_only(source))
        data = module.load(module.Config(), source)
        runs = []
        for run in ("first", "second"):
            hashed.clear()
            _save_training_images(module, tmp_path / f"{run}{int(marked)}", data, source)
            runs.append((len(hashed), (tmp_path / f"{run}{int(marked)}" / "train_images.json").read_text()))
        assert runs[0][0] >= 12 and runs[0][1] == runs[1][1]  # the same digests saved by both runs
        assert runs[1][0] == (runs[0][0] if marked else 0)  # remembered in the cache: no image read again
        assert snapshot(source) == before
    assert (tmp_path / "data" / ".image-digests").is_file()  # the data cache (pipeline/digestcache.py's CACHE_FILE)
