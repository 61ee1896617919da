"""Run-length encoded masks as Kaggle writes them: "start length start length ...", starts 1-based.

Kaggle's segmentation competitions number an image's pixels in one of two orders:
- "column": top to bottom, then left to right (Severstal, TGS Salt, Airbus Ship, HuBMAP, Sartorius): the mask's
  transpose flattened;
- "row": left to right, then top to bottom (Carvana): the mask flattened as numpy stores it.
An empty mask is an empty cell (or NaN) in a training CSV; in a submission it is whatever the sample writes for one
(usually an empty cell, "-1" in some), which the competition's files decide, not this module.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

ORDERS = ("column", "row")
_EMPTY = {"", "-1", "nan", "none"}
_NUMBERS = re.compile(r"^\s*\d+(\s+\d+)*\s*$")


class RleError(ValueError):
    """A run-length string that is not one: the message says what is wrong with it."""


def is_empty(cell: Any) -> bool:
    """True for a cell that holds no run: NaN/None, an empty or blank string, "-1"."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return True
    return str(cell).strip().lower() in _EMPTY


def runs(cell: Any, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based starts and the lengths of a run-length cell, checked: integers in pairs, lengths of at least 1,
    runs in increasing order without overlap and, given the image's pixel count `size`, inside the image."""
    if is_empty(cell):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    text = str(cell)
    if not _NUMBERS.match(text):
        bad = next((t for t in text.split() if not t.isdigit()), text[:20])
        raise RleError(f"run-length mask holds {bad!r}: expected non-negative integers 'start length ...'")
    values = np.array(text.split(), dtype=np.int64)
    if len(values) % 2:
        raise RleError(f"run-length mask has {len(values)} numbers: expected pairs of 'start length'")
    starts, lengths = values[0::2] - 1, values[1::2]
    if (starts < 0).any():
        raise RleError("run-length mask has a start of 0: starts are 1-based")
    if (lengths < 1).any():
        raise RleError(f"run-length mask has a run of length 0 at start {starts[lengths < 1][0] + 1}")
    ends = starts + lengths
    if len(starts) > 1 and (starts[1:] < ends[:-1]).any():
        i = int(np.flatnonzero(starts[1:] < ends[:-1])[0]) + 1
        raise RleError(f"run-length mask's run at start {starts[i] + 1} overlaps or precedes the run before it")
    if size is not None and len(ends) and ends[-1] > size:
        raise RleError(f"run-length mask runs to pixel {ends[-1]}, past the image's {size} pixels")
    return starts, lengths


def decode(cell: Any, height: int, width: int, order: str = "column") -> np.ndarray:
    """A run-length cell -> a (height, width) uint8 mask of 0 and 1 (all 0 for an empty cell)."""
    _check_order(order)
    flat = np.zeros(height * width, np.uint8)
    starts, lengths = runs(cell, height * width)
    if len(starts):
        edges = np.zeros(height * width + 1, np.int32)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + lengths, -1)
        flat = (np.cumsum(edges[:-1]) > 0).astype(np.uint8)
    if order == "row":
        return flat.reshape(height, width)
    return flat.reshape(width, height).T.copy()


def encode(mask: np.ndarray, order: str = "column") -> str:
    """A (height, width) mask (nonzero = inside) -> "start length ..." with 1-based starts; "" for an empty mask."""
    _check_order(order)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode: a mask is 2-D (height, width); got shape {mask.shape}")
    flat = (mask if order == "row" else mask.T).reshape(-1) != 0
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(starts, ends, strict=True))


def area(cell: Any) -> int:
    """The number of pixels a run-length cell covers, without decoding it."""
    return int(runs(cell)[1].sum())


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"run-length order {order!r}; one of {', '.join(ORDERS)}")
