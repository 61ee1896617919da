"""How `python -m pipeline new` tells a download of one file per channel (Human Protein Atlas' train/<Id>_red.png,
<Id>_green.png, <Id>_blue.png, <Id>_yellow.png) from one of an image per id, and which channels it has, in order.

Where no file is named by an id (<id>.png), but the first 200 ids' files are <id><sep><channel><suffix> (sep "_" or
"-") in one folder, every id the same set of two or more (typos aside: 9 in 10 of them, the others lacking some), not
all of them numbers (<PetID>-1.jpg, <PetID>-2.jpg are photos of a pet, as PetFinder Adoption's), the download's images
are stacked channels: the pattern "train/{}_{channel}.png", the channels that set, red, green, blue, yellow in that
order, then any other sorted (pipeline.vision.channels.ordered). Every id of a CSV must have a file of each (an id
lacking one is refused naming its line, the id and the file), the test ids the training ids' channels. The generated
Config states them (`channels`), for the user to drop or reorder.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.vision.channels import CHANNEL, ordered

SEPARATORS = "_-"
SAMPLED = 200  # the ids whose files tell the layout, as for images of one file (image_ids.candidates)
MOSTLY = 0.9  # of them have every channel file: the others lack one, refused by name

Place = tuple[str, str, str]  # a channel file's folder ("train/"), separator ("_") and suffix (".png")


@dataclass(frozen=True)
class ChannelFiles:
    """The download's image files by the id their name may start with: for each separator in a file's stem, the part
    before it (in lower case) -> the file's place and the part after it (its channel, as named)."""

    by_head: dict[str, list[tuple[Place, str]]]

    @classmethod
    def of(cls, names: tuple[str, ...]) -> ChannelFiles:
        """The index of the download's image files `names`."""
        by_head: dict[str, list[tuple[Place, str]]] = {}
        for n in names:
            p = PurePosixPath(n)
            folder = "" if str(p.parent) == "." else f"{p.parent}/"
            for i, char in enumerate(p.stem):
                if char in SEPARATORS and 0 < i < len(p.stem) - 1:
                    by_head.setdefault(p.stem[:i].lower(), []).append(((folder, char, p.suffix), p.stem[i + 1 :]))
        return cls(by_head)

    def channels(self, key: str, place: Place) -> set[str]:
        """The channels of `key`'s files at `place`."""
        return {channel for at, channel in self.by_head.get(str(key).lower(), []) if at == place}

    def places(self, key: str) -> Counter[Place]:
        """The places of `key`'s files with how many channels each holds."""
        return Counter(at for at, _ in self.by_head.get(str(key).lower(), []))


def pattern_of(place: Place) -> str:
    """The FILES pattern of a place: "train/{}_{channel}.png"."""
    folder, sep, suffix = place
    return f"{folder}{{}}{sep}{CHANNEL}{suffix}"


def place_of(pattern: str) -> Place | None:
    """The place of a channel pattern (pattern_of's), or None for the pattern of one file an id."""
    head, marked, suffix = pattern.partition(CHANNEL)
    if not marked or not head.endswith(("{}_", "{}-")):
        return None
    return head[:-3], head[-1], suffix


@dataclass(frozen=True)
class Layout:
    """Stacked channels found: their pattern ("train/{}_{channel}.png"), the channels in order, and how many of the
    first SAMPLED ids have a file of each."""

    pattern: str
    channels: tuple[str, ...]
    whole: int


def channel_layout(ids: pd.Series, files: ChannelFiles) -> Layout | None:
    """The stacked channels of the ids' files, or None: at a place where the first SAMPLED ids have the same set of
    two channels or more, typos aside (MOSTLY of them; the others a part of it, an id lacking a file, which
    check_channels refuses naming it). Numbered files are photos of an id, no channels (PetFinder Adoption's
    <PetID>-1.jpg, <PetID>-2.jpg ..., in varying number besides). Of several places, the one of most such ids, then
    by name."""
    sampled = [str(key) for key in ids.iloc[:SAMPLED]]
    places = {place for key in sampled for place in files.places(key)}
    found = []
    for place in sorted(places):
        sets = Counter(frozenset(files.channels(key, place)) for key in sampled)
        best = max(sets, key=lambda held: (sets[held], len(held), sorted(held)))
        numbered = all(channel.isdigit() for channel in best)  # photos 1, 2 ... of an id, no channels
        if len(best) >= 2 and not numbered and sets[best] >= MOSTLY * len(sampled) and all(h <= best for h in sets):
            found.append(Layout(pattern_of(place), ordered(sorted(best)), sets[best]))
    return max(found, key=lambda layout: layout.whole, default=None)


def layout_channels(ids: pd.Series, files: ChannelFiles, pattern: str, where: str) -> tuple[str, ...]:
    """The channels of the ids' layout (channel_layout's, whose pattern image_pattern chose), every id of the CSV
    `where` checked to have a file of each (check_channels)."""
    layout = channel_layout(ids, files)
    assert layout is not None and layout.pattern == pattern, (layout, pattern)
    check_channels(ids, files, pattern, layout.channels, where)
    return layout.channels


def check_channels(ids: pd.Series, files: ChannelFiles, pattern: str, channels: tuple[str, ...], where: str) -> None:
    """Every id of the CSV `where` has a file of each channel at `pattern`'s place, else the first that lacks one
    is refused naming its line, the id and the file."""
    place = place_of(pattern)
    assert place is not None, pattern
    for row, key in enumerate(ids):
        if missing := [c for c in channels if c not in files.channels(str(key), place)]:
            lacking = sum(not set(channels) <= files.channels(str(k), place) for k in ids)
            shown = pattern.replace(CHANNEL, missing[0]).format(key)
            raise ContractError(
                f"{where} line {row + 2}: {ids.name} {key!r} has no {missing[0]} channel: {shown} is not in the "
                f"download ({lacking} of {len(ids)} {ids.name}s lack a channel); the images are one file per channel "
                f"({listed(channels)}), each id a file of each: add the file, or remove the id's row."
            )
