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
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.vision.data import read_image

FALLBACK_MB = 2048  # where the machine's memory cannot be read
MEMORY_SHARE = 0.25  # of the machine's (or the container's) memory, shared by the processes of a torchrun run
Stamp = tuple[int, int, int]  # a file's inode, size and modification time: a changed file is decoded again
PARALLEL_FROM = 512  # fewer images than this are decoded in the calling process, more in loader workers
ESTIMATE_FROM = 16  # images of several sizes: the first this many estimate whether the set fits the budget
BATCH_BYTES = 16 << 20  # the most a worker's batch of decoded images takes in shared memory


class DecodedImages:
    """Images decoded once and held in memory up to `max_bytes` (see the module's docstring)."""

    def __init__(self, max_bytes: int = FALLBACK_MB << 20) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.decodes = 0  # files decoded so far (the tests and benchmarks count them)
        self._held: OrderedDict[str, tuple[Stamp, np.ndarray]] = OrderedDict()

    def images(self, paths: Sequence[str], workers: int = 0) -> list[np.ndarray] | None:
        """Every path's RGB uint8 image (of any sizes), decoding the ones not held (in `workers` loader processes
        when there are many); None when together they exceed the budget, and then nothing new is held."""
        if len(paths) == 0 or self.max_bytes <= 0:
            return None
        paths = [str(p) for p in paths]
        stamps = [_stamp(p) for p in paths]
        out: list[np.ndarray | None] = []
        for path, stamp in zip(paths, stamps, strict=True):
            held = self._held.get(path)
            out.append(held[1] if held is not None and held[0] == stamp else None)
        missing = [i for i, image in enumerate(out) if image is None]
        held_bytes = sum(image.nbytes for image in out if image is not None)
        if missing:  # the first alone, in this process: no workers start for a set that cannot fit
            first = out[missing[0]] = next(self._decode([paths[missing[0]]]))
            if held_bytes + first.nbytes * len(missing) > self.max_bytes:
                return None
            new_bytes = first.nbytes
            rest = self._decode([paths[i] for i in missing[1:]], workers, first.nbytes)
            for k, (i, image) in enumerate(zip(missing[1:], rest, strict=True), start=2):
                out[i] = image
                new_bytes += image.nbytes
                # images of several sizes: the first ESTIMATE_FROM tell early what will not fit
                if k == ESTIMATE_FROM and held_bytes + new_bytes / k * len(missing) > self.max_bytes:
                    return None
                if held_bytes + new_bytes > self.max_bytes:
                    return None
        for path in paths:
            if path in self._held:
                self._held.move_to_end(path)
        self._hold({paths[i]: (stamps[i], out[i]) for i in missing})
        return out  # type: ignore[return-value]  # every entry is an image by now

    def stack(self, paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
        """The images of `paths` as one (N, H, W, 3) uint8 array; None when they differ in size or exceed the
        budget."""
        return uniform(self.images(paths, workers))

    def resize(self, max_bytes: int) -> None:
        """A new budget; the least recently used images go until the held ones fit it."""
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self._held.clear()
        self.nbytes = 0

    def _decode(self, paths: Iterable[str], workers: int = 0, image_bytes: int = 0) -> Iterator[np.ndarray]:
        """The images of `paths` in order, decoded in this process or, when there are many, in `workers` loader
        processes (a damaged file is named either way); `image_bytes`: the size of one, to size their batches."""
        paths = list(paths)
        if workers <= 0 or len(paths) < PARALLEL_FROM:
            batches: Iterable[list[np.ndarray]] = ([read_image(p)] for p in paths)
        else:
            # every worker gets a share of a small set; a batch of large photos stays within BATCH_BYTES
            size = max(1, min(256, -(-len(paths) // workers), BATCH_BYTES // max(image_bytes, 1)))
            loader = DataLoader(_Files(paths), batch_size=size, num_workers=workers, collate_fn=_pack)
            batches = (_unpack(flat, shapes) for flat, shapes in loader)
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


def _pack(batch: list[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    """A worker's images as one flat tensor and their shapes: a tensor crosses to the main process in shared memory,
    where numpy arrays would be pickled through a pipe (slower than decoding them there)."""
    return torch.from_numpy(np.concatenate([image.reshape(-1) for image in batch])), [image.shape for image in batch]


def _unpack(flat: torch.Tensor, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The images of a packed batch, each copied out of the shared memory (which is freed with the batch)."""
    data, out, start = flat.numpy(), [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        out.append(data[start : start + n].reshape(shape).copy())
        start += n
    return out


def one_size(images: list[np.ndarray] | None) -> bool:
    """True for images (not None) that all have the same shape."""
    return images is not None and len({image.shape for image in images}) == 1


def uniform(images: list[np.ndarray] | None) -> np.ndarray | None:
    """Images of one size as one (N, H, W, 3) array; None for images of several sizes (or None)."""
    return np.stack(images) if one_size(images) else None


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)  # read_image names the missing file
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def default_mb() -> int:
    """The budget when none is given (ImageClassifier(cache_mb=None), no --cache-mb): a quarter of the memory this
    process may use (the machine's, or its container's limit when lower), divided among the processes of a torchrun
    run on this machine, each of which holds its own images."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_MB
    try:  # cgroup v2: "max" or a number of bytes
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        total = min(total, int(limit)) if limit.isdigit() else total
    except OSError:
        pass
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return int(total * MEMORY_SHARE / local) >> 20


_STORE = DecodedImages()


def store() -> DecodedImages:
    """The process's store."""
    return _STORE


def decode_all(paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
    """Every image of `paths` as one (N, H, W, 3) uint8 array through the process's store, or None when they differ
    in size or exceed its budget."""
    return _STORE.stack(paths, workers)
