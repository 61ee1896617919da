"""Tiled segmentation (a recipe's `tile`): training on random tile x tile crops of the images at the working size,
predicting with overlapping tile windows whose probabilities are blended, each weighted towards its window's centre,
into the map the whole image would give. The winners' recipe for big images with small objects (Airbus's ships,
HuBMAP's slides): the network sees the pixels at full resolution, never the whole image shrunk."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

MASK_CROP_P = 0.5  # the share of training crops drawn around a mask pixel (when the image has one)


def check_tile(tile: int | None, overlap: float, size: tuple[int, int], stride: int) -> None:
    """Refuse a tile the network cannot take or the image cannot hold, naming the setting."""
    if tile is None:
        return
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < stride or tile % stride:
        raise ValueError(f"tile {tile!r}: a multiple of {stride} (the encoder's deepest stride), or None for none.")
    if tile > min(size):
        raise ValueError(
            f"tile {tile}: larger than the working size {size[0]}x{size[1]} (image_size); at most {min(size)}."
        )
    if not 0 <= overlap < 1:
        raise ValueError(f"tile_overlap {overlap!r}: a share of the tile, from 0 up to (not including) 1.")


def random_crop(
    image: np.ndarray, masks: np.ndarray, tile: int, rng: np.random.Generator, mask_p: float = MASK_CROP_P
) -> tuple[np.ndarray, np.ndarray]:
    """One tile x tile crop of an image (H x W x C) and its masks (H x W x classes), the same window of both: with
    probability mask_p one holding an object (a connected region of the masks, 8-way) drawn at random, each object
    alike whatever its size (a small ship as often as a large one), at a random pixel of it; else anywhere."""
    h, w = image.shape[:2]
    top, left = int(rng.integers(0, h - tile + 1)), int(rng.integers(0, w - tile + 1))
    if rng.random() < mask_p:
        n, labels = cv2.connectedComponents(masks.any(-1).astype(np.uint8), connectivity=8)
        if n > 1:
            ys, xs = np.nonzero(labels == int(rng.integers(1, n)))
            k = int(rng.integers(0, len(ys)))
            # a window holding pixel (ys[k], xs[k]), at a random place within the tile, kept inside the image
            top = int(np.clip(ys[k] - rng.integers(0, tile), 0, h - tile))
            left = int(np.clip(xs[k] - rng.integers(0, tile), 0, w - tile))
    return image[top : top + tile, left : left + tile], masks[top : top + tile, left : left + tile]


def window_starts(length: int, tile: int, overlap: float) -> list[int]:
    """The windows' first pixels along a side of `length`: a step of tile x (1 - overlap) (at least 1), the last
    window flush with the end, so every pixel is covered."""
    step = max(1, int(tile * (1 - overlap)))
    starts = list(range(0, length - tile + 1, step))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def windows(size: tuple[int, int], tile: int | None, overlap: float) -> int:
    """The windows a prediction of an image of `size` (height, width) runs: 1 without tiles."""
    if tile is None:
        return 1
    return len(window_starts(size[0], tile, overlap)) * len(window_starts(size[1], tile, overlap))


def window_weight(tile: int) -> torch.Tensor:
    """(tile, tile) blending weights: a tent in each direction, 1 at the centre and 1/tile at the edge pixels (never
    0, so a pixel one window covers keeps its probability)."""
    i = torch.arange(tile, dtype=torch.float32)
    tent = torch.minimum(2 * i + 1, 2 * tile - 2 * i - 1) / tile
    return tent[:, None] * tent[None, :]


def sliding_probs(
    probs: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: float, batch: int
) -> torch.Tensor:
    """The per-class probabilities of a batch x (N x C x H x W) from `probs` (a batch of tiles -> N x classes x tile
    x tile) over overlapping tile windows, `batch` windows a forward, blended by window_weight: N x classes x H x W,
    on x's device."""
    n, _, h, w = x.shape
    spots = [(t, left) for t in window_starts(h, tile, overlap) for left in window_starts(w, tile, overlap)]
    weight = window_weight(tile).to(x.device)
    total = torch.zeros((1, 1, h, w), device=x.device)
    for t, left in spots:
        total[..., t : t + tile, left : left + tile] += weight
    keys = [(i, t, left) for i in range(n) for t, left in spots]
    out: torch.Tensor | None = None
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        p = probs(torch.stack([x[i, :, t : t + tile, left : left + tile] for i, t, left in chunk])).float()
        if out is None:
            out = torch.zeros((n, p.shape[1], h, w), device=x.device)
        for (i, t, left), pi in zip(chunk, p, strict=True):
            out[i, :, t : t + tile, left : left + tile] += pi * weight
    assert out is not None
    return out / total
