"""What the image and the detection datasets share: paths, a transform reseeded for every sample, an optional decoded
cache, and the DataLoader whose order and augmentation depend only on a seed.

Each sample's augmentation is drawn from (epoch seed, row): the same whatever the number of loader workers, the
process (one, or a rank of a torchrun run) or the epoch's other rows, so a loader's workers can live through the
whole fit (`persistent`) and a resumed run still replays the same epochs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def epoch_order(n: int, seed: int) -> np.ndarray:
    """The shuffled order of n rows in the epoch of `seed` (the order torch's DataLoader(shuffle=True) gives with a
    generator seeded so: it draws its workers' base seed first, then the permutation)."""
    g = torch.Generator().manual_seed(seed)
    torch.empty((), dtype=torch.int64).random_(generator=g)
    return torch.randperm(n, generator=g).numpy()


class SeededDataset(Dataset):
    """Images from `paths` (or `cache`, decoded ahead), through an albumentations `transform`; subclasses add the
    targets and `item(i)`. Indexed by (row, seed) the transform is first reseeded from both; by row alone it keeps its
    state (evaluation transforms draw nothing)."""

    def __init__(self, paths: Sequence[str], transform: Any, cache: Any = None) -> None:
        self.paths = paths
        self.transform = transform
        self.cache = cache
        # the transform's random state, handed to it once and then re-keyed for every sample (a Philox stream keyed
        # by (seed, row) costs 2 us to set where a new Generator costs 13)
        self._np = np.random.Generator(np.random.Philox(key=0))
        self._py = random.Random()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if isinstance(key, tuple):
            i, seed = key
            self.reseed(seed, i)
            return self.item(i)
        return self.item(key)

    def item(self, i: int) -> Any:
        raise NotImplementedError

    def reseed(self, seed: int, row: int = 0) -> None:
        """Put the transform's random state at the start of the streams of (seed, row) (albumentations ignores global
        seeds): its numpy Generator's Philox key and its python Random's seed."""
        key = np.array([seed % 2**64, row], dtype=np.uint64)
        self._np.bit_generator.state = {
            "bit_generator": "Philox",
            "state": {"counter": np.zeros(4, dtype=np.uint64), "key": key},
            "buffer": np.zeros(4, dtype=np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }
        self._py.seed((seed % 2**64) << 32 | row)
        t = self.transform
        if t is not None and hasattr(t, "set_random_state") and getattr(t, "random_generator", None) is not self._np:
            t.set_random_state(self._np, self._py)  # once, or again when another dataset took the same transform


class SeededBatches(Sampler[list[tuple[int, int]]]):
    """Batches of (row, seed) keys over `rows` in their order; `set_epoch` gives the next epoch's rows and seed (a
    persistent loader's workers see them, as the keys come from this sampler in the main process)."""

    def __init__(self, rows: np.ndarray, batch_size: int, seed: int) -> None:
        self.batch_size = batch_size
        self.set_epoch(rows, seed)

    def set_epoch(self, rows: np.ndarray, seed: int) -> None:
        self.rows, self.seed = np.asarray(rows, dtype=np.int64), int(seed)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for start in range(0, len(self.rows), self.batch_size):
            yield [(int(i), self.seed) for i in self.rows[start : start + self.batch_size]]

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)


def epoch_rows(n: int, shuffle: bool, seed: int, batch_size: int, drop_last: bool) -> np.ndarray:
    """The rows one process visits in an epoch: all of them, shuffled by seed when asked, without the incomplete
    last batch under drop_last."""
    rows = epoch_order(n, seed) if shuffle else np.arange(n)
    return rows[: n // batch_size * batch_size] if drop_last else rows


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers share the cores with the training process


def seeded_loader(
    dataset: SeededDataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int,
    pin_memory: bool,
    collate_fn: Callable[[list[Any]], Any],
    drop_last: bool = False,
    rows: np.ndarray | None = None,
    persistent: bool = False,
) -> DataLoader:
    """A DataLoader whose order and augmentation depend only on seed (one seed per epoch gives resumable runs).

    `rows` replaces the epoch's rows (distributed.py's per-rank shard of the epoch's order). `persistent` keeps the
    worker processes for the loader's life: the next epoch goes through `loader.batch_sampler.set_epoch`.
    """
    if rows is None:
        rows = epoch_rows(len(dataset), shuffle, seed, batch_size, drop_last)
    return DataLoader(
        dataset,
        batch_sampler=SeededBatches(rows, batch_size, seed),
        generator=torch.Generator().manual_seed(seed),  # the workers' base seed: torch's global stream is not drawn
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=collate_fn,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        persistent_workers=persistent and num_workers > 0,
    )
