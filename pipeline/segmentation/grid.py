"""The grid a segmentation run's masks travel at: every image's masks resized to one (height, width), so that the
runner's rows are of one length whatever the images' sizes. Training masks reach it nearest-neighbour (read straight
from their runs, never decoded at full size); predictions leave it bilinearly, resized back to each test image's own
size before they are cut and encoded."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.segmentation.rle import ORDERS, runs

LONGEST = 256  # the grid's longest side for images larger than that
# what one model's out-of-fold and test predictions may take at the grid: the runner holds them as float64 rows
# (Carvana's 100,064 test images at 171x256 would take 35 GB), so a larger download gets a smaller grid
BUDGET_BYTES = 4 << 30


def grid_for(height: int, width: int, longest: int = LONGEST, values: int = 0) -> tuple[int, int]:
    """The grid of images of height x width: scaled so that its longest side is `longest` (an image smaller than
    that keeps its size), each side rounded, at least 8; smaller still when `values` per grid pixel (images x
    classes, training and test together) at float64 would take more than BUDGET_BYTES."""
    if height < 1 or width < 1:
        raise ValueError(f"grid_for: an image of {height}x{width} pixels.")
    scale = min(1.0, longest / max(height, width))
    if values:
        scale = min(scale, (BUDGET_BYTES / (8 * values * height * width)) ** 0.5)
    return max(8, round(height * scale)), max(8, round(width * scale))


def _nearest(size: int, out: int) -> np.ndarray:
    """The source index of each of `out` samples over `size` pixels: the pixel under each output pixel's centre."""
    return np.minimum(((np.arange(out) + 0.5) * size / out).astype(np.int64), size - 1)


def to_grid(cell: Any, height: int, width: int, order: str, grid: tuple[int, int]) -> np.ndarray:
    """A run-length cell of a height x width image -> its mask at the grid, (gh, gw) uint8, nearest-neighbour: each
    grid pixel takes the image pixel under its centre, looked up among the runs (checked to lie inside the image)."""
    if order not in ORDERS:
        raise ValueError(f"run-length order {order!r}; one of {', '.join(ORDERS)}")
    starts, lengths = runs(cell, height * width)
    out = np.zeros(grid, np.uint8)
    if not len(starts):
        return out
    rows, cols = _nearest(height, grid[0]), _nearest(width, grid[1])
    flat = rows[:, None] * width + cols[None, :] if order == "row" else cols[None, :] * height + rows[:, None]
    k = np.searchsorted(starts, flat, side="right") - 1
    inside = (k >= 0) & (flat < starts[np.maximum(k, 0)] + lengths[np.maximum(k, 0)])
    out[inside] = 1
    return out


def upsample(probs: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (gh, gw) map of probabilities -> (height, width) float32, bilinearly (PIL, pixel centres aligned)."""
    from PIL import Image

    probs = np.ascontiguousarray(probs, dtype=np.float32)
    if probs.shape == (height, width):
        return probs
    return np.asarray(Image.fromarray(probs).resize((width, height), Image.Resampling.BILINEAR))
