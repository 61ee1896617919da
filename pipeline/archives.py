"""Competition archives: checked extraction, a safe swap into place, and a stamp that finds later damage.

A competition zip is extracted into a temporary sibling of the data folder, its inner archives (CIFAR-10's
train.7z) too; the expected files are checked and every CSV is parsed; only then is the new folder swapped in. The
old folder is untouched on any failure and no debris is left. The stamp (`.complete` in the folder) records the
zip's name, size, mtime and sha256 and every extracted file's size and mtime, so a later run can name a file that
was deleted or changed.

A folder given as it is (`--data DIR`, Kaggle's read-only /kaggle/input/<slug>) is never written to: archives inside
it are extracted into a writable cache instead (extract_readonly).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.contract import ContractError

MARKER = ".complete"
CACHE_ENV = "PIPELINE_DATA_CACHE"  # where extracted data goes (default: data/ in the working directory)
_ZIP_LOCAL = b"PK\x03\x04"
_MAGIC = {
    b"\x1f\x8b": "a gzip file",
    b"7z\xbc\xaf\x27\x1c": "a 7z archive",
    b"Rar!": "a RAR archive",
    b"BZh": "a bzip2 file",
    b"\xfd7zXZ": "an xz file",
}


class DataError(ContractError):
    """Competition data is missing, incomplete, damaged or unsafe."""


class MissingFiles(DataError):
    """A data folder or zip lacks expected files (`missing`, by name): a caller may say why it needs them."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def display_path(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def safe_member(root: Path, name: str, archive: Path) -> Path:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"{archive.name}: member '{name}' would land outside the data folder; refusing to extract.")
    target = (root / Path(*pure.parts)).resolve() if pure.parts else root.resolve()
    if root.resolve() not in (target, *target.parents):
        raise DataError(f"{archive.name}: member '{name}' would land outside the data folder; refusing to extract.")
    return target


def what_is(path: Path) -> str | None:
    """A short description of a file that is not a zip (gzip, 7z, an HTML page ...), from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "an empty file (0 bytes)"
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "an HTML page (an error or login page saved instead of the data?)"
    return None


def truncation(archive: Path) -> str | None:
    """'the download was cut short: N of at least M bytes' when `archive` is the start of a zip without its end."""
    size = archive.stat().st_size
    need, pos = 0, 0
    with open(archive, "rb") as f:
        if f.read(4) != _ZIP_LOCAL:
            return None
        while True:
            f.seek(pos)
            header = f.read(30)
            if len(header) < 30 or header[:4] != _ZIP_LOCAL:
                break
            flags, csize = struct.unpack("<H", header[6:8])[0], struct.unpack("<I", header[18:22])[0]
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            if flags & 0x08 or csize == 0xFFFFFFFF:  # sizes in a data descriptor / zip64: the end is unknown
                need = max(need, pos + 30 + name_len + extra_len)
                break
            need = pos = pos + 30 + name_len + extra_len + csize
    if need > size:
        return f"the download was cut short: {size:,} of at least {need:,} bytes; download it again"
    return f"the download was cut short: {size:,} bytes and the end of the zip is missing; download it again"


def extract_zip(archive: Path, dest: Path) -> None:
    """Extract a zip into dest after checking every member's path; a corrupt member (CRC) is named."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        cut = truncation(archive)
        if cut:
            raise DataError(f"{archive}: {cut}.") from None
        kind = what_is(archive)
        raise DataError(
            f"{archive}: not a zip archive ({kind or e}); give Kaggle's zip as downloaded or an extracted folder."
        ) from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            safe_member(dest, info.filename, archive)
        for info in infos:
            try:
                zf.extract(info, dest)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
                if isinstance(e, OSError) and e.errno is not None:
                    raise DataError(f"{archive}: cannot extract member '{info.filename}' ({e}).") from None
                raise DataError(
                    f"{archive}: member '{info.filename}' is corrupt ({e}); download the zip again."
                ) from None
            except Exception as e:  # zlib.error and friends for a damaged deflate stream
                raise DataError(
                    f"{archive}: member '{info.filename}' is corrupt ({type(e).__name__}: {e}); download the zip again."
                ) from None


def extract_7z(archive: Path, dest: Path) -> None:
    """Extract a 7z archive (CIFAR-10's train.7z/test.7z) into dest after checking member paths."""
    import py7zr

    try:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            for name in z.getnames():
                safe_member(dest, name, archive)
            z.extractall(path=dest)
    except DataError:
        raise
    except Exception as e:  # py7zr raises several unrelated types for damaged archives
        raise DataError(
            f"{archive}: cannot extract 7z archive ({type(e).__name__}: {e}); it may be truncated."
        ) from None


@contextlib.contextmanager
def _scratch(parent: Path, stem: str) -> Iterator[Path]:
    """A fresh hidden folder beside the target; removed on any failure (and when still there afterwards)."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".partial", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_inner(folder: Path) -> None:
    """Extract archives shipped inside the competition zip (e.g. train.7z) next to themselves, once.

    Each goes to a scratch folder first; a damaged archive leaves the folder as it was, without debris.
    """
    for inner in sorted(folder.glob("*.7z")) + sorted(folder.glob("*.zip")):
        done = folder / f".{inner.name}{MARKER}"
        if done.exists():
            continue
        with _scratch(folder, inner.stem) as tmp:
            (extract_7z if inner.suffix == ".7z" else extract_zip)(inner, tmp)
            for item in tmp.iterdir():
                target = folder / item.name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
                item.rename(target)
        done.write_text("ok\n")


def check_expected(folder: Path, expected: list[str], slug: str, shown: Path | None = None) -> None:
    """Fail naming the missing files when a data folder is incomplete."""
    missing = [f for f in expected if not (folder / f).exists()]
    if missing:
        raise MissingFiles(
            f"Data folder {shown or folder} is incomplete for '{slug}': missing {', '.join(missing)}. "
            f"Expected: {', '.join(expected)}.",
            missing,
        )


def check_csvs(folder: Path, source: str) -> None:
    """Every CSV at the top of `folder` must parse (read in chunks: memory stays bounded on large files)."""
    import pandas as pd

    for path in sorted(folder.glob("*.csv")):
        try:
            for _ in pd.read_csv(path, dtype=str, chunksize=200_000):
                pass
        except pd.errors.EmptyDataError:
            raise DataError(f"{source}: {path.name} is empty.") from None
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"{source}: {path.name} does not parse as CSV ({first}).") from None


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_table(folder: Path) -> dict[str, list[int]]:
    """Relative path -> [size, mtime_ns] of every file below `folder`, hidden (dot) files and folders excluded."""
    table: dict[str, list[int]] = {}
    stack = [(folder, "")]
    while stack:
        here, prefix = stack.pop()
        with os.scandir(here) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                rel = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                else:
                    st = entry.stat(follow_symlinks=False)
                    table[rel] = [st.st_size, st.st_mtime_ns]
    return table


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """The extraction stamp of a folder, or None (no stamp, or the sample's plain-text marker)."""
    try:
        stamp = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def damage(folder: Path, stamp: dict[str, Any] | None = None) -> list[str]:
    """What changed in `folder` since its extraction: one line per deleted or changed file (empty when intact)."""
    stamp = stamp if stamp is not None else read_stamp(folder)
    files = (stamp or {}).get("files")
    if not isinstance(files, dict):
        return []  # no stamp, or an old one that did not list the files
    problems = []
    for rel, (size, mtime) in files.items():
        try:
            st = os.stat(folder / rel)
        except OSError:
            problems.append(f"{rel} is missing")
            continue
        if st.st_size != size:
            problems.append(f"{rel} changed ({st.st_size:,} bytes, {size:,} when extracted)")
        elif st.st_mtime_ns != mtime:
            problems.append(f"{rel} was modified after extraction")
    return problems


def _same_zip(stamp: dict[str, Any] | None, archive: Path) -> bool:
    """Whether the stamp was made from this zip: same name and size, and same mtime or (if touched) same sha256."""
    if not stamp or stamp.get("source") != archive.name:
        return False
    st = archive.stat()
    if stamp.get("size") != st.st_size:
        return False
    if "sha256" not in stamp or stamp.get("mtime_ns") == st.st_mtime_ns:
        return True
    return stamp["sha256"] == sha256(archive)


def zip_lacks(archive: Path, names: list[str]) -> list[str]:
    """Which of `names` the zip will not hold at its top once extracted: neither a member (file or folder) nor made by
    an archive inside it (train.7z gives train/, as pending_archives reads it). Empty for a zip that cannot be read:
    its extraction names the fault."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.namelist()
    except (zipfile.BadZipFile, EOFError, OSError):
        return []
    parts = (PurePosixPath(m.replace("\\", "/")).parts for m in members)
    top = {p[0] for p in parts if p}
    top |= {Path(t).stem for t in top if t.endswith((".7z", ".zip"))}
    return [n for n in names if n not in top]


def zip_folder(archive: Path, default: Path, full: list[str] | None = None) -> Path:
    """Where a competition zip given as --data extracts to: `default` (data/<slug>/) when it is free, unstamped, or
    holds this zip (by name and size, or by content); another zip of the competition (a new test set for `predict`,
    an updated download) goes beside it to data/<slug>@<its sha256's first 12 hex digits>/, so the runs made from the
    first keep their data, which `submit`, `validate` and `ensemble` read again. A zip lacking any of `full` (the
    competition's EXPECTED_FILES: a test set alone, as `predict` reads for saved weights) always goes beside it, so
    `default` only ever holds a full download, the one a run without --data takes."""
    partial = bool(zip_lacks(archive, full or []))
    stamp = read_stamp(default)
    if not partial and (stamp is None or _same_zip(stamp, archive)):
        return default
    for beside in sorted(default.parent.glob(f"{default.name}@*")):  # extracted before: no hash of the zip again
        if _same_zip(read_stamp(beside), archive):
            return beside
    digest = sha256(archive)
    if not partial and stamp is not None and stamp.get("sha256") == digest:
        return default
    return default.with_name(f"{default.name}@{digest[:12]}")


def _swap(new: Path, dest: Path) -> None:
    """Put `new` in place of `dest`: the old folder is moved aside first and removed only once `new` is in place."""
    if not dest.exists():
        os.rename(new, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def extract_competition_zip(
    archive: Path,
    dest: Path,
    force: bool = False,
    *,
    expected: list[str] | None = None,
    slug: str | None = None,
) -> Path:
    """Extract Kaggle's competition zip into dest and any archives inside it; return dest.

    Skipped when dest's stamp names this zip and no file was deleted or changed since (unless `force`). Otherwise
    the zip goes to a temporary sibling, whose expected files and CSVs are checked before it replaces dest; on any
    failure dest is untouched and the temporary folder removed.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise DataError(f"{archive}: no such file.")
    if not force and _same_zip(read_stamp(dest), archive) and not damage(dest):
        return dest
    for stale in dest.parent.glob(f".{dest.name}.*.partial") if dest.parent.is_dir() else []:
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed extraction
    with _scratch(dest.parent, dest.name) as tmp:
        extract_zip(archive, tmp)
        extract_inner(tmp)
        kept = f"; {dest} was left as it was" if dest.exists() else ""
        missing = [f for f in expected or [] if not (tmp / f).exists()]
        if missing:
            raise MissingFiles(
                f"{archive}: the zip has no {', '.join(missing)} (expected for '{slug or dest.name}': "
                f"{', '.join(expected or [])}); it is not the complete competition download{kept}.",
                missing,
            )
        try:
            check_csvs(tmp, str(archive))
        except DataError as e:
            raise DataError(f"{e}{kept}") from None
        st = archive.stat()
        stamp = {
            "source": archive.name,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256(archive),
            "files": file_table(tmp),
        }
        (tmp / MARKER).write_text(json.dumps(stamp, separators=(",", ":")))
        _swap(tmp, dest)
    return dest


def pending_archives(source: Path) -> list[Path]:
    """Archives in a data folder still to extract: *.7z / *.zip without their folder beside (train/ for train.7z)."""
    found = sorted(source.glob("*.7z")) + sorted(source.glob("*.zip"))
    return [a for a in found if not (source / a.stem).is_dir() and not (source / f".{a.name}{MARKER}").exists()]


def source_identity(source: Path, archives: list[Path]) -> dict[str, Any]:
    """What a cache of `source` is keyed by: its resolved path and each archive's name, size and mtime."""
    table = {}
    for a in archives:
        st = a.stat()
        table[a.name] = [st.st_size, st.st_mtime_ns]
    return {"path": str(source.resolve()), "archives": table}


def extract_readonly(source: Path, dest: Path) -> Path:
    """A usable data folder for a folder that must never be written to (Kaggle's /kaggle/input/<slug>).

    When `source` holds no archive still to extract it is returned as it is. Otherwise the archives are extracted
    into `dest` (a writable cache) next to links to every other top-level file of `source`; the stamp in `dest`
    records the source's identity (path, each archive's size and mtime), so this happens once, and is redone when
    an archive changes or an extracted file was deleted or changed. A `dest` that is not such a cache (no stamp) is
    never replaced.
    """
    source, dest = Path(source), Path(dest)
    archives = pending_archives(source)
    if not archives:
        return source
    identity = source_identity(source, archives)
    stamp = read_stamp(dest)
    if stamp is not None and stamp.get("readonly_source") == identity and not damage(dest, stamp):
        return dest
    if dest.exists() and not (dest / MARKER).exists():
        raise DataError(
            f"{dest} exists and is not an extraction made by the pipeline; move it away or set "
            f"{CACHE_ENV} to another folder for the data extracted from {source}."
        )
    for stale in dest.parent.glob(f".{dest.name}.*.partial") if dest.parent.is_dir() else []:
        shutil.rmtree(stale, ignore_errors=True)
    with _scratch(dest.parent, dest.name) as tmp:
        for archive in archives:
            (extract_7z if archive.suffix == ".7z" else extract_zip)(archive, tmp)
        files = file_table(tmp)
        names = {a.name for a in archives}
        for item in sorted(source.iterdir()):
            if item.name.startswith(".") or item.name in names or (tmp / item.name).exists():
                continue
            (tmp / item.name).symlink_to(item.resolve(), target_is_directory=item.is_dir())
        stamp = {"source": str(source), "readonly_source": identity, "files": files}
        (tmp / MARKER).write_text(json.dumps(stamp, separators=(",", ":")))
        _swap(tmp, dest)
    return dest
