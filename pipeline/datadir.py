"""Find and check competition data: Kaggle's zip as downloaded, an extracted folder, or the built-in sample.

Extraction itself (checked members, the safe swap, the damage stamp) lives in pipeline/archives.py. A folder given
with --data is never written to: archives inside it go to the writable cache (data/<slug>/, or $PIPELINE_DATA_CACHE/
<slug>/). Inside a Kaggle notebook the data defaults to the competition's mounted folder under /kaggle/input.
A Playground competition's original dataset (ORIGINAL) is found the same way: mounted, cached, or downloaded.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Protocol

from pipeline.archives import (
    CACHE_ENV,
    MARKER,
    DataError,
    check_expected,
    damage,
    display_path,
    extract_7z,
    extract_competition_zip,
    extract_inner,
    extract_readonly,
    extract_zip,
    read_stamp,
    what_is,
    zip_folder,
)
from pipeline.kaggle.auth import find_credentials
from pipeline.kaggle.io import dataset_parts, download_dataset, download_if_possible
from pipeline.listing import listed


class Original(Protocol):
    """What original_dir reads of pipeline.tabular.original.Original (not imported: tabular imports this module)."""

    slug: str
    file: str

    @property
    def folder(self) -> str: ...


__all__ = [
    "CACHE_ENV",
    "KAGGLE_INPUT_ENV",
    "MARKER",
    "DataError",
    "check_expected",
    "check_intact",
    "checks_cache",
    "default_data_dir",
    "extract_7z",
    "extract_competition_zip",
    "extract_inner",
    "extract_zip",
    "in_kaggle_notebook",
    "kaggle_input_dir",
    "kaggle_input_root",
    "missing_data_message",
    "original_dir",
    "resolve_data",
    "sample_dir",
]


KAGGLE_INPUT_ENV = "PIPELINE_KAGGLE_INPUT"  # Kaggle's input root (default /kaggle/input); set by tests


def in_kaggle_notebook() -> bool:
    """Whether this process runs inside a Kaggle notebook (Kaggle sets KAGGLE_KERNEL_RUN_TYPE there, as kagglesdk
    itself checks); the one place the framework decides it."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def kaggle_input_root() -> Path:
    """Where a Kaggle notebook's inputs are mounted: /kaggle/input (or $PIPELINE_KAGGLE_INPUT)."""
    return Path(os.environ.get(KAGGLE_INPUT_ENV) or "/kaggle/input")


def kaggle_input_dir(slug: str) -> Path:
    """The competition's mounted folder in a Kaggle notebook: /kaggle/input/<slug> (or .../competitions/<slug>)."""
    root = kaggle_input_root()
    for candidate in (root / slug, root / "competitions" / slug):
        if candidate.is_dir():
            return candidate
    return root / slug


def cache_root() -> Path:
    """Where zips and read-only folders are extracted: $PIPELINE_DATA_CACHE, else data/ in the working directory."""
    given = os.environ.get(CACHE_ENV)
    return Path(given).expanduser() if given else Path.cwd() / "data"


def checks_cache(data_dir: Path) -> Path:
    """Where the checks of a data folder's images remember its files (the verified listings, pipeline/imagefiles.py;
    the digests, pipeline/digestcache.py): the folder itself when the pipeline made it (extracted, or a sample), else
    the data cache: a user's --data folder is never written to."""
    return data_dir if (Path(data_dir) / MARKER).exists() else cache_root()


def default_data_dir(slug: str) -> Path:
    """data/<slug>/ in the working directory (or under $PIPELINE_DATA_CACHE)."""
    return cache_root() / slug


def sample_dir(name: str) -> Path:
    """Where the built-in sample of a competition is written."""
    return Path.cwd() / "data" / "sample" / name


def competition_arg(module: ModuleType) -> str:
    """How a command names the competition: competitions/<name> for the project's own, else its folder (a package
    kept elsewhere, as `new --into` writes)."""
    name = module.__name__.rsplit(".", 1)[-1]
    if module.__name__.startswith("competitions.") or not getattr(module, "__file__", None):
        return f"competitions/{name}"
    return display_path(Path(module.__file__).parent)


def check_intact(folder: Path, module: ModuleType) -> None:
    """Fail naming the file when an extracted data folder was damaged since extraction, with the repair command."""
    problems = damage(folder)
    if not problems:
        return
    name = competition_arg(module)
    stamp = read_stamp(folder) or {}
    zip_path = folder.parent / str(stamp.get("source") or f"{module.KAGGLE_SLUG}.zip")
    fix = f"python -m pipeline download {name} --force"
    if zip_path.is_file():
        fix += f"   (or re-extract the zip: python -m pipeline run {name} --data {display_path(zip_path)})"
    raise DataError(
        f"Data folder {display_path(folder)} is damaged: {listed(problems, 1, '; ')}. Repair it with: {fix}"
    )


def is_sample_folder(folder: Path) -> bool:
    """Whether the folder is a built-in sample resolve_data wrote (its marker says so): runs on it are sample runs,
    which `submit` refuses, whichever way it was named."""
    try:
        return (folder / MARKER).read_text().strip() == "sample"
    except (OSError, UnicodeDecodeError):
        return False


def _folder_data(path: Path, slug: str, module: ModuleType) -> Path:
    """A data folder given as it is. The pipeline's own (data/<slug>/, or a folder with its stamp) may be completed in
    place; any other folder is never written to: its archives go to the cache (archives.extract_readonly).
    """
    if (path / MARKER).exists() or path.resolve() == default_data_dir(slug).resolve():
        check_intact(path, module)
        extract_inner(path)
        return path
    folder = extract_readonly(path, default_data_dir(slug))
    if folder != path:
        check_intact(folder, module)
    return folder


def _starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _union(first: list[str], second: list[str]) -> list[str]:
    """The names of both lists, each once, in order."""
    return list(dict.fromkeys([*first, *second]))


def missing_data_message(module: ModuleType, where: Path, command: str | None = None, sample: bool = True) -> str:
    """What to do when there is no data: the exact kaggle command, then the command that was run again with --data
    and (`sample`: where that command takes it) with --sample. `command`: that command as typed, without its data
    options (default `run <competition>`)."""
    slug = module.KAGGLE_SLUG
    name = competition_arg(module)
    again = f"python -m pipeline {command or f'run {name}'}"
    return (
        f"No data for '{slug}' at {where}.\n"
        f"Get it with:   kaggle competitions download -c {slug} -p data/   "
        f"(or: python -m pipeline download {name})\n"
        f"then:   {again} --data data/{slug}.zip"
        + (f"\nor try the built-in sample:   {again} --sample" if sample else "")
    )


def built_in_sample(module: ModuleType, name: str) -> Path:
    """The competition's built-in sample folder, written once by its sample(dest) into a temporary sibling and
    swapped in, so a failed or interrupted write never leaves half a sample."""
    if not hasattr(module, "sample"):
        raise DataError(f"Competition '{name}' has no built-in sample (it defines no sample(dest)).")
    folder = sample_dir(name)
    if not (folder / MARKER).exists():
        tmp = folder.parent / f".{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            module.sample(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / MARKER).write_text("sample\n")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    return folder


def resolve_data(
    module: ModuleType,
    data: str | Path | None,
    use_sample: bool,
    expected: list[str] | None = None,
    *,
    command: str | None = None,
    sample_option: bool = True,
) -> tuple[Path, bool]:
    """The folder holding the competition's raw files, and whether it is the built-in sample. `expected`: the files it
    must hold (default: the competition's EXPECTED_FILES; `predict` of a new test set checks its own). `command` and
    `sample_option`: the command that asks and whether it takes --sample, for the hint when there is no data
    (missing_data_message).

    data/<slug>/ only ever holds a full download (every EXPECTED_FILES): a zip without them (a new test set alone,
    as `predict` reads for saved weights) goes beside it (archives.zip_folder), so a later run without --data never
    takes it for the competition's data."""
    slug = module.KAGGLE_SLUG
    full = list(getattr(module, "EXPECTED_FILES", []))
    expected = list(full if expected is None else expected)
    name = module.__name__.rsplit(".", 1)[-1]
    if use_sample:
        folder = built_in_sample(module, name)
        check_expected(folder, expected, slug)
        return folder, True
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(
                f"--data {path}: no such file or folder.\n" + missing_data_message(module, path, command, sample_option)
            )
        if path.is_file():
            if not zipfile.is_zipfile(path) and not _starts_like_zip(path):
                kind = what_is(path)
                raise DataError(
                    f"--data {path}: not a zip archive{f' ({kind})' if kind else ''}; "
                    "give Kaggle's zip as downloaded or an extracted folder."
                )
            dest = zip_folder(path, default_data_dir(slug), full)
            needs = full if dest == default_data_dir(slug) else expected  # data/<slug>/: the full download only
            folder = extract_competition_zip(path, dest, expected=_union(needs, expected), slug=slug)
        else:
            folder = _folder_data(path, slug, module)
        check_expected(folder, expected, slug, shown=path)
        return folder, is_sample_folder(folder)  # the built-in sample given as --data is still the sample
    if in_kaggle_notebook():
        mounted = kaggle_input_dir(slug)
        if not mounted.is_dir():
            raise DataError(
                f"No data for '{slug}' at {mounted}: add the competition's data to the notebook (Add Input), "
                "or give --data PATH."
            )
        folder = _folder_data(mounted, slug, module)
        check_expected(folder, expected, slug, shown=mounted)
        return folder, False
    folder = default_data_dir(slug)
    archive = folder.parent / f"{slug}.zip"
    if not (folder / MARKER).exists() and archive.is_file():
        extract_competition_zip(archive, folder, expected=_union(full, expected), slug=slug)
    if folder.is_dir():
        check_intact(folder, module)
    empty = not folder.is_dir() or not any(p for p in folder.iterdir() if not p.name.startswith("."))
    if empty and not download_if_possible(module, folder):
        raise DataError(missing_data_message(module, folder, command, sample_option))
    extract_inner(folder)
    check_expected(folder, expected, slug)
    return folder, False


def _original_missing(original: Original, folder: Path, mounts: list[Path]) -> str:
    """What to do when the original dataset's file is nowhere: the ways to get it, and how to run without it."""
    where = display_path(folder)
    looked = ", ".join([*(str(m) for m in mounts), where])
    lines = [f"No original dataset '{original.slug}': {original.file} is not in {looked}."]
    if mounts:
        lines.append(f"In this notebook, add the dataset '{original.slug}' as an input (Add Input).")
    if dataset_parts(original.slug) is None:
        lines.append(f"It is a local dataset (not on Kaggle): put {original.file} in {where}/")
    else:
        lines += [
            f"Get it with:   kaggle datasets download -d {original.slug} -p {where} --unzip",
            "   (or: python -m pipeline download <competition folder>, which fetches it with the competition's data)",
        ]
    lines.append("or put a copy in place:   python -m pipeline new ... --original PATH")
    lines.append("or run without it:   --set original=off")
    return "\n".join(lines)


def original_dir(original: Original) -> Path:
    """The folder holding the original dataset's file: a notebook's mounted input, the data cache, or a download.

    Inside a Kaggle notebook, the mounted <input>/<name> or <input>/datasets/<owner>/<name>; else
    <cache>/datasets/<owner>/<name>, downloaded there first when Kaggle credentials exist. Raises DataError saying
    how to get it (or run without it) when it is nowhere.
    """
    parts = dataset_parts(original.slug)
    mounts: list[Path] = []
    if in_kaggle_notebook():
        root, name = kaggle_input_root(), original.slug.strip("/").rsplit("/", 1)[-1]
        mounts = [root / name, *([root / "datasets" / parts[0] / parts[1]] if parts else [])]
        for mounted in mounts:
            if (mounted / original.file).is_file():
                return mounted
    folder = cache_root() / original.folder
    if (folder / original.file).is_file():
        return folder
    if parts is not None and find_credentials() is not None:
        return download_dataset(original.slug, folder, [original.file])
    raise DataError(_original_missing(original, folder, mounts))
