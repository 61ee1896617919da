"""Names in a message: all of them, or the first few and how many more."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def listed(names: Iterable[Any], most: int = 10, sep: str = ", ") -> str:
    """Names for a message: all of them, or the first `most` and how many more ("a, b ... and 3 more"), so that a
    table of 784 pixel columns or a folder of 300k missing images does not fill the screen. `sep` joins them ("; "
    where each is a phrase with commas of its own)."""
    names = list(names)
    shown = sep.join(map(str, names[:most]))
    return shown if len(names) <= most else f"{shown} ... and {len(names) - most} more"
