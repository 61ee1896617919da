"""Numbered photos of one id (PetFinder Adoption's train_images/<PetID>-1.jpg, <PetID>-2.jpg ..., a varying number of
them), found for a competition whose FILES pattern marks the number by VIEW ("train_images/{}-{view}.jpg", which
`new` writes: pipeline/vision/infer_views.py).

`load` lists the pattern's folder once and gives each id all its photos, in their numbers' order, as one name of
several views (pipeline/views.py): the networks train on one of them per epoch and predict the id as the mean over
them. An id with no photo is refused, naming its line, the id and the file tried, and how many others lack one: an
answer for an id the network never sees would be a guess, so drop its row from the CSV (or give it a photo).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.imagefiles import check_image_files
from pipeline.listing import listed
from pipeline.views import joined

VIEW = "{view}"  # in a FILES pattern: where a photo's file name holds its number


def is_view_pattern(pattern: str | Sequence[str]) -> bool:
    """Whether a FILES pattern (or any of several) names an id's numbered photos."""
    return any(VIEW in p for p in ((pattern,) if isinstance(pattern, str) else pattern))


def _regex(pattern: str) -> tuple[str, re.Pattern[str]]:
    """A view pattern's folder and the regex of its file names: the id, then the photo's number."""
    folder, _, name = pattern.rpartition("/")
    head, _, tail = name.partition("{}")
    if VIEW not in tail or "{}" in tail or "**" in folder:
        raise ContractError(
            f"FILES pattern {pattern!r}: a pattern of numbered photos is one folder's <id>{{sep}}{VIEW}<suffix> "
            '("train_images/{}-{view}.jpg"), the id before the number.'
        )
    before, _, after = tail.partition(VIEW)
    return folder, re.compile(f"{re.escape(head)}(?P<id>.+){re.escape(before)}(?P<k>[0-9]+){re.escape(after)}")


def photos_by_id(root: Path, pattern: str) -> dict[str, list[str]]:
    """Each id's photo files (relative to root), in their numbers' order, from one listing of the pattern's folder."""
    folder, regex = _regex(pattern)
    where = root / folder if folder else root
    names = sorted(p.name for p in where.iterdir()) if where.is_dir() else []
    found: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        if m := regex.fullmatch(name):
            found.setdefault(m["id"], []).append((int(m["k"]), f"{folder}/{name}" if folder else name))
    return {key: [f for _, f in sorted(files)] for key, files in found.items()}


def find_view_images(
    data_dir: Path, pattern: str | tuple[str, ...], ids: pd.Series, source: str, headers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each id's photos as one name of several views (pipeline/views.py; an id of one photo: its path) and its first
    photo's (width, height); an id with none is refused, naming the CSV `source`'s line, the id and the file tried,
    and an unreadable photo naming its file (imagefiles.check_image_files)."""
    if not isinstance(pattern, str):
        if len(pattern) != 1:
            raise ContractError(f"FILES pattern {pattern}: numbered photos are found through one pattern, not several.")
        pattern = pattern[0]
    root = Path(data_dir)
    photos = photos_by_id(root, pattern)
    lists = [photos.get(str(key), []) for key in ids]
    if missing := [i for i, files in enumerate(lists) if not files]:
        tried = f"no {pattern.replace(VIEW, '<n>').format(ids.iloc[missing[0]])} in {root}"
        raise no_photo(source, ids, missing, tried)
    flat = [f for files in lists for f in files]
    paths, sizes = check_image_files(root, flat, source, 2, headers, ("{}",))
    starts = np.cumsum([0] + [len(files) for files in lists[:-1]])
    names = [joined(list(paths[s : s + len(files)])) for s, files in zip(starts, lists, strict=True)]
    return np.array(names, dtype=object), sizes[starts]


def no_photo(where: str, ids: pd.Series, missing: list[int], tried: str) -> ContractError:
    """The refusal of ids without a photo (`missing`: their positions in the CSV `where`), naming the first one's
    line, the id and what was `tried` for it, and how many others have none."""
    row = missing[0]
    shown = listed([repr(str(ids.iloc[i])) for i in missing], 5)
    return ContractError(
        f"{where} line {row + 2}: {ids.name} {ids.iloc[row]!r} has no photo: {tried} ({len(missing)} of {len(ids)} "
        f"{ids.name}s have none: {shown}); each row is predicted from its photos: add one, or remove the row."
    )
