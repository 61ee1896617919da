"""How the ids of an image download's CSVs name its images, for `python -m pipeline new`
(pipeline/vision/infer.py): the pattern that finds each id's file ("train/{}.jpg"; "{}": the id is the path), or the
patterns of one folder that holds several suffixes ("train/{}.jpg", then "train/{}.jpeg"), and the ids whose files
are named in another case (x.png listed, x.PNG in the download), which `run` reads as they are named
(pipeline.imagefiles.FolderNames)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.imagefiles import is_image
from pipeline.tabular.infer_files import Source


def folded(path: str) -> str:
    """A path with its file's name in lower case: two files of one folder whose names differ only in case fold alike."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/{name.lower()}"


@dataclass(frozen=True)
class ImageNames:
    """The download's image files, read once: in order, as a set, by the names an id may give (the file's name
    without its suffix, or with it, in lower case), and by their folded paths (files named in another case than an
    id, as `run` finds them: pipeline.imagefiles.FolderNames)."""

    names: tuple[str, ...]
    paths: frozenset[str]
    by_name: dict[str, list[str]]
    by_folded: dict[str, list[str]]

    @classmethod
    def of(cls, source: Source) -> ImageNames:
        names = tuple(filter(is_image, source.names))
        by_name: dict[str, list[str]] = {}
        by_folded: dict[str, list[str]] = {}
        for n in names:
            p = PurePosixPath(n)
            by_name.setdefault(p.stem.lower(), []).append(n)
            if p.name != p.stem:
                by_name.setdefault(p.name.lower(), []).append(n)
            by_folded.setdefault(folded(n), []).append(n)
        return cls(names, frozenset(names), by_name, by_folded)

    def finds(self, ids: pd.Series, pattern: str, exact: bool = False) -> pd.Series:
        """Whether `pattern` finds each id's image: by its exact path, or (not `exact`) by the one path of its folder
        that differs from it only in case (x.PNG for x.png)."""
        paths = ids.map(pattern.format)
        hit = paths.isin(self.paths)
        if exact or hit.all():
            return hit
        return hit | paths.map(lambda path: len(self.by_folded.get(folded(path), ())) == 1)


def candidates(ids: pd.Series, images: ImageNames) -> Counter[str]:
    """Patterns ("train/{}.png", "{}") that find an image for some of the first 200 ids, with how many they find."""
    as_paths = int(images.finds(ids.iloc[:200], "{}").sum())
    if as_paths:
        return Counter({"{}": as_paths})
    seen: Counter[str] = Counter()
    for i in ids.iloc[:200]:
        for n in images.by_name.get(i.lower(), []):
            p = PurePosixPath(n)
            folder = "" if str(p.parent) == "." else f"{p.parent}/"
            seen[folder + "{}" + ("" if p.name.lower() == i.lower() else p.suffix)] += 1
    return seen


def names_images(ids: pd.Series, images: ImageNames) -> bool:
    """Whether a column's values name the download's images: half of its first 200 at least."""
    return 2 * sum(candidates(ids, images).values()) >= min(len(ids), 200)


def _other_suffixes(
    ids: pd.Series, images: ImageNames, pattern: str, hit: pd.Series
) -> tuple[tuple[str, ...], pd.Series]:
    """`pattern` ("train/{}.jpg") and, for the ids it finds no image for, the patterns of its folder with another
    suffix that do ("train/{}.jpeg": a folder of both), the one finding most first; and which ids they all find."""
    patterns = [pattern]
    folder, _, suffix = pattern.partition("{}")
    while suffix and not hit.all():
        more = candidates(ids[~hit], images)
        mates = [p for p in more if p.partition("{}")[0] == folder and p.partition("{}")[2] and p not in patterns]
        if not mates:
            break
        patterns.append(max(mates, key=lambda p: (more[p], p)))
        hit = hit | images.finds(ids, patterns[-1])
    return tuple(patterns), hit


def image_pattern(ids: pd.Series, images: ImageNames, role: str, where: str) -> tuple[str, ...]:
    """The pattern that finds an image for every id, or else the patterns of one folder that do with several suffixes
    (train/{}.jpg, then train/{}.jpeg), tried in order. Where several do (CIFAR-10's test folder also holds images 1
    to 50000), the one whose folder names `role` wins; where none does, the refusal names the first id without one."""
    seen = candidates(ids, images)
    found = {pattern: images.finds(ids, pattern) for pattern in seen}
    whole = [pattern for pattern, hit in found.items() if hit.all()]
    if whole:
        return (sorted(whole, key=lambda pattern: (role not in pattern.lower(), -seen[pattern], pattern))[0],)
    if not found:
        raise ContractError(f"{where}: no {ids.name} names an image of the download (the first: {ids.iloc[0]!r}).")
    nearest = max(found, key=lambda pattern: (found[pattern].sum(), -len(pattern)))
    patterns, hit = _other_suffixes(ids, images, nearest, found[nearest])
    if hit.all():
        return patterns
    row = int((~hit).to_numpy().argmax())
    tried = [p.format(ids.iloc[row]) for p in patterns]
    twins = images.by_folded.get(folded(tried[0]), [])
    hint = f"; {' and '.join(twins)} differ from it only in case: rename the one meant" if len(twins) > 1 else ""
    raise ContractError(
        f"{where} line {row + 2}: {ids.name} {ids.iloc[row]!r} names no image: {' or '.join(tried)} is not in the "
        f"download ({int((~hit).sum())} of {len(ids)} {ids.name}s name none){hint}."
    )


def case_notes(ids: pd.Series, images: ImageNames, patterns: tuple[str, ...], where: str) -> list[str]:
    """A note of the ids whose images are named in another case (x.png listed, x.PNG in the download), which `run`
    reads as they are named."""
    exact = pd.concat([images.finds(ids, p, exact=True) for p in patterns], axis=1).any(axis=1)
    if exact.all():
        return []
    row = int((~exact).to_numpy().argmax())
    path = next(p.format(ids.iloc[row]) for p in patterns if folded(p.format(ids.iloc[row])) in images.by_folded)
    return [
        f"images: {int((~exact).sum())} of {len(ids)} {where} {ids.name}s name their file in another case "
        f"({ids.iloc[row]}: {images.by_folded[folded(path)][0]}); run reads each file as it is named"
    ]


def where_images(patterns: tuple[str, ...]) -> str:
    """Where an id's image is, in words."""
    if patterns == ("{}",):
        return "is the image's path"
    return "names " + " or ".join(p.format("<id>") for p in patterns) + (" (the first there)" if patterns[1:] else "")
