"""How the ids of an image download's CSVs name its images, for `python -m pipeline new`
(pipeline/vision/infer.py): the column of a CSV whose values name images, the pattern that finds each id's file
("train/{}.jpg"; "{}": the id is the path), or the patterns tried in order of one folder that holds several suffixes
("train/{}.jpg", then "train/{}.jpeg") and of several folders that each hold some of the ids' images (Planet's
"test-jpg/{}.jpg", then "test-jpg-additional/{}.jpg"), and the ids whose files are named in another case (x.png
listed, x.PNG in the download), which `run` reads as they are named (pipeline.imagefiles.FolderNames). Where no
folder holds every id's image but each lies somewhere under one folder (SIIM's dicom-images-train/<study>/<series>/
<id>.dcm), the deep pattern "dicom-images-train/**/{}.dcm" finds them, the deepest such folder's. Where a folder
of DICOM files and a folder of other images (RSNA's .dcm and the PNGs a user converted them to beside them) both hold
every id's image, the other images are read, and a note names both and the FILES field that reads the DICOM ones.
Where no file is named by an id, but each id has one file per channel (Human Protein Atlas' train/<Id>_red.png ...),
the pattern is "train/{}_{channel}.png" (infer_channels.py); where each has numbered photos (PetFinder Adoption's
train_images/<PetID>-1.jpg ...), "train_images/{}-{view}.jpg" (infer_views.py)."""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.dicom import is_dicom
from pipeline.imagefiles import deep_parts, is_image
from pipeline.tabular.infer_files import Source
from pipeline.vision.infer_channels import ChannelFiles, channel_layout
from pipeline.vision.infer_views import view_pattern


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
        """The download's index, built once per Source: holds_images (through infer_targets.image_tables) and
        infer_images read the same one."""
        if source not in _INDEXED:
            _INDEXED[source] = cls._built(source)
        return _INDEXED[source]

    @classmethod
    def _built(cls, source: Source) -> ImageNames:
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

    @cached_property
    def channel_files(self) -> ChannelFiles:
        """The files by the id their name starts with, for images of one file per channel (infer_channels.py)."""
        return ChannelFiles.of(self.names)

    def finds(self, ids: pd.Series, pattern: str, exact: bool = False) -> pd.Series:
        """Whether `pattern` finds each id's image: by its exact path, or (not `exact`) by the one path of its folder
        that differs from it only in case (x.PNG for x.png)."""
        if deep_parts(pattern) is not None:
            return ids.map(lambda key: self.deep_path(pattern, key, exact) is not None).astype(bool)
        paths = ids.map(pattern.format)
        hit = paths.isin(self.paths)
        if exact or hit.all():
            return hit
        return hit | paths.map(lambda path: len(self.by_folded.get(folded(path), ())) == 1)

    def path(self, pattern: str, key: str, exact: bool = False) -> str | None:
        """The file `pattern` finds for `key`, as `finds` judges it: its exact path, or (not `exact`) the one path of
        its folder that differs from it only in case; for a deep pattern, deep_path's. None where it finds none."""
        if deep_parts(pattern) is not None:
            return self.deep_path(pattern, key, exact)
        path = pattern.format(key)
        if path in self.paths:
            return path
        twins = () if exact else self.by_folded.get(folded(path), ())
        return twins[0] if len(twins) == 1 else None

    def deep_path(self, pattern: str, key: str, exact: bool = False) -> str | None:
        """The one file a deep pattern ("train/**/{}.dcm") finds for `key`: named so (not `exact`: in any case)
        anywhere under its folder; None where none or several are."""
        folder, name = deep_parts(pattern) or ("", pattern)
        name = name.format(key)
        found = [
            n
            for n in self.by_name.get(name.lower(), [])
            if n.startswith(folder) and (PurePosixPath(n).name == name if exact else folded(n).endswith(name.lower()))
        ]
        return found[0] if len(found) == 1 else None


_INDEXED: weakref.WeakKeyDictionary[Source, ImageNames] = weakref.WeakKeyDictionary()  # ImageNames.of's, per download


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


def names_images(ids: pd.Series, images: ImageNames, channels: bool = False, views: bool | None = None) -> bool:
    """Whether a column's values name the download's images: half of its first 200 at least, each by a file of its
    name or, with `channels` (image competitions: pipeline/vision/infer.py) where none is, by its files of one channel
    each (infer_channels.channel_layout), or by its numbered photos (infer_views.view_pattern) with `views` (by
    default `channels`)."""
    found = sum(candidates(ids, images).values())
    if not found and channels and (layout := channel_layout(ids, images.channel_files)) is not None:
        found = layout.whole
    if not found and (channels if views is None else views) and (seen := view_pattern(ids, images.channel_files)):
        found = seen[1]
    return 2 * found >= min(len(ids), 200)


def image_column(
    frame: pd.DataFrame,
    images: ImageNames,
    id_col: str,
    exclude: tuple[str, ...] = (),
    channels: bool = False,
    views: bool | None = None,
) -> str | None:
    """The column of a CSV whose values name images (half of its first 200 at least: names_images, by files of one
    channel each too with `channels`, by numbered photos with `views`, by default `channels`), the sample's id column
    `id_col` first, the columns `exclude` (the targets) aside; None when none does."""
    for column in sorted(frame.columns, key=lambda c: c != id_col):
        if column not in exclude and names_images(frame[column], images, channels, views):
            return str(column)
    return None


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


def _other_folders(
    ids: pd.Series, images: ImageNames, patterns: tuple[str, ...], hit: pd.Series
) -> tuple[tuple[str, ...], pd.Series, dict[str, pd.Series]]:
    """For the ids no pattern finds yet, the patterns of other folders that hold them and none of the ids found already
    (Planet's test images in test-jpg/ and test-jpg-additional/, each id in one of them), the one finding most first;
    which ids they all find; and the patterns left aside for holding images found already, with the ids they find."""
    chosen, shared = list(patterns), {}
    while not hit.all():
        more = {p: images.finds(ids, p) for p in candidates(ids[~hit], images) if p not in chosen}
        apart = [p for p, found in more.items() if not (found & hit).any()]
        shared = {p: found for p, found in more.items() if p not in apart}
        if not apart:
            break
        chosen.append(max(apart, key=lambda p: (more[p].sum(), p)))
        hit = hit | more[chosen[-1]]
    return tuple(chosen), hit, shared


def image_pattern(ids: pd.Series, images: ImageNames, role: str, where: str, channels: bool = False) -> tuple[str, ...]:
    """The pattern that finds an image for every id, or else the patterns that do together, tried in order: of one
    folder with several suffixes (train/{}.jpg, then train/{}.jpeg), then of other folders each holding the images of
    ids no folder before holds (test-jpg/{}.jpg, then test-jpg-additional/{}.jpg). Where several patterns find every
    image, one of images other than DICOM wins (the PNGs converted from the DICOM files beside them, decoded faster:
    twin_notes says so), then the one whose folder names `role` (CIFAR-10's test folder also holds images 1 to
    50000), then the one finding most of the first 200 ids, then by name; where none do, the refusal names the first
    id without one and the patterns tried. With `channels` (image competitions), where no file is named by an id but
    each has one file per channel, the channel pattern (infer_channels.channel_layout: "train/{}_{channel}.png")."""
    seen = candidates(ids, images)
    if not seen and channels and (layout := channel_layout(ids, images.channel_files)) is not None:
        return (layout.pattern,)  # one file per channel: infer_channels.py finds the channels and checks every id
    if not seen and channels and (views := view_pattern(ids, images.channel_files)) is not None:
        return (views[0],)  # numbered photos of an id: infer_views.py checks every id has one
    found = {pattern: images.finds(ids, pattern) for pattern in seen}
    whole = [pattern for pattern, hit in found.items() if hit.all()]
    if whole:
        first = str(ids.iloc[0])
        return (min(whole, key=lambda p: (is_dicom(p.format(first)), role not in p.lower(), -seen[p], p)),)
    if not found:
        raise ContractError(f"{where}: no {ids.name} names an image of the download (the first: {ids.iloc[0]!r}).")
    if deep := _deep_pattern(ids, images):
        return (deep,)
    nearest = max(found, key=lambda pattern: (found[pattern].sum(), -len(pattern)))
    patterns, hit = _other_suffixes(ids, images, nearest, found[nearest])
    patterns, hit, shared = _other_folders(ids, images, patterns, hit)
    if hit.all():
        return patterns
    raise _no_image(ids, images, patterns, hit, where, shared)


def _deep_pattern(ids: pd.Series, images: ImageNames) -> str | None:
    """The deep pattern ("dicom-images-train/**/{}.dcm") of the deepest folder, other than the download's top, under
    which each id names one image, the first 200 ids' images' folders tried; None where there is none."""
    tried: set[str] = set()
    for key in ids.iloc[:200]:
        for n in images.by_name.get(str(key).lower(), []):
            p = PurePosixPath(n)
            suffix = "" if p.name.lower() == str(key).lower() else p.suffix
            tried |= {"/".join(p.parts[:depth]) + "/**/{}" + suffix for depth in range(1, len(p.parts) - 1)}
    for pattern in sorted(tried, key=lambda q: (-q.count("/"), q)):
        if images.finds(ids, pattern).all():
            return pattern
    return None


def _no_image(
    ids: pd.Series,
    images: ImageNames,
    patterns: tuple[str, ...],
    hit: pd.Series,
    where: str,
    shared: dict[str, pd.Series],
) -> ContractError:
    """The refusal of the first id no pattern finds an image for: the line, the files tried, and why a file that is
    there was not read (two in one folder that differ only in case; a folder that also holds images found already)."""
    row = int((~hit).to_numpy().argmax())
    key = ids.iloc[row]
    tried = [p.format(key) for p in patterns]
    twins = images.by_folded.get(folded(tried[0]), [])
    hint = f"; {' and '.join(twins)} differ from it only in case: rename the one meant" if len(twins) > 1 else ""
    for pattern, finds in shared.items():
        if finds.iloc[row]:
            both = finds & hit
            other = ids[both].iloc[0]
            first = next(p.format(other) for p in patterns if images.finds(ids[both].iloc[:1], p).all())
            hint += (
                f"; {pattern.format(key)} is there, but its folder also holds {int(both.sum())} image(s) found already "
                f"({other}: {first} and {pattern.format(other)}): an id's image must be in one folder only, remove "
                "the one not meant"
            )
            break
    return ContractError(
        f"{where} line {row + 2}: {ids.name} {key!r} names no image: {' or '.join(tried)} is not in the "
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


def twin_notes(ids: pd.Series, images: ImageNames, patterns: tuple[str, ...], where: str, field: str) -> list[str]:
    """A note where image_pattern chose one folder's images over another's of DICOM files that also holds every id's
    image: both named, which is read, and how to read the other (`field`: FILES' image_path or test_image_path in the
    generated package's __init__.py)."""
    first = str(ids.iloc[0])
    if len(patterns) != 1 or is_dicom(patterns[0].format(first)):
        return []
    dicom = sorted(p for p in candidates(ids, images) if is_dicom(p.format(first)) and images.finds(ids, p).all())
    if not dicom:
        return []
    chosen, other = patterns[0].format("<id>"), dicom[0].format("<id>")
    return [
        f"images: {chosen} and {other} both hold an image for every {where} {ids.name}; {chosen} is read (converted "
        f"images beside DICOM files are read first: decoded faster); to read {other}, set FILES' "
        f'{field}="{dicom[0]}" in the package\'s __init__.py'
    ]


def where_images(patterns: tuple[str, ...]) -> str:
    """Where an id's image is, in words."""
    if patterns == ("{}",):
        return "is the image's path"
    return "names " + " or ".join(p.format("<id>") for p in patterns) + (" (the first there)" if patterns[1:] else "")
