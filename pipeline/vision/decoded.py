"""Decoded images kept by the process, so that a run decodes each training, validation and test image once.

A k-fold run asks for the same files again and again: every fold's training rows, its validation rows for the
epoch scores and again for the out-of-fold predictions, and the whole test set for each fold's test predictions
(300,000 PNGs a fold for Kaggle's CIFAR-10). The process keeps them decoded, least recently used first out, up to a
byte budget; a file that changed on disk (inode, size or modification time) is decoded again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset

from pipeline.vision.data import read_image

DEFAULT_MB = 2048


Stamp = tuple[int, int, int]  # a file's inode, size and modification time: a changed file is decoded again
PARALLEL_FROM = 512  # fewer images than this are decoded in the calling process, more in loader workers


class DecodedImages:
    """Images decoded once and held in memory up to `max_bytes` (see the module's docstring)."""

    def __init__(self, max_bytes: int = DEFAULT_MB << 20) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.decodes = 0  # files decoded so far (the tests and benchmarks count them)
        self._held: OrderedDict[str, tuple[Stamp, np.ndarray]] = OrderedDict()

    def images(self, paths: Sequence[str], workers: int = 0) -> list[np.ndarray] | None:
        """Every path's RGB uint8 image, decoding the ones not held (in `workers` loader processes when there are
        many); None when they differ in size or together exceed the budget, and then nothing new is held."""
        if len(paths) == 0 or self.max_bytes <= 0:
            return None
        paths = [str(p) for p in paths]
        stamps = [_stamp(p) for p in paths]
        out: list[np.ndarray | None] = []
        for path, stamp in zip(paths, stamps, strict=True):
            held = self._held.get(path)
            out.append(held[1] if held is not None and held[0] == stamp else None)
        missing = [i for i, image in enumerate(out) if image is None]
        if missing:  # the first missing image alone first: the set's size decides whether it fits the budget
            out[missing[0]] = next(self._decode([paths[missing[0]]], 0))
        first = next(image for image in out if image is not None)
        shape = first.shape
        if first.nbytes * len(paths) > self.max_bytes:
            return None
        for i, image in zip(missing[1:], self._decode([paths[i] for i in missing[1:]], workers), strict=True):
            if image.shape != shape:
                return None
            out[i] = image
        if any(image.shape != shape for image in out if image is not None):
            return None
        for path in paths:
            if path in self._held:
                self._held.move_to_end(path)
        self._hold({paths[i]: (stamps[i], out[i]) for i in missing})
        return out  # type: ignore[return-value]  # every entry is an image by now

    def stack(self, paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
        """The images of `paths` as one (N, H, W, 3) uint8 array, or None (see images)."""
        images = self.images(paths, workers)
        return np.stack(images) if images is not None else None

    def resize(self, max_bytes: int) -> None:
        """A new budget; the least recently used images go until the held ones fit it."""
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self._held.clear()
        self.nbytes = 0

    def _decode(self, paths: list[str], workers: int) -> Iterator[np.ndarray]:
        """The images of `paths` in order, decoded in this process or, when there are many, in `workers` loader
        processes (a damaged file is named either way)."""
        if workers <= 0 or len(paths) < PARALLEL_FROM:
            batches: Iterable[list[np.ndarray]] = ([read_image(p)] for p in paths)
        else:
            from torch.utils.data import DataLoader

            size = min(256, -(-len(paths) // workers))  # every worker gets a share of a small set
            batches = DataLoader(_Files(paths), batch_size=size, num_workers=workers, collate_fn=list)
        for batch in batches:
            for image in batch:
                self.decodes += 1
                image.flags.writeable = False  # held arrays are shared by every caller
                yield image

    def _hold(self, new: dict[str, tuple[Stamp, np.ndarray]]) -> None:
        """Keep what a call decoded, evicting the least recently used images to make room. The call's own images
        are the most recently used and fit the budget together, so only other calls' images go."""
        for path, (stamp, image) in new.items():
            old = self._held.pop(path, None)
            if old is not None:
                self.nbytes -= old[1].nbytes
            self._held[path] = (stamp, image)
            self.nbytes += image.nbytes
        self._evict()

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes:
            self.nbytes -= self._held.popitem(last=False)[1][1].nbytes


class _Files(Dataset):
    """Image files decoded by index: what a loader's workers decode for the store."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_image(self.paths[i])


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)  # read_image names the missing file
    return (st.st_ino, st.st_size, st.st_mtime_ns)


_STORE = DecodedImages()


def store() -> DecodedImages:
    """The process's store."""
    return _STORE


def decode_all(paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
    """Every image of `paths` as one (N, H, W, 3) uint8 array through the process's store, or None when they differ
    in size or exceed its budget."""
    return _STORE.stack(paths, workers)
