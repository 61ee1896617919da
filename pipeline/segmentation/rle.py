"""Run-length encoded masks as Kaggle writes them: "start length start length ...", in one of two encodings:
- "absolute" (most competitions): each start is the run's first pixel, 1-based, the runs in increasing order;
- "relative" (SIIM-ACR Pneumothorax's mask_functions.py): each start is the number of pixels between the end of the
  run before (the image's first pixel, for the first run) and the run's first pixel, so the first start is 0-based
  and a later one is the gap of pixels outside the mask: "2 3 4 1" covers pixels 2-4 and 9 (0-based).

Kaggle's segmentation competitions number an image's pixels in one of two orders:
- "column": top to bottom, then left to right (Severstal, TGS Salt, Airbus Ship, HuBMAP, Sartorius): the mask's
  transpose flattened;
- "row": left to right, then top to bottom (Carvana): the mask flattened as numpy stores it.
An empty mask is an empty cell (or NaN) in a training CSV; in a submission it is whatever the sample writes for one
(usually an empty cell, "-1" in some), which the competition's files decide, not this module. Several cells of one
mask (SIIM lists each region of an image on a row of its own) are one mask: `union`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

ORDERS = ("column", "row")
ENCODINGS = ("absolute", "relative")
_EMPTY = {"", "-1", "nan", "none"}
_NUMBERS = re.compile(r"^\s*\d+(\s+\d+)*\s*$")


class RleError(ValueError):
    """A run-length string that is not one: the message says what is wrong with it."""


def is_empty(cell: Any) -> bool:
    """True for a cell that holds no run: NaN/None, an empty or blank string, "-1"."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return True
    return str(cell).strip().lower() in _EMPTY


def runs(cell: Any, size: int | None = None, encoding: str = "absolute") -> tuple[np.ndarray, np.ndarray]:
    """The 0-based starts and the lengths of a run-length cell in `encoding`, checked: integers in pairs, lengths of
    at least 1, (absolute) runs in increasing order without overlap and, given the image's pixel count `size`, inside
    the image."""
    _check_encoding(encoding)
    if is_empty(cell):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    values = _numbers(str(cell))
    starts, lengths = values[0::2], values[1::2]
    if (lengths < 1).any():
        raise RleError(f"run-length mask has a run of length 0 at start {starts[lengths < 1][0]}")
    if encoding == "relative":
        starts = np.cumsum(starts) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    elif (starts < 1).any():
        raise RleError("run-length mask has a start of 0: starts are 1-based")
    else:
        starts = starts - 1
    ends = starts + lengths
    if len(starts) > 1 and (starts[1:] < ends[:-1]).any():
        i = int(np.flatnonzero(starts[1:] < ends[:-1])[0]) + 1
        raise RleError(f"run-length mask's run at start {starts[i] + 1} overlaps or precedes the run before it")
    if size is not None and len(ends) and ends[-1] > size:
        raise RleError(f"run-length mask runs to pixel {ends[-1]}, past the image's {size} pixels")
    return starts, lengths


def _numbers(text: str) -> np.ndarray:
    """The integers of a cell, in pairs, or an RleError saying what is wrong."""
    if not _NUMBERS.match(text):
        bad = next((t for t in text.split() if not t.isdigit()), text[:20])
        raise RleError(f"run-length mask holds {bad!r}: expected non-negative integers 'start length ...'")
    values = np.array(text.split(), dtype=np.int64)
    if len(values) % 2:
        raise RleError(f"run-length mask has {len(values)} numbers: expected pairs of 'start length'")
    return values


def decode(cell: Any, height: int, width: int, order: str = "column", encoding: str = "absolute") -> np.ndarray:
    """A run-length cell -> a (height, width) uint8 mask of 0 and 1 (all 0 for an empty cell)."""
    _check_order(order)
    flat = np.zeros(height * width, np.uint8)
    starts, lengths = runs(cell, height * width, encoding)
    if len(starts):
        edges = np.zeros(height * width + 1, np.int32)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + lengths, -1)
        flat = (np.cumsum(edges[:-1]) > 0).astype(np.uint8)
    if order == "row":
        return flat.reshape(height, width)
    return flat.reshape(width, height).T.copy()


def encode(mask: np.ndarray, order: str = "column", encoding: str = "absolute") -> str:
    """A (height, width) mask (nonzero = inside) -> "start length ..." in `encoding` (decode's exact inverse); "" for
    an empty mask."""
    _check_order(order)
    _check_encoding(encoding)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode: a mask is 2-D (height, width); got shape {mask.shape}")
    flat = (mask if order == "row" else mask.T).reshape(-1) != 0
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return written(edges[0::2], edges[1::2] - edges[0::2], encoding)


def written(starts: np.ndarray, lengths: np.ndarray, encoding: str = "absolute") -> str:
    """Runs (0-based starts in increasing order, lengths) as a cell in `encoding`; "" for none."""
    if encoding == "relative":
        ends = np.concatenate([[0], starts[:-1] + lengths[:-1]])
        return " ".join(f"{s} {n}" for s, n in zip(starts - ends, lengths, strict=True))
    return " ".join(f"{s + 1} {n}" for s, n in zip(starts, lengths, strict=True))


def union(cells: list[Any], encoding: str = "absolute", out: str = "absolute") -> str:
    """The mask covered by any of several cells (each in `encoding`) as one cell in `out`: overlapping and touching
    runs merged, no image size needed."""
    pairs = [runs(cell, None, encoding) for cell in cells]
    starts = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
    ends = starts + (np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64))
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends) if len(ends) else ends
    new = np.concatenate([[True], starts[1:] > reach[:-1]]) if len(starts) else np.zeros(0, bool)
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(starts) - 1]]) if len(first) else first
    return written(starts[first], reach[last] - starts[first], out)


def area(cell: Any, encoding: str = "absolute") -> int:
    """The number of pixels a run-length cell covers, without decoding it."""
    return int(runs(cell, None, encoding)[1].sum())


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"run-length encoding {encoding!r}; one of {', '.join(ENCODINGS)}")


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"run-length order {order!r}; one of {', '.join(ORDERS)}")
