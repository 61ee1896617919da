"""Segmentation data: images from paths resized to the network's input, each image's class masks decoded from its
run-length cells at the image's own size and resized with it (nearest), albumentations moving image and masks
together, batches of uint8 tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.contract import ContractError
from pipeline.segmentation import rle
from pipeline.segmentation.recipe import SegAugment
from pipeline.segmentation.tiles import random_crop
from pipeline.training.data import SeededDataset, seeded_loader
from pipeline.vision.data import to_tensor
from pipeline.vision.decoded import read_cut


def make_transform(train: bool, **augment: float) -> Any:
    """For training: flips, shift-scale-rotate (zero-filled borders) and brightness/contrast at the strengths
    `augment` gives (SegAugment's fields; its defaults otherwise), each moving the masks with the image (nearest);
    None for evaluation (the images go to the network as resized)."""
    import albumentations as A
    import cv2

    if not train:
        return None
    a = SegAugment(**augment)
    steps: list[Any] = []
    if a.hflip > 0:
        steps.append(A.HorizontalFlip(p=a.hflip))
    if a.vflip > 0:
        steps.append(A.VerticalFlip(p=a.vflip))
    if a.affine_p > 0 and (a.shift > 0 or a.scale > 0 or a.rotate > 0):
        steps.append(
            A.Affine(
                scale=(1 - a.scale, 1 + a.scale),
                translate_percent=(-a.shift, a.shift),
                rotate=(-a.rotate, a.rotate),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=a.affine_p,
            )
        )
    if a.color_p > 0 and (a.brightness > 0 or a.contrast > 0):
        steps.append(A.RandomBrightnessContrast(a.brightness, a.contrast, p=a.color_p))
    return A.Compose(steps) if steps else None


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image at (height, width): pixels averaged when shrinking (INTER_AREA), bilinear when enlarging."""
    import cv2

    h, w = image.shape[:2]
    if (h, w) == tuple(size):
        return image
    shrink = size[0] * size[1] < h * w
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 0/1 mask at (height, width), nearest neighbour."""
    import cv2

    if mask.shape[:2] == tuple(size):
        return mask
    return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def cell_error(path: str, name: str, e: Exception) -> ContractError:
    """A bad run-length cell, named by its image and class."""
    return ContractError(f"Image {path}, class {name}: {e}")


class SegDataset(SeededDataset):
    """(image uint8 HWC tensor at `size`, masks uint8 CHW tensor at `size` or an empty tensor) per image.

    `cells`: per image, one run-length cell per class (None: no targets, for prediction), decoded at the image's
    decoded size in `order`. `cache`: the images cut to the longest side of `size` with their decoded width and
    height (the process's store, pipeline/vision/decoded.py), else each is decoded and cut as it is read. `tile` (with
    cells): each item a random tile x tile crop of the image and its masks at `size` (tiles.random_crop, drawn from
    the (row, seed) stream), before the transform.
    """

    def __init__(
        self,
        paths: Sequence[str],
        cells: np.ndarray | None,
        size: tuple[int, int],
        order: str,
        transform: Any = None,
        cache: list[tuple[np.ndarray, int, int]] | None = None,
        class_names: Sequence[str] | None = None,
        tile: int | None = None,
    ) -> None:
        super().__init__(list(paths), transform, cache)
        self.cells, self.size, self.order, self.tile = cells, size, order, tile
        self.class_names = list(class_names) if class_names is not None else None

    def image(self, i: int) -> tuple[np.ndarray, int, int]:
        """Image i cut to the input's longest side, and the width and height it was decoded at."""
        if self.cache is not None:
            return self.cache[i]
        return read_cut(self.paths[i], max(self.size))

    def masks(self, i: int, height: int, width: int) -> np.ndarray:
        """Image i's class masks (height x width x classes, 0/1) at the input size, decoded at its own size."""
        out = []
        for c, cell in enumerate(self.cells[i]):
            try:
                mask = rle.decode(cell, height, width, self.order)
            except rle.RleError as e:
                name = self.class_names[c] if self.class_names else str(c)
                raise cell_error(self.paths[i], name, e) from None
            out.append(resize_mask(mask, self.size))
        return np.stack(out, -1)

    def item(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, w, h = self.image(i)
        image = resize_image(image, self.size)
        if self.cells is None:
            return to_tensor(image), torch.zeros(0, dtype=torch.uint8)
        masks = self.masks(i, h, w)
        if self.tile is not None:
            image, masks = random_crop(image, masks, self.tile, self._np)
        if self.transform is not None:
            out = self.transform(image=image, mask=masks)
            image, masks = out["image"], out["mask"]
        return to_tensor(image), torch.from_numpy(np.ascontiguousarray(masks.transpose(2, 0, 1)))


def _collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])


def make_loader(
    ds: SegDataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    rows: np.ndarray | None = None,
    persistent: bool = False,
) -> DataLoader:
    """Order and augmentation depend only on seed, so a resumed epoch replays the same batches; `rows` and
    `persistent` as in pipeline.training.data.seeded_loader."""
    return seeded_loader(ds, batch_size, shuffle, seed, num_workers, pin_memory, _collate, False, rows, persistent)
