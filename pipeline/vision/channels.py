"""Images of one greyscale file per channel (Human Protein Atlas' train/<Id>_red.png, <Id>_green.png, <Id>_blue.png,
<Id>_yellow.png; microscopy and satellite bands): the channels' order, each id's channel files, and each channel's
normalisation.

Such a competition names its channels in its Config (`channels = ("red", "green", "blue", "yellow")`, which `new`
writes: pipeline/vision/infer_channels.py; drop one, or reorder them, there) and marks where a file's name holds its
channel in FILES' image_path ("train/{}_{channel}.png"). `load` finds each id's file of every channel, refusing an id
that lacks one (naming the id and the file), and gives each row as one image of several files
(pipeline/stacked.py): read as H x W x C (pipeline.vision.data.read_channels), augmented by the loader's transforms
(albumentations' geometric ones take any channel count; pipeline/vision/augment.py swaps the colour jitter, which takes
three, for brightness and contrast), normalised per channel (channel_stats) and learnt by a timm network built with
in_chans = C (pipeline/vision/pretrained.py; timm adapts the pretrained first convolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.imagefiles import FolderNames, check_image_files, other_case
from pipeline.listing import listed
from pipeline.stacked import SEP, stacked

CHANNEL = "{channel}"  # in a FILES pattern: where a channel file's name holds its channel
KNOWN_ORDER = ("red", "green", "blue", "yellow")  # Human Protein Atlas': RGB first, as pretrained weights saw them


def ordered(names: Sequence[str]) -> tuple[str, ...]:
    """Channels in their order: red, green, blue, yellow as they come in KNOWN_ORDER (a pretrained network's first
    three are RGB), then the others sorted."""
    known = [n for n in KNOWN_ORDER if n in names]
    return (*known, *sorted(n for n in names if n not in KNOWN_ORDER))


def image_channels(cfg: Any, **patterns: str | tuple[str, ...]) -> tuple[str, ...]:
    """Config.channels, checked against FILES' `patterns` (image_path, test_image_path): a pattern holding {channel}
    needs channels, and channels need a {channel} in every pattern; () for images of one file each."""
    names = tuple(getattr(cfg, "channels", ()) or ())
    for field, given in patterns.items():
        tried = (given,) if isinstance(given, str) else tuple(given)
        marked = [p for p in tried if CHANNEL in p]
        if marked and not names:
            raise ContractError(
                f"FILES' {field} {marked[0]!r} names each channel's file by {CHANNEL}, but the Config has no channels: "
                'declare them in its order, channels: tuple[str, ...] = ("red", "green", "blue", "yellow").'
            )
        if names and len(marked) != len(tried):
            plain = next(p for p in tried if CHANNEL not in p)
            raise ContractError(
                f"Config.channels {names}: FILES' {field} {plain!r} has no {CHANNEL}, which names where each channel's "
                f"file is (train/{{}}_{CHANNEL}.png); put it in, or set channels=() for images of one file each."
            )
    odd = [n for n in names if not n or "/" in n or SEP in n or names.count(n) > 1]
    if odd:
        raise ContractError(
            f"Config.channels {names}: {odd[0]!r} is empty, twice or holds '/' or {SEP!r}; a channel is the part "
            "of its files' names after the id (red of train/<id>_red.png), each once."
        )
    return names


def find_channel_images(
    data_dir: Path,
    patterns: Sequence[str],
    ids: pd.Series,
    source: str,
    channels: Sequence[str],
    headers: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each id's image of `channels` (one stacked name of its channel files, pipeline/stacked.py), its (width,
    height) and the lines on files named in another case than the id's; an id lacking a channel's file is refused
    naming the CSV `source`'s line, the id and the file, and one whose channel files differ in size naming them."""
    root = Path(data_dir)
    listing = FolderNames(root)
    files, sizes, warnings = [], [], []
    for channel in channels:
        tried = [p.replace(CHANNEL, channel) for p in patterns]
        found = [listing.find(tried, str(key)) for key in ids]
        if None in found:
            _refuse_missing(root, tried, ids, found, source, channel, channels)
        paths, size = check_image_files(root, [str(f) for f in found], source, 2, headers, ("{}",))
        files.append(paths)
        sizes.append(size)
        if line := other_case(root, [str(k) for k in ids], list(paths), tried, source):
            warnings.append(f"{line} ({channel} channel)")
    if headers:
        _check_sizes(ids, files, sizes, source)
    names = np.array([stacked(row) for row in zip(*files, strict=True)], dtype=object)
    return names, sizes[0], warnings


def _refuse_missing(
    root: Path,
    tried: list[str],
    ids: pd.Series,
    found: list[str | None],
    source: str,
    channel: str,
    channels: Sequence[str],
) -> NoReturn:
    """The refusal of the first id without a file of `channel`: its line, the id, the file tried."""
    missing = [i for i, f in enumerate(found) if f is None]
    row, key = missing[0], ids.iloc[missing[0]]
    raise ContractError(
        f"{source} line {row + 2}: {ids.name} {key!r} has no {channel} channel: {tried[0].format(key)!r} is not in "
        f"{root} ({len(missing)} of {len(ids)} ids lack one); every id has a file of each channel of the Config's "
        f"channels ({', '.join(channels)}): add the file, or drop {channel} from channels."
    )


def _check_sizes(ids: pd.Series, files: list[np.ndarray], sizes: list[np.ndarray], source: str) -> None:
    """Every id's channel files of one size, else refused naming the line, the id and the files' sizes."""
    odd = np.flatnonzero(np.any([(size != sizes[0]).any(axis=1) for size in sizes[1:]], axis=0))
    if odd.size:
        row = int(odd[0])
        shown = listed([f"{path[row]} {size[row][0]}x{size[row][1]}" for path, size in zip(files, sizes, strict=True)])
        raise ContractError(
            f"{source} line {row + 2}: the channel files of {ids.name} {ids.iloc[row]!r} differ in size ({shown}); "
            "each channel covers the whole image."
        )


def channel_stats(
    channels: Sequence[str], mean: Sequence[float], std: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each channel's mean and std from the network's RGB ones (timm's data config: ImageNet's for a pretrained
    network): a channel named red, green or blue takes that colour's, as the pretrained weights saw it; any other
    (yellow, a band) the mean of the three, a value of the same scale for a channel no weights saw (timm gives its
    first-convolution filters the colours' in turn: yellow, the fourth, red's)."""
    rgb = {name: i for i, name in enumerate(("red", "green", "blue"))}
    mean, std = tuple(map(float, mean)), tuple(map(float, std))
    if len(mean) != 3 or len(std) != 3:  # a network of its own channels: theirs by position, else their mean
        return _by_position(channels, mean), _by_position(channels, std)
    other = (sum(mean) / 3, sum(std) / 3)
    return (
        tuple(mean[rgb[c.lower()]] if c.lower() in rgb else other[0] for c in channels),
        tuple(std[rgb[c.lower()]] if c.lower() in rgb else other[1] for c in channels),
    )


def _by_position(channels: Sequence[str], values: tuple[float, ...]) -> tuple[float, ...]:
    """A value per channel: the network's own when it has one per channel, else the mean of its values."""
    if len(values) == len(channels):
        return values
    return (sum(values) / len(values),) * len(channels)
