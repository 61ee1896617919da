"""Image files known by their bytes: which files of one list are byte for byte files of another (a picture saved
again under another name), and the digests of a run's training images, saved in its folder (train_images.json) so
that `predict`, reading a new test set alone, can tell a test image that is one of them.

Such a copy is warned of, by the run and by predict, naming the rows: its prediction comes from models that learned
that very picture, so it says nothing of new data; but a real download may hold such copies (a picture published
twice), and the user cannot change Kaggle's test set, so neither refuses it. A test row naming a training file or id
is another matter: the competition's own load refuses that (cowboy_outfits' check_overlap).

An image of several channel files (pipeline/stacked.py) is one image here: its digest is of its files together, so a
test image is a training image's copy only when every channel is (a blank channel shared by many images is none).

Only files of equal size are read and hashed (sha256 of the bytes) when two lists are compared: a stat a file
otherwise. A run saves every training image's size and digest: one read of each file, on the first run; the digests
are remembered beside the image check's cache (pipeline/digestcache.py), so a later run or predict on the same
unchanged files reads none of them again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.atomic import read_json, write_json
from pipeline.contract import ContractError
from pipeline.digestcache import ALGORITHM, digests
from pipeline.listing import listed
from pipeline.stacked import channel_files, is_stacked, size_of, stacked
from pipeline.views import has_views, joined, views_of

RECORD_FILE = "train_images.json"
SHOWN = 5  # test rows a refusal quotes (then their count)


def save_training_images(
    run_dir: Path, paths: Sequence[str], root: Path, cache_dir: Path | None = None
) -> list[dict[str, Any]]:
    """The run's train_images.json: each training image's file (relative to the data folder `root`), size and
    digest, in training-row order; returned as saved. `cache_dir`: where digests are remembered (digestcache)."""
    found = digests(paths, cache_dir)
    images = [
        {"file": _relative(p, root), "bytes": size, ALGORITHM: d} for p, (size, d) in zip(paths, found, strict=True)
    ]
    write_json(Path(run_dir) / RECORD_FILE, {"algorithm": ALGORITHM, "images": images})
    return images


def _found(images: list[dict[str, Any]], paths: Sequence[str], cache_dir: Path | None) -> dict[int, int]:
    """For each of `paths` whose bytes are those of one of the saved training `images`: its index -> the first such
    image's. Only paths of a saved image's size are hashed (or their digests read from `cache_dir`)."""
    by_size: dict[int, list[int]] = {}
    for k, image in enumerate(images):
        by_size.setdefault(int(image["bytes"]), []).append(k)
    sized = [i for i, path in enumerate(paths) if size_of(path) in by_size]
    found: dict[int, int] = {}
    for i, (size, digest) in zip(sized, digests([paths[i] for i in sized], cache_dir), strict=True):
        if (k := next((k for k in by_size.get(size, []) if images[k][ALGORITHM] == digest), None)) is not None:
            found[i] = k
    return found


def saved_training_images(run_dir: Path) -> list[dict[str, Any]] | None:
    """The training images train_images.json lists; None for a run folder without it (a run from before it was
    saved, or one whose training inputs are no image files)."""
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        return None
    record = read_json(path)
    if record.get("algorithm") != ALGORITHM or not isinstance(record.get("images"), list):
        raise ContractError(f"{path}: not a list of {ALGORITHM} digests of the run's training images.")
    return record["images"]


def copies_message(hits: list[str], what: str) -> str:
    """The warning line for test images that are training images byte for byte (`hits`: one phrase each)."""
    return (
        f"{len(hits)} test image(s) are {what}, byte for byte: {listed(hits, SHOWN, '; ')}; their predictions come "
        "from models that learned those very pictures"
    )


def run_copies(
    images: list[dict[str, Any]], test_paths: Sequence[str], root: Path, cache_dir: Path | None = None
) -> str:
    """The run's warning line when some test images are, byte for byte, its training `images` (as
    save_training_images saved them) under other names ('' when none). `cache_dir`: as save_training_images'."""
    found = _found(images, test_paths, cache_dir)
    hits = [
        f"test row {i + 1} {_relative(test_paths[i], root)!r} is training row {k} {images[k]['file']!r}"
        for i, k in sorted(found.items())
    ]
    return copies_message(hits, "training images") if hits else ""


def check_test_images(
    run_dir: Path, paths: Sequence[str], ids: Sequence[Any], listing: Path, root: Path, cache_dir: Path | None = None
) -> str:
    """predict's warning line for test images (`paths`, their `ids`, listed in `listing`) whose bytes are one of the
    run's training images', whatever their names ('' when none); when the run saved no digests, a line saying
    nothing was checked. `cache_dir`: where digests are remembered (pipeline/digestcache.py)."""
    images = saved_training_images(run_dir)
    if images is None:
        return (
            f"run {Path(run_dir).name} saved no digests of its training images (a run from before they were saved): "
            "the test images are not checked against them"
        )
    found = _found(images, paths, cache_dir)
    csv = listing.suffix == ".csv"  # a listing with a header: test row i is its line i + 2
    hits = [
        f"{listing.name} {f'line {i + 2}' if csv else f'test row {i + 1}'} (id {ids[i]}): "
        f"{_relative(paths[i], root)!r} is training image {images[k]['file']!r} (training row {k})"
        for i, k in sorted(found.items())
    ]
    return copies_message(hits, f"training images of run {Path(run_dir).name}") if hits else ""


def _relative(path: str | os.PathLike[str], root: Path) -> str:
    """A file's path as the data folder names it (images/x.jpg), or as given when it lies elsewhere; an image of
    several channel files (pipeline/stacked.py) as its files' so named, joined as it is."""
    if has_views(path):
        return joined([_relative(view, root) for view in views_of(path)])
    if is_stacked(path):
        return stacked([_relative(file, root) for file in channel_files(path)])
    rel = os.path.relpath(path, root)
    return str(path) if rel.startswith("..") else Path(rel).as_posix()
