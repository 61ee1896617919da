"""What the image and the detection datasets share: paths, a transform with its own seeded random state, an optional
decoded cache, and the DataLoader whose order and augmentation depend only on a seed."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info


class SeededDataset(Dataset):
    """Images from `paths` (or `cache`, decoded ahead), through an albumentations `transform`; subclasses add the
    targets and __getitem__."""

    def __init__(self, paths: Sequence[str], transform: Any, cache: Any = None) -> None:
        self.paths = paths
        self.transform = transform
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    def reseed(self, seed: int) -> None:
        """Give the transform its own random state derived from seed (albumentations ignores global seeds)."""
        if self.transform is not None and hasattr(self.transform, "set_random_state"):
            self.transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def _worker_init(worker_id: int) -> None:
    info = get_worker_info()
    torch.set_num_threads(1)
    if info is not None:
        info.dataset.reseed(torch.initial_seed() % 2**32)


def seeded_loader(
    dataset: SeededDataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool,
    collate_fn: Callable[[list[Any]], Any],
    drop_last: bool = False,
    sampler: Any = None,
) -> DataLoader:
    """A DataLoader whose order and augmentation depend only on seed (one seed per epoch gives resumable runs): the
    dataset is reseeded here, or by each worker process from torch's per-worker seed. `sampler` replaces the shuffle.
    """
    if num_workers == 0:
        dataset.reseed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        collate_fn=collate_fn,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        persistent_workers=False,
    )
