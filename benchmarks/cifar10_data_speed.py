"""Data pipeline throughput: decode + augment images/s, the framework's (OpenCV + albumentations) vs torchvision's.

    python benchmarks/cifar10_data_speed.py [--data ../shared/data/cifar-10.zip] [--images 5000] [--rounds 3]

Both read the same PNG files from disk and apply the same augmentation as the competition's training pipeline:
reflect-pad 2 + random 32 px crop, horizontal flip, one 8x8 cutout; both produce uint8 tensors. Single process
(num_workers=0), so the figure is per core; the median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.cifar10_train_speed import load_images  # noqa: E402


def framework(paths: np.ndarray) -> float:
    """Images/s of pipeline.vision's dataset: cv2 decode + the competition's albumentations transform."""
    import competitions.cifar10 as cifar
    from pipeline.vision.data import ImageDataset

    ds = ImageDataset(paths, np.zeros(len(paths), dtype=np.int64), cifar.transforms(cifar.Config(), train=True))
    ds.reseed(0)
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return len(ds) / (time.perf_counter() - t0)


def torchvision_pipeline(paths: np.ndarray) -> float:
    """Images/s of the equivalent torchvision v2 pipeline: PIL decode, pad/crop, flip, erase, uint8 tensor."""
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    transform = v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomCrop(32, padding=2, padding_mode="reflect"),
            v2.RandomHorizontalFlip(),
            v2.RandomErasing(p=1.0, scale=(64 / 1024, 64 / 1024), ratio=(1.0, 1.0), value=0),
        ]
    )
    torch.manual_seed(0)
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            transform(im.convert("RGB"))
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    paths, _ = load_images(args.data, args.images)
    fw, tv = [], []
    for r in range(args.rounds):
        fw.append(framework(paths))
        tv.append(torchvision_pipeline(paths))
        print(f"round {r + 1}: framework {fw[-1]:.0f} img/s, torchvision {tv[-1]:.0f} img/s")
    f, t = statistics.median(fw), statistics.median(tv)
    print(
        f"median decode+augment: framework (cv2+albumentations) {f:.0f} img/s, torchvision {t:.0f} img/s, "
        f"ratio {f / t:.2f}"
    )


if __name__ == "__main__":
    main()
