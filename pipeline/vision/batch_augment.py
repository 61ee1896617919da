"""Augmentation of a whole uint8 NHWC batch on its device: the CIFAR recipe's translation, flip and cutout as tensor
ops, for training images decoded in memory. On a GPU this replaces albumentations in loader workers, which kept the
GPU waiting (benchmarks/README.md, "On a GPU"); each image is drawn as the albumentations steps would draw it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: a competition module imports this one for its Config
    import torch

# ImageRecipe.augment_on: where the training augmentation runs
AUGMENT_ON = ("auto", "device", "loader")
# "auto" holds the decoded training images in GPU memory only up to this share of it
GPU_SHARE = 0.25


def reflect_101(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside 0..size-1 mirrored about the edge pixel (OpenCV's BORDER_REFLECT_101: -1 -> 1, size -> size-2),
    for offsets smaller than size."""
    import torch

    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def affine(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) images each turned by `angle` degrees about its centre and magnified `scale` times,
    bilinearly, the edge pixels extended outwards (a digit's black ground stays black, a face's backdrop its own)."""
    import torch
    import torch.nn.functional as F

    n, h, w, _ = x.shape
    rad = torch.deg2rad(angle.float())
    cos, sin, s = torch.cos(rad), torch.sin(rad), scale.float()
    zero = torch.zeros_like(cos)
    # the output-to-input map in the [-1, 1] coordinates of affine_grid, a true rotation on non-square images
    theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1), torch.stack([sin * w / h, cos, zero], 1)], 1)
    theta = theta / s[:, None, None]
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x.permute(0, 3, 1, 2).float(), grid, "bilinear", "border", align_corners=False)
    return out.round().clamp(0, 255).to(x.dtype).permute(0, 2, 3, 1)


@dataclass(frozen=True)
class BatchAugment:
    """A random turn by up to `rotate` degrees each way and magnification by 1 +- up to `zoom` (the MNIST kernels'
    rotation and zoom), a random translation by up to `pad` pixels (reflect-padded, as PadIfNeeded(BORDER_REFLECT_101)
    + RandomCrop), a horizontal flip with probability 1/2, and one `cutout` x `cutout` square inside the image filled
    with `fill` (as CoarseDropout with one hole of that size); each off when 0 / False."""

    pad: int = 0
    flip: bool = False
    cutout: int = 0
    fill: tuple[int, ...] = (0, 0, 0)
    rotate: float = 0.0
    zoom: float = 0.0

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """x: uint8 (N, H, W, C) on gen's device; a new augmented batch of the same shape."""
        if x.ndim != 4:
            raise ValueError(f"BatchAugment expects an (N, H, W, C) batch, got shape {tuple(x.shape)}.")
        return self.apply(x, self.draw(x.shape[:3], gen))

    def draw(self, shape: tuple[int, ...], gen: torch.Generator) -> dict[str, torch.Tensor]:
        """The random choices for `shape` = (N, H, W) images, one row each, on gen's device: the translation (dy, dx),
        the flip, the cutout's corner (y0, x0), the turn and the magnification."""
        import torch

        n, h, w = shape
        if not 0.0 <= self.zoom < 1.0 or not 0.0 <= self.rotate <= 180.0:
            raise ValueError(f"BatchAugment: zoom {self.zoom} must be in [0, 1), rotate {self.rotate} in [0, 180].")
        if self.pad >= min(h, w):
            raise ValueError(f"BatchAugment pad {self.pad} must be smaller than the image ({h}x{w}).")
        if self.cutout > min(h, w):
            raise ValueError(f"BatchAugment cutout {self.cutout} is larger than the image ({h}x{w}).")
        dev, out = gen.device, {}
        if self.pad > 0:
            out["dy"], out["dx"] = torch.randint(-self.pad, self.pad + 1, (2, n), device=dev, generator=gen)
        if self.flip:
            out["flip"] = torch.rand(n, device=dev, generator=gen) < 0.5
        if self.cutout > 0:
            out["y0"] = torch.randint(0, h - self.cutout + 1, (n,), device=dev, generator=gen)
            out["x0"] = torch.randint(0, w - self.cutout + 1, (n,), device=dev, generator=gen)
        if self.rotate > 0:
            out["angle"] = (torch.rand(n, device=dev, generator=gen) * 2 - 1) * self.rotate
        if self.zoom > 0:
            out["scale"] = 1 + (torch.rand(n, device=dev, generator=gen) * 2 - 1) * self.zoom
        return out

    def apply(self, x: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        """x augmented by `draws` (draw's output for x's rows): turn and magnification, translation, flip, cutout."""
        import torch

        n, h, w = x.shape[:3]
        if "angle" in draws or "scale" in draws:
            ones = torch.ones(n, device=x.device)
            x = affine(x, draws.get("angle", ones * 0), draws.get("scale", ones))
        ar = torch.arange(max(h, w), device=x.device)
        if "dy" in draws:
            rows = reflect_101(draws["dy"][:, None] + ar[:h], h)  # (n, h): the source row of each row
            cols = reflect_101(draws["dx"][:, None] + ar[:w], w)
            x = x[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        if "flip" in draws:
            x = torch.where(draws["flip"][:, None, None, None], x.flip(2), x)
        if "y0" in draws:
            s, y0, x0 = self.cutout, draws["y0"][:, None], draws["x0"][:, None]
            inside = ((ar[:h] >= y0) & (ar[:h] < y0 + s))[:, :, None] & ((ar[:w] >= x0) & (ar[:w] < x0 + s))[:, None]
            fill = torch.tensor(self.fill, dtype=x.dtype, device=x.device)
            x = torch.where(inside[..., None], fill, x)
        return x

    def move_points(self, xy: torch.Tensor, draws: dict[str, torch.Tensor], h: int, w: int) -> torch.Tensor:
        """Points (N, K, 2) of x, y in the pixels of `draws`' (h, w) images (pixel i's centre at i, OpenCV's) where
        apply puts them: turned and magnified about the centre ((w - 1) / 2, (h - 1) / 2) as cv2.getRotationMatrix2D
        maps them, moved back by the translation, mirrored to w - 1 - x on a flipped row (cutout moves nothing)."""
        import torch

        x, y = xy[..., 0].float(), xy[..., 1].float()
        if "angle" in draws or "scale" in draws:
            n = xy.shape[0]
            rad = torch.deg2rad(draws.get("angle", torch.zeros(n, device=xy.device)).float())[:, None]
            s = draws.get("scale", torch.ones(n, device=xy.device)).float()[:, None]
            a, b, cx, cy = s * torch.cos(rad), s * torch.sin(rad), (w - 1) / 2, (h - 1) / 2
            x, y = a * (x - cx) + b * (y - cy) + cx, -b * (x - cx) + a * (y - cy) + cy
        if "dy" in draws:
            x, y = x - draws["dx"][:, None], y - draws["dy"][:, None]
        if "flip" in draws:
            x = torch.where(draws["flip"][:, None], (w - 1) - x, x)
        return torch.stack([x, y], -1)


def device_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    augment: BatchAugment | None = None,
    draws: dict[str, torch.Tensor] | None = None,
    move: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The epoch's batches of `order`'s rows of images/labels (all on one device); with `augment`, each row augmented
    by its own draw (`draws`: augment.draw over all the images, indexed by row), and its labels moved with it by
    `move(labels, draws)` where they are places on the image (pipeline/keypoints.py)."""
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        xb, yb = images[idx], labels[idx]
        if augment is not None and draws is not None:
            row_draws = {k: v[idx] for k, v in draws.items()}
            xb = augment.apply(xb, row_draws)
            yb = move(yb, row_draws) if move is not None else yb
        yield xb, yb


def is_identity(transform: Any) -> bool:
    """True for no transform or an empty albumentations Compose: the images go to the model as decoded."""
    return transform is None or (hasattr(transform, "transforms") and len(transform.transforms) == 0)


def resolve_batch_augment(
    augment_on: str, augment: BatchAugment | None, cache: Any, device: str
) -> tuple[BatchAugment | None, str]:
    """The BatchAugment to train with (None: the loader's transform) and a line saying where augmentation runs.

    "device" asks for the batch form and fails when it cannot be had; "auto" takes it when the competition declares
    one and the training images are decoded in memory (and, on a GPU, take at most GPU_SHARE of its memory).
    """
    from pipeline.contract import ContractError

    if augment_on not in AUGMENT_ON:
        raise ContractError(f"augment_on must be one of {', '.join(AUGMENT_ON)}, got {augment_on!r}.")
    if augment_on == "loader":
        return None, "augmentation: per image in the loader (augment_on=loader)"
    missing = None
    if augment is None:
        missing = "the competition declares no batch_augment"
    elif not isinstance(cache, np.ndarray):
        missing = (
            "the training images are not decoded in memory as one array (they differ in size, exceed the cache "
            "or cache_images is off)"
        )
    if missing and augment_on == "device":
        raise ContractError(f"augment_on=device: {missing}; use --set augment_on=loader (or auto).")
    if missing:
        return None, f"augmentation: per image in the loader ({missing})"
    if augment_on == "auto" and device.startswith("cuda"):
        import torch

        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        if cache.nbytes > GPU_SHARE * total:
            mib = cache.nbytes >> 20
            return None, f"augmentation: per image in the loader (the {mib} MiB of images would crowd the GPU)"
    return augment, f"augmentation: batched on {device} ({augment})"
