"""Files' sha256 digests, remembered across runs: a run of an image competition digests every training image (and
the test images of a training image's size, pipeline/imagedigests.py), and a second run, or predict, on the same
unchanged files reads the digests back instead of reading the files again.

The cache is one JSON file, CACHE_FILE, in the folder that holds the image check's (pipeline/imagefiles.py,
`.images-verified`): the data folder when the pipeline made it, else the data cache (a user's --data folder is never
written to). A file is known by its absolute path, and its saved digest is used only while the file's size, mtime,
ctime and inode are those it had when it was hashed: new bytes change the mtime or the ctime (a file rewritten with its
mtime set back, as `cp -p` does, still gets a new ctime; a file replaced by another is another inode), so a changed,
added or replaced file is always hashed again. A cache that cannot be read or is not in this format is ignored (every
file is hashed); one that cannot be written (a read-only folder) is simply not written. It keeps the MAX_FILES files
used last. Not covered: a file rewritten, same size, within the filesystem clock's tick (milliseconds) of being hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from pipeline.atomic import write_text
from pipeline.stacked import files_of

CACHE_FILE = ".image-digests"
ALGORITHM = "sha256"
MAX_FILES = 400_000  # about 70 MB of cache at most: CIFAR-10's 50,000 training and 300,000 test images fit
_FORMAT = 1


def file_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes: what identifies an image whatever its name."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, ALGORITHM).hexdigest()


def digests(paths: Sequence[str], cache_dir: Path | None = None) -> list[tuple[int, str]]:
    """Each file's (size in bytes, sha256 of its bytes), in order; an image of several channel files
    (pipeline/stacked.py), or a row of several views (pipeline/views.py), has its files' sizes together and the
    sha256 of their digests in order. With `cache_dir`, digests saved there for a file whose size, mtime, ctime and
    inode are unchanged are used without reading it, and the new ones are saved."""
    cache = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    known = _read(cache) if cache is not None else {}
    used: dict[str, list[Any]] = {}
    out: list[tuple[int, str]] = []
    hashed = False
    here = os.getcwd()
    for path in paths:
        found = []
        for file in files_of(path):
            key = os.path.join(here, file)  # the path itself when absolute
            used[key], fresh = _entry(file, known.get(key))
            found.append((used[key][0], used[key][4]))
            hashed = hashed or fresh
        if len(found) == 1:
            out.append(found[0])
        else:
            joined = "\n".join(digest for _, digest in found).encode()
            out.append((sum(size for size, _ in found), hashlib.new(ALGORITHM, joined).hexdigest()))
    if cache is not None and hashed:
        _write(cache, known, used)
    return out


def _entry(path: str, entry: Any) -> tuple[list[Any], bool]:
    """A file's cache entry [size, mtime_ns, ctime_ns, inode, digest]: the saved `entry` while its stamp is
    unchanged, else a new one of its bytes hashed now; and whether it was hashed."""
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    if _valid(entry) and entry[:4] == stamp:
        return [*stamp, entry[4]], False
    return [*stamp, file_digest(path)], True


def _valid(entry: Any) -> TypeGuard[list[Any]]:
    """Whether a cache entry has the shape _write gives it: [size, mtime_ns, ctime_ns, inode, digest]."""
    return isinstance(entry, list) and len(entry) == 5 and isinstance(entry[4], str) and len(entry[4]) == 64


def _read(cache: Path) -> dict[str, Any]:
    """The cache's entries by absolute path; {} when it is missing, unreadable or not this format."""
    try:
        record = json.loads(cache.read_bytes())
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        return {}
    if not isinstance(record, dict) or record.get("format") != _FORMAT or record.get("algorithm") != ALGORITHM:
        return {}
    files = record.get("files")
    return files if isinstance(files, dict) else {}


def _write(cache: Path, known: dict[str, Any], used: dict[str, list[Any]]) -> None:
    """Save the entries `used` now after the others `known` (so the MAX_FILES kept are those used last), atomically;
    nothing when the folder cannot be written."""
    kept = {k: v for k, v in known.items() if k not in used} | used
    files = dict(list(kept.items())[-MAX_FILES:]) if len(kept) > MAX_FILES else kept
    record = {"format": _FORMAT, "algorithm": ALGORITHM, "files": files}
    with contextlib.suppress(OSError):  # a read-only folder: the files are hashed again next time
        write_text(cache, json.dumps(record, separators=(",", ":")))
