"""Small learnable image sets for samples and tests: each class has its own colour and shape, plus noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_image(label: int, n_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB uint8 image whose colour and shape depend on the class, at a random position with noise."""
    hue = label / n_classes
    base = np.array([np.sin(2 * np.pi * (hue + k / 3)) * 0.5 + 0.5 for k in range(3)]) * 255
    background = rng.uniform(40, 120, size=3)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = background
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
    r = size * rng.uniform(0.18, 0.3)
    shape = label % 3
    if shape == 0:
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif shape == 1:
        mask = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    else:
        mask = np.abs(yy - cy) + np.abs(xx - cx) <= r * 1.3
    img[mask] = base
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_images(folder: Path, names: list[str], labels: np.ndarray, n_classes: int, size: int, seed: int) -> None:
    """Write one PNG per name (folder/name) with the class-dependent pattern of its label."""
    import cv2

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, label in zip(names, labels, strict=True):
        img = make_image(int(label), n_classes, size, rng)
        if not cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {folder / name}")
