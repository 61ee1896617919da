"""Decoded images kept by the process, so that a run decodes each training, validation and test image once.

A k-fold run asks for the same files again and again: every fold's training rows, its validation rows for the
epoch scores and again for the out-of-fold predictions, and the whole test set for each fold's test predictions
(300,000 PNGs a fold for Kaggle's CIFAR-10). The process keeps them decoded, least recently used first out, up to a
byte budget; a file that changed on disk (inode, size or modification time) is decoded again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from pipeline.vision.data import read_image

DEFAULT_MB = 2048


class DecodedImages:
    """Images decoded once and held in memory up to `max_bytes` (see the module's docstring)."""

    def __init__(self, max_bytes: int = DEFAULT_MB << 20) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.decodes = 0  # files decoded so far (the tests and benchmarks count them)
        self._held: OrderedDict[str, tuple[tuple[int, int, int], np.ndarray]] = OrderedDict()

    def images(self, paths: Sequence[str]) -> list[np.ndarray] | None:
        """Every path's RGB uint8 image, decoding the ones not held; None when they differ in size or together
        exceed the budget, and then nothing new is held."""
        if len(paths) == 0 or self.max_bytes <= 0:
            return None
        out: list[np.ndarray] = []
        new: dict[str, tuple[tuple[int, int, int], np.ndarray]] = {}
        shape: tuple[int, ...] | None = None
        for path in map(str, paths):
            image = self._get(path, new)
            if shape is None:
                shape = image.shape
                if image.nbytes * len(paths) > self.max_bytes:
                    return None
            if image.shape != shape:
                return None
            out.append(image)
        self._hold(new)
        return out

    def stack(self, paths: Sequence[str]) -> np.ndarray | None:
        """The images of `paths` as one (N, H, W, 3) uint8 array, or None (see images)."""
        images = self.images(paths)
        return np.stack(images) if images is not None else None

    def resize(self, max_bytes: int) -> None:
        """A new budget; the least recently used images go until the held ones fit it."""
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self._held.clear()
        self.nbytes = 0

    def _get(self, path: str, new: dict[str, tuple[tuple[int, int, int], np.ndarray]]) -> np.ndarray:
        """The held image of `path` when the file is unchanged (it becomes the most recently used), else the file
        decoded and put in `new`."""
        try:
            st = os.stat(path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (-1, -1, -1)  # read_image names the missing file
        held = self._held.get(path)
        if held is not None and held[0] == stamp:
            self._held.move_to_end(path)
            return held[1]
        self.decodes += 1
        image = read_image(path)  # names the file when it is missing or not an image
        image.flags.writeable = False  # held arrays are shared by every caller
        new[path] = (stamp, image)
        return image

    def _hold(self, new: dict[str, tuple[tuple[int, int, int], np.ndarray]]) -> None:
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


_STORE = DecodedImages()


def store() -> DecodedImages:
    """The process's store."""
    return _STORE


def decode_all(paths: Sequence[str]) -> np.ndarray | None:
    """Every image of `paths` as one (N, H, W, 3) uint8 array through the process's store, or None when they differ
    in size or exceed its budget."""
    return _STORE.stack(paths)
