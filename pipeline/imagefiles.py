"""Image files listed in a competition's CSV: each must exist and be a readable image, checked before training."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.contract import ContractError
from pipeline.dicom import DicomError, dicom_size, is_dicom, read_dicom
from pipeline.listing import listed
from pipeline.machine import usable_cores
from pipeline.stacked import files_of


class ImageFileError(ContractError):
    """An image listed in a CSV is missing or is not a readable image."""


DEEP = "**/"  # in a pattern, "train/**/{}.dcm": the one file of that name anywhere under train/ (SIIM's DICOM tree)


def deep_parts(pattern: str) -> tuple[str, str] | None:
    """A pattern that finds a file anywhere under a folder ("train/**/{}.dcm") as its folder ("train/"; "" for the
    root) and the file's name ("{}.dcm"); None for a plain pattern."""
    folder, sep, name = pattern.partition(DEEP)
    if not sep or (folder and not folder.endswith("/")) or "/" in name:
        return None
    return folder, name


class FolderNames:
    """The file names of the folders under `root`, each folder listed once, and the file an id's pattern finds there:
    its exact name, else the one name of its folder that differs from it only in case (x.PNG for a listed x.png, which
    a case-insensitive filesystem opens and Linux would not). A deep pattern ("train/**/{}.dcm") finds the one file
    of that name anywhere under its folder, walked once; two files of one name there are refused, naming both."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: dict[str, set[str]] = {}  # a folder relative to root ("" for root) -> its names
        self._folded: dict[str, dict[str, str | None]] = {}  # a folder -> lower-case name -> its name (None: several)
        # a deep pattern's folder -> a file's name (as named, and in lower case) -> the files of that name under it
        self._trees: dict[str, tuple[dict[str, list[str]], dict[str, list[str]]]] = {}

    def of(self, folder: str) -> set[str]:
        """The names in root/folder (empty when it is no folder)."""
        if folder not in self.names:
            path = self.root / folder
            self.names[folder] = set(os.listdir(path)) if path.is_dir() else set()
        return self.names[folder]

    def find(self, patterns: Sequence[str], key: str) -> str | None:
        """The file (relative to root) of the first pattern whose file is there by its exact name, else of the first
        whose file is there in another case; None when none is."""
        for exact in (True, False):
            for pattern in patterns:
                if (parts := deep_parts(pattern)) is not None:
                    if found := self._deep(parts[0], parts[1].format(key), exact):
                        return found
                    continue
                folder, slash, name = pattern.format(key).rpartition("/")
                if exact and name in self.of(folder):
                    return folder + slash + name
                if not exact and (other := self._fold(folder).get(name.lower())):
                    return folder + slash + other
        return None

    def _deep(self, folder: str, name: str, exact: bool) -> str | None:
        """The file (relative to root) named `name` (not `exact`: in any case) anywhere under `folder`; None when
        there is none, an ImageFileError when there are several."""
        if folder not in self._trees:
            named: dict[str, list[str]] = {}
            folded: dict[str, list[str]] = {}
            for top, dirs, files in os.walk(self.root / folder):
                dirs.sort()
                rel = Path(top).relative_to(self.root).as_posix()
                for n in sorted(files):
                    path = n if rel == "." else f"{rel}/{n}"
                    named.setdefault(n, []).append(path)
                    folded.setdefault(n.lower(), []).append(path)
            self._trees[folder] = named, folded
        named, folded = self._trees[folder]
        found = named.get(name, []) if exact else folded.get(name.lower(), [])
        if len(found) > 1:
            raise ImageFileError(
                f"{self.root / folder}: {len(found)} files named {name} under it ({', '.join(found[:3])}); an id "
                "names one image: remove or rename the others."
            )
        return found[0] if found else None

    def _fold(self, folder: str) -> dict[str, str | None]:
        if folder not in self._folded:
            folded: dict[str, str | None] = {}
            for n in self.of(folder):
                folded[n.lower()] = None if n.lower() in folded else n
            self._folded[folder] = folded
        return self._folded[folder]

    def by_path(self) -> dict[Path, set[str]]:
        """The folders listed so far, by path (likely_cause's `listing`)."""
        return {self.root / folder: names for folder, names in self.names.items()}


def check_image_files(
    root: Path,
    names: Sequence[str],
    source: str,
    first_line: int = 2,
    read_headers: bool = True,
    patterns: Sequence[str] = ("{}",),
) -> tuple[np.ndarray, np.ndarray]:
    """Paths of the images and their (width, height); fail naming the CSV line and the file that is missing or
    unreadable.

    `names` are the CSV's ids, each naming its file through `patterns` (the default, "{}": the id is the file's path
    under root; "train/{}.jpg"): the first pattern whose file is there wins (train/{}.jpg, then train/{}.jpeg, for a
    folder that holds both), by its exact name or else by the one name that differs from it only in case
    (FolderNames.find: each folder is listed once, no file is probed per id). `source` names the CSV for messages and
    `first_line` is the line of names[0] in it (2: after the header). Only headers are read (PIL opens lazily: about
    0.1 ms per image), so a JPEG damaged past its header is caught later, when the trainer decodes it, still naming
    the file. read_headers=False checks existence only (sizes are 0).
    """
    root = Path(root)
    listing = FolderNames(root)
    found = [listing.find(patterns, str(name)) for name in names]
    missing = [i for i, f in enumerate(found) if f is None]
    if missing:
        i = missing[0]
        first = patterns[0].format(names[i])
        others = f" (or {', '.join(repr(p.format(names[i])) for p in patterns[1:])})" if len(patterns) > 1 else ""
        shown = ", ".join(repr(patterns[0].format(names[j])) for j in missing[:5])
        raise ImageFileError(
            f"{source} line {i + first_line}: image {first!r}{others} not found in {root} ({len(missing)} missing "
            f"image(s) in all, first: {shown}){likely_cause(root, Path(first), listing.by_path())}."
        )
    paths = np.array([str(root / n) for n in found], dtype=object)
    sizes = np.zeros((len(names), 2), dtype=np.int64)
    if read_headers:
        from PIL import Image

        for i, p in enumerate(paths):
            try:
                if is_dicom(p):
                    sizes[i] = dicom_size(p)
                    continue
                with Image.open(p) as im:
                    sizes[i] = im.size
            except DicomError as e:
                raise ImageFileError(f"{source} line {i + first_line}: {e}") from None
            except Exception as e:
                raise ImageFileError(
                    f"{source} line {i + first_line}: image {found[i]} is not a readable image "
                    f"({type(e).__name__}: {e}); replace the file (download the data again)."
                ) from None
    return paths, sizes


def likely_cause(root: Path, rel: Path, listing: dict[Path, set[str]] | None = None) -> str:
    """A hint for a listed image that is not there: the same name in another case (`.JPG` for `.jpg`; where several
    are, as check_image_files takes none of them), or one folder deeper (an archive extracted into a folder of its
    own name, `train/train/`); empty when neither. `listing`: the folders' names already read (else the folder is
    listed here)."""
    folder = root / rel.parent
    if listing is not None and folder in listing:
        names = listing[folder]
    else:
        names = set(os.listdir(folder)) if folder.is_dir() else set()
    same = sorted(n for n in names if n.lower() == rel.name.lower())
    if len(same) > 1:
        shown = " and ".join(str(folder / n) for n in same)
        return f"; {shown} are there, names that differ from it only in case: rename the one meant to {rel.name}"
    if same:
        return f"; {folder / same[0]} is there: the names differ in case"
    for inner in sorted(n for n in names if (folder / n).is_dir()):
        if (folder / inner / rel.name).is_file():
            return f"; {folder / inner / rel.name} is there: one folder deeper than the CSV says"
    return ""


def other_case(root: Path, names: Sequence[str], paths: Sequence[str], patterns: Sequence[str], source: str) -> str:
    """The one line saying how many of a CSV's ids check_image_files found a file for under a name that differs from
    theirs only in case (x.PNG for a listed x.png: read as it is named, which Linux and Kaggle need), with the first
    as an example; "" when every id names its file exactly. `paths`: check_image_files' paths of `names`."""
    root = Path(root)
    odd = [
        i
        for i, (name, path) in enumerate(zip(names, paths, strict=True))
        if all(not _exactly(root, p, name, path) for p in patterns)
    ]
    if not odd:
        return ""
    first = odd[0]
    shown = Path(paths[first]).relative_to(root).as_posix()
    return (
        f"images: {len(odd)} of {len(names)} {source} ids name their file in another case ({names[first]}: {shown}); "
        "each is read as its file is named"
    )


def _exactly(root: Path, pattern: str, name: str, path: str) -> bool:
    """Whether `pattern` names `path` for `name` exactly (as check_image_files joins an exact name): the same path,
    or for a deep pattern the same file name under its folder."""
    if (parts := deep_parts(pattern)) is None:
        return str(root / pattern.format(name)) == path
    return path.startswith(str(root / parts[0])) and Path(path).name == parts[1].format(name)


# .dcm and .dicom: pipeline/dicom.py
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".dcm", ".dicom")


def is_image(name: str) -> bool:
    """An image file, by its name's suffix (in any case)."""
    return name.lower().endswith(IMAGE_SUFFIXES)


CACHE_FILE = ".images-verified"  # in the data folder: one line per verified listing (a hash of paths, sizes, mtimes)
_CHUNK = 2000


def decode_problem(path: str) -> str | None:
    """Why an image cannot be decoded, or None.

    PNGs are verified (every chunk read to IEND and its CRC checked, no inflating: 3x faster than a decode, and a
    truncated or damaged file fails); JPEGs decode at 1/8 scale (draft: the whole entropy-coded stream is still
    read); other formats, DICOM's included (pipeline.dicom.read_dicom), decode fully.
    """
    return _inspect(path)[0]


def _inspect(path: str) -> tuple[str | None, tuple[int, int]]:
    """decode_problem's answer and the image's (width, height) from its header ((0, 0) when it has none)."""
    from PIL import Image

    if is_dicom(path):
        try:
            image = read_dicom(path)
        except DicomError as e:
            return e.why, (0, 0)
        return None, (image.shape[1], image.shape[0])
    size = (0, 0)
    try:
        with Image.open(path) as im:
            size = im.size
            if im.format == "PNG":
                im.verify()
                return None, size
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
    except Exception as e:
        return f"{type(e).__name__}: {e}", size
    return None, size


Found = tuple[list[tuple[int, str]], list[tuple[int, tuple[int, int]]]]  # damaged (row, why), off-size (row, size)


def _check_chunk(paths: list[str], size: tuple[int, int] | None = None) -> Found:
    """The damaged images of `paths` and, when `size` is given, the readable ones of another (width, height)."""
    damaged, off_size = [], []
    for i, p in enumerate(paths):
        why, found = _inspect(p)
        if why is not None:
            damaged.append((i, why))
        elif size is not None and found != tuple(size):
            off_size.append((i, found))
    return damaged, off_size


def _listing_key(paths: Sequence[str], size: tuple[int, int] | None) -> str:
    import hashlib

    h = hashlib.sha256(f"size {tuple(size)}\n".encode() if size is not None else b"")
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def image_paths(*arrays: object) -> list[str]:
    """The images among a Data's X / X_test (arrays of path strings), in order, one per row: a file's path, or an
    image of several channel files as pipeline/stacked.py names it (`stacked.every_file` lists the files); [] for
    other inputs."""
    out: list[str] = []
    for a in arrays:
        listed = isinstance(a, np.ndarray) and a.ndim == 1 and len(a) and isinstance(a[0], str | os.PathLike)
        if listed and is_image(files_of(a[0])[0]):
            out.extend(str(p) for p in a)
    return out


def _as_found(path: str) -> str:
    """The file a path names: the user's own where the data cache links to their --data folder (the message's
    "replace the file" must point at the file they have), else the path as given."""
    real = os.path.realpath(path)
    return real if real != os.path.abspath(path) else path


def verify_images(
    paths: Sequence[str],
    cache_dir: Path | None = None,
    workers: int | None = None,
    show_progress: bool = False,
    size: tuple[int, int] | None = None,
    owner: str = "the competition",
) -> int:
    """Decode every image (see decode_problem) before training; fail naming the first damaged file. With `size`
    (width, height: a competition's IMAGE_SIZE), every image must have it too; the failure names the first few
    that do not, their sizes, and how many there are (`owner` names whose size it is).

    The verified listing is remembered in cache_dir/.images-verified (when writable), so the check runs once per
    data folder until a file is added, removed or changed. Returns the number of images decoded (0 when cached).
    """
    if not paths:
        return 0
    key = _listing_key(paths, size)
    cache = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    if cache is not None and cache.is_file() and key in cache.read_text().split():
        return 0
    chunks = [list(paths[i : i + _CHUNK]) for i in range(0, len(paths), _CHUNK)]
    workers = workers or min(len(chunks), usable_cores())
    bad: list[tuple[int, str]] = []
    off: list[tuple[int, tuple[int, int]]] = []
    from pipeline.runlog import progress

    with progress(show_progress) as bar:
        task = bar.add_task("checking images", total=len(paths))

        def take(c: int, found: Found) -> None:
            bad.extend((c * _CHUNK + i, why) for i, why in found[0])
            off.extend((c * _CHUNK + i, wh) for i, wh in found[1])
            bar.advance(task, len(chunks[c]))

        if workers <= 1 or len(chunks) == 1:
            for c, chunk in enumerate(chunks):
                take(c, _check_chunk(chunk, size))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold CUDA or thread pools
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for c, found in enumerate(pool.map(_check_chunk, chunks, [size] * len(chunks))):
                    take(c, found)
    if bad:
        i, why = bad[0]
        more = f" ({len(bad)} damaged image(s) in all)" if len(bad) > 1 else ""
        raise ImageFileError(
            f"image {_as_found(paths[i])} cannot be decoded ({why}){more}; replace the file (download the data "
            "again). A test image's row must stay: Kaggle scores every row of the sample submission."
        )
    if off:
        w, h = size  # type: ignore[misc]  # off holds images only when a size was given
        shown = listed([f"{_as_found(paths[i])} is {fw}x{fh}" for i, (fw, fh) in off], 5)
        raise ImageFileError(
            f"{len(off)} image(s) are not {w}x{h} pixels (width x height), the size every image of {owner} has: "
            f"{shown}. Replace them with the competition's own files (download the "
            "data again)."
        )
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            old = cache.read_text().split() if cache.is_file() else []
            from pipeline.atomic import write_text

            write_text(cache, "\n".join([*old[-20:], key]) + "\n")
        except OSError:
            pass  # a read-only data folder: the check simply runs again next time
    return len(paths)
