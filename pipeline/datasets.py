"""Find, extract and check competition data: Kaggle's zip as downloaded, an extracted folder, or the sample."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

from pipeline.contract import ContractError

MARKER = ".complete"


class DataError(ContractError):
    """Competition data is missing, incomplete or unsafe."""


def default_data_dir(slug: str) -> Path:
    """data/<slug>/ in the working directory."""
    return Path.cwd() / "data" / slug


def sample_dir(name: str) -> Path:
    """Where the built-in sample of a competition is written."""
    return Path.cwd() / "data" / "sample" / name


def _safe_member(root: Path, name: str, archive: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"{archive.name}: member '{name}' would land outside the data folder; refusing to extract.")
    target = (root / Path(*pure.parts)).resolve() if pure.parts else root.resolve()
    if root.resolve() not in (target, *target.parents):
        raise DataError(f"{archive.name}: member '{name}' would land outside the data folder; refusing to extract.")
    return target


def extract_zip(archive: Path, dest: Path) -> None:
    """Extract a zip into dest after checking every member's path and CRC."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _safe_member(dest, info.filename, archive)
            bad = zf.testzip()
            if bad is not None:
                raise DataError(f"{archive}: member '{bad}' is corrupt (CRC mismatch); download it again.")
            zf.extractall(dest)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{archive}: not a complete zip archive ({e}); the download may be truncated.") from None


def extract_7z(archive: Path, dest: Path) -> None:
    """Extract a 7z archive (CIFAR-10's train.7z/test.7z) into dest after checking member paths."""
    import py7zr

    try:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            for name in z.getnames():
                _safe_member(dest, name, archive)
            z.extractall(path=dest)
    except DataError:
        raise
    except Exception as e:  # py7zr raises several unrelated types for damaged archives
        raise DataError(
            f"{archive}: cannot extract 7z archive ({type(e).__name__}: {e}); it may be truncated."
        ) from None


def extract_inner(folder: Path) -> None:
    """Extract archives shipped inside the competition zip (e.g. train.7z) next to themselves, once."""
    for inner in sorted(folder.glob("*.7z")) + sorted(folder.glob("*.zip")):
        done = folder / f".{inner.name}{MARKER}"
        if done.exists():
            continue
        tmp = folder / f".{inner.stem}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (extract_7z if inner.suffix == ".7z" else extract_zip)(inner, tmp)
        for item in tmp.iterdir():
            target = folder / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            item.rename(target)
        tmp.rmdir()
        done.write_text("ok\n")


def extract_competition_zip(archive: Path, dest: Path) -> Path:
    """Extract Kaggle's competition zip into dest (atomically: all or nothing) and any archives inside it."""
    stamp = {"source": archive.name, "size": archive.stat().st_size}
    marker = dest / MARKER
    if marker.exists():
        try:
            if json.loads(marker.read_text()) == stamp:
                return dest
        except ValueError:
            pass
    tmp = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        extract_zip(archive, tmp)
        extract_inner(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / MARKER).write_text(json.dumps(stamp))
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def check_expected(folder: Path, expected: list[str], slug: str) -> None:
    """Fail naming the missing files when a data folder is incomplete."""
    missing = [f for f in expected if not (folder / f).exists()]
    if missing:
        raise DataError(
            f"Data folder {folder} is incomplete for '{slug}': missing {', '.join(missing)}. "
            f"Expected: {', '.join(expected)}."
        )


def missing_data_message(module: ModuleType, where: Path) -> str:
    """What to do when there is no data: the exact kaggle command and the --sample alternative."""
    slug = module.KAGGLE_SLUG
    name = module.__name__.rsplit(".", 1)[-1]
    return (
        f"No data for '{slug}' at {where}.\n"
        f"Get it with:   kaggle competitions download -c {slug} -p data/   "
        f"(or: python -m pipeline download competitions/{name})\n"
        f"then run with --data data/{slug}.zip, or try the built-in sample:   "
        f"python -m pipeline run competitions/{name} --sample"
    )


def resolve_data(module: ModuleType, data: str | Path | None, use_sample: bool) -> tuple[Path, bool]:
    """The folder holding the competition's raw files, and whether it is the built-in sample."""
    slug = module.KAGGLE_SLUG
    expected = list(getattr(module, "EXPECTED_FILES", []))
    name = module.__name__.rsplit(".", 1)[-1]
    if use_sample:
        if not hasattr(module, "sample"):
            raise DataError(f"Competition '{name}' has no built-in sample (it defines no sample(dest)).")
        folder = sample_dir(name)
        if not (folder / MARKER).exists():
            tmp = folder.parent / f".{name}.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            module.sample(tmp)
            (tmp / MARKER).write_text("sample\n")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        check_expected(folder, expected, slug)
        return folder, True
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(f"--data {path}: no such file or folder.\n" + missing_data_message(module, path))
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise DataError(f"--data {path}: not a zip archive; give Kaggle's zip as downloaded or a folder.")
            folder = extract_competition_zip(path, default_data_dir(slug))
        else:
            folder = path
            extract_inner(folder)
        check_expected(folder, expected, slug)
        return folder, False
    folder = default_data_dir(slug)
    archive = folder.parent / f"{slug}.zip"
    if not (folder / MARKER).exists() and archive.is_file():
        extract_competition_zip(archive, folder)
    if not folder.is_dir() or not any(p for p in folder.iterdir() if not p.name.startswith(".")):
        try:
            from pipeline.kaggle_io import download_if_possible
        except ImportError:
            download_if_possible = None
        if download_if_possible is None or not download_if_possible(module, folder):
            raise DataError(missing_data_message(module, folder))
    extract_inner(folder)
    check_expected(folder, expected, slug)
    return folder, False
