"""The contact map of an image's ships (SegmentationRecipe.touching): the pixels of a ship where another ship touches
it or comes within `radius` pixels, and the pixels two ships share, as the Data Science Bowl 2018 and Airbus Ship
Detection winners learnt beside the mask. The network learns it as a second channel; the objects are then the mask's
seeds away from it, each mask pixel joined to its nearest (instances.label_objects), so touching ships are apart.

Built from the training CSV's rows, one per ship (the union the mask learns cannot tell touching ships apart), at the
image's own size, with a radius of GRID_PIXELS grid pixels so that it survives the nearest resize to the grid and the
network's input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pipeline.segmentation.rle import decode, encode


def contact_map(labels: np.ndarray, shared: np.ndarray, radius: int = 1) -> np.ndarray:
    """The contact pixels (bool) of a label image (0: background, k: ship k): a ship pixel with a pixel of another
    ship within `radius` (a square window), or one two ships share (`shared`, bool)."""
    size = 2 * int(radius) + 1
    labels = np.asarray(labels)
    ship = labels > 0
    top = ndimage.maximum_filter(labels, size=size, mode="constant", cval=0)
    bottom = ndimage.minimum_filter(np.where(ship, labels, np.iinfo(labels.dtype).max), size=size, mode="nearest")
    return ship & ((top != labels) | (bottom != labels)) | np.asarray(shared, bool)


GRID_PIXELS = 2  # the contact radius in grid pixels: a thin line the network could not learn at a pixel


def contact_radius(height: int, width: int, grid: tuple[int, int]) -> int:
    """GRID_PIXELS grid pixels in pixels of a height x width image (at least 1)."""
    return max(1, math.ceil(GRID_PIXELS * max(height / grid[0], width / grid[1])))


def contact_cell(cells: Sequence[str], height: int, width: int, order: str, radius: int) -> str:
    """The contact map of an image's ships, each one run-length cell of `cells` (absolute, in `order`), as one
    absolute cell ("" where fewer than two ships)."""
    ships = [c for c in cells if c]
    if len(ships) < 2:
        return ""
    labels = np.zeros((height, width), np.int32)
    count = np.zeros((height, width), np.int16)
    for k, cell in enumerate(ships, start=1):
        mask = decode(cell, height, width, order) > 0
        labels[mask] = k
        count += mask
    contact = contact_map(labels, count > 1, radius)
    return encode(contact, order) if contact.any() else ""
