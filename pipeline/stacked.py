"""One image of several files, one per channel (Human Protein Atlas' <Id>_red.png, <Id>_green.png, <Id>_blue.png,
<Id>_yellow.png), named by one string: its channel files' paths in channel order, joined by SEP.

Such a name goes where a path goes (a Data's X, the loaders, the decoded-image store, the image checks), so that
every row still names one image: pipeline.vision.data.read_image decodes it as one H x W x C array, the image check
decodes each of its files, and its digest and size are those of its files together (pipeline/digestcache.py,
pipeline/imagedigests.py). pipeline/vision/channels.py finds the files of a competition's channels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pipeline.views import views_of

SEP = "|"  # never in a real download's file names (and not allowed in Windows ones): stacked() refuses one that is


def stacked(files: Sequence[str]) -> str:
    """The name of the image whose channels are `files`, in order; a file whose path holds SEP is refused."""
    odd = [f for f in files if SEP in str(f)]
    if odd:
        raise ValueError(f"{odd[0]}: a channel file's path cannot hold {SEP!r}; rename it.")
    return SEP.join(map(str, files))


def channel_files(name: str | os.PathLike[str]) -> list[str]:
    """The files of an image's name: its channel files in order, or the one file of a plain image."""
    return str(name).split(SEP)


def is_stacked(name: str | os.PathLike[str]) -> bool:
    """Whether a name is of an image of several channel files."""
    return SEP in str(name)


def files_of(name: str | os.PathLike[str]) -> list[str]:
    """Every file of a row's name, in order: its views' (pipeline/views.py), each view's channel files."""
    return [f for view in views_of(name) for f in channel_files(view)]


def size_of(name: str | os.PathLike[str]) -> int:
    """An image's bytes on disk: its files' sizes together (a row of several views: all of theirs)."""
    return sum(os.path.getsize(f) for f in files_of(name))


def every_file(names: Sequence[str]) -> list[str]:
    """The files of `names`, in order: each plain path as it is, each stacked image's channel files, each view's."""
    return [f for name in names for f in files_of(name)]
