"""How `python -m pipeline new` tells a download of numbered photos per id (PetFinder Adoption's train_images/
<PetID>-1.jpg, <PetID>-2.jpg ..., a varying number of them) from one of an image per id.

Where no file is named by an id, but half of the first 200 ids at least have files <id><sep><number><suffix> (sep
"-" or "_") in one folder, the ids' images are those photos: the pattern "train_images/{}-{view}.jpg"
(pipeline/vision/view_files.py reads it), of the folder where most of those ids have one. Every id of a CSV must have
a photo at least (an id with none is refused naming its line, the id, the file tried and how many others lack one):
a row the network never sees would be answered by a guess.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import pandas as pd

from pipeline.contract import ContractError
from pipeline.vision.infer_channels import SAMPLED, ChannelFiles, Place
from pipeline.vision.view_files import VIEW, is_view_pattern, no_photo


class Indexed(Protocol):
    """The download's image files (image_ids.ImageNames, which imports this module) as view_notes reads them."""

    @property
    def channel_files(self) -> ChannelFiles: ...


def numbers(files: ChannelFiles, key: str, place: Place) -> list[int]:
    """The numbers of `key`'s photos at `place`."""
    return [int(rest) for at, rest in files.by_head.get(str(key).lower(), []) if at == place and rest.isdigit()]


def view_pattern(ids: pd.Series, files: ChannelFiles) -> tuple[str, int] | None:
    """The pattern of the ids' numbered photos ("train_images/{}-{view}.jpg") and how many of the first SAMPLED ids
    it finds photos for, or None where it finds them for fewer than half."""
    sampled = [str(key) for key in ids.iloc[:SAMPLED]]
    seen: Counter[Place] = Counter()
    for key in sampled:
        seen.update({at for at, rest in files.by_head.get(key.lower(), []) if rest.isdigit()})
    if not seen:
        return None
    (folder, sep, suffix), whole = max(seen.items(), key=lambda item: (item[1], item[0]))
    return (f"{folder}{{}}{sep}{VIEW}{suffix}", whole) if 2 * whole >= len(sampled) else None


def place_of_views(pattern: str) -> Place:
    """The place of a view pattern (view_pattern's)."""
    head, _, suffix = pattern.partition(VIEW)
    return head[:-3], head[-1], suffix


def check_views(ids: pd.Series, files: ChannelFiles, pattern: str, where: str) -> tuple[int, int]:
    """Every id of the CSV `where` has a photo at `pattern`'s place, else the first that lacks one is refused naming
    its line, the id and the file tried; the fewest and most photos an id has."""
    place = place_of_views(pattern)
    counts = [len(numbers(files, str(key), place)) for key in ids]
    if missing := [i for i, n in enumerate(counts) if n == 0]:
        tried = f"{pattern.replace(VIEW, '1').format(ids.iloc[missing[0]])} is not in the download"
        raise no_photo(where, ids, missing, tried)
    return min(counts), max(counts)


def view_notes(
    train: tuple[pd.Series, str, tuple[str, ...]], test: tuple[pd.Series, str, tuple[str, ...]], images: Indexed
) -> list[str]:
    """The note on numbered photos (`train`, `test`: a CSV's ids, its name and image_ids.image_pattern's patterns),
    every id of both checked to have one (check_views); photos on one side and one image an id on the other are
    refused."""
    odd = next(((where, p[0]) for _, where, p in (train, test) if not is_view_pattern(p)), None)
    if odd is not None:
        raise ContractError(
            f"{odd[0]}'s images are one file an id ({odd[1].replace('{}', '<id>')}), the others numbered photos of "
            "an id; both are one or the other."
        )
    shown = []
    for ids, where, (pattern,) in (train, test):
        low, high = check_views(ids, images.channel_files, pattern, where)
        many = f"{low} to {high}" if low != high else str(low)
        shown.append(f"{where}'s {ids.name} names {pattern.replace(VIEW, '<n>').format('<id>')} ({many} an id)")
    return [
        f"images: numbered photos of an id: {'; '.join(shown)}; training shows one photo of an id each epoch (drawn "
        "per id and epoch), and an id is predicted as the mean over its photos"
    ]
