"""Decoded images kept by the process, so that a run decodes each training, validation and test image once.

A k-fold run asks for the same files again and again: every fold's training rows, its validation rows for the
epoch scores and again for the out-of-fold predictions, and the whole test set for each fold's test predictions
(300,000 PNGs a fold for Kaggle's CIFAR-10). The process keeps them decoded, least recently used first out, up to a
byte budget; a file that changed on disk (inode, size or modification time) is decoded again.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.machine import memory_bytes
from pipeline.stacked import files_of
from pipeline.vision.data import downsized, read_image

FALLBACK_MB = 2048  # where the machine's memory cannot be read
MEMORY_SHARE = 0.25  # of the machine's (or the container's) memory, shared by the processes of a torchrun run
Stamp = tuple[int, ...]  # a file's inode, size and mtime (each channel file's): a changed file is decoded again
Key = tuple[str, int]  # a file and the longest side its image was cut to (0: as decoded)
Cut = tuple[np.ndarray, int, int]  # an image (maybe cut) and the width and height it was decoded at
# Missing images are decoded in loader workers when there are this many, or when decoding them here would take this
# long (estimated from the first: large photos); else in the calling process, where no workers start.
PARALLEL_FROM = 512
PARALLEL_SECONDS = 1.0
ESTIMATE_FROM = 16  # images of several sizes: the first this many estimate whether the set fits the budget
BATCH_BYTES = 16 << 20  # the most a worker's batch of decoded images takes in shared memory


class DecodedImages:
    """Images decoded once and held in memory up to `max_bytes` (see the module's docstring)."""

    def __init__(self, max_bytes: int = FALLBACK_MB << 20) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.decodes = 0  # files decoded so far (the tests and benchmarks count them)
        self._held: OrderedDict[Key, tuple[Stamp, Cut]] = OrderedDict()

    def images(self, paths: Sequence[str], workers: int = 0) -> list[np.ndarray] | None:
        """Every path's uint8 image (RGB, or one channel a file: pipeline/stacked.py; of any sizes), decoding the
        ones not held (in `workers` loader processes when there are many or they are slow to decode); None when
        together they exceed the budget, and then nothing new is held."""
        held = self.cut(paths, 0, workers)
        return None if held is None else [image for image, _, _ in held]

    def cut(self, paths: Sequence[str], max_side: int, workers: int = 0) -> list[Cut] | None:
        """Every path's image with its longest side cut to `max_side` (`downsized`: INTER_AREA, never enlarged; 0:
        as decoded) and the width and height it was decoded at: a detector's inputs, held like the rest (the same
        file cut to another size is another entry); None as `images` says."""
        if len(paths) == 0 or self.max_bytes <= 0:
            return None
        keys = [(str(p), max_side) for p in paths]
        stamps = [_stamp(path) for path, _ in keys]
        out: list[Cut | None] = []
        for key, stamp in zip(keys, stamps, strict=True):
            held = self._held.get(key)
            out.append(held[1] if held is not None and held[0] == stamp else None)
        missing = [i for i, image in enumerate(out) if image is None]
        held_bytes = sum(image[0].nbytes for image in out if image is not None)
        if missing:  # the first alone, in this process: no workers start for a set that cannot fit
            started = time.perf_counter()
            first = out[missing[0]] = next(self._decode([keys[missing[0]][0]], max_side))
            if held_bytes + first[0].nbytes * len(missing) > self.max_bytes:
                return None
            new_bytes, n = first[0].nbytes, len(missing) - 1
            many = n >= PARALLEL_FROM or (time.perf_counter() - started) * n >= PARALLEL_SECONDS
            rest = self._decode([keys[i][0] for i in missing[1:]], max_side, workers if many else 0, first[0].nbytes)
            for k, (i, image) in enumerate(zip(missing[1:], rest, strict=True), start=2):
                out[i] = image
                new_bytes += image[0].nbytes
                # images of several sizes: the first ESTIMATE_FROM tell early what will not fit
                if k == ESTIMATE_FROM and held_bytes + new_bytes / k * len(missing) > self.max_bytes:
                    return None
                if held_bytes + new_bytes > self.max_bytes:
                    return None
        for key in keys:
            if key in self._held:
                self._held.move_to_end(key)
        self._hold({keys[i]: (stamps[i], out[i]) for i in missing})
        return out  # type: ignore[return-value]  # every entry is an image by now

    def stack(self, paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
        """The images of `paths` as one (N, H, W, C) uint8 array; None when they differ in size or exceed the
        budget."""
        return uniform(self.images(paths, workers))

    def resize(self, max_bytes: int) -> None:
        """A new budget; the least recently used images go until the held ones fit it."""
        self.max_bytes = max_bytes
        self._evict()

    def clear(self) -> None:
        self._held.clear()
        self.nbytes = 0

    def _decode(self, paths: Iterable[str], max_side: int, workers: int = 0, image_bytes: int = 0) -> Iterator[Cut]:
        """The images of `paths` in order, cut to `max_side`, decoded in this process or in `workers` loader
        processes (a damaged file is named either way); `image_bytes`: the size of one, to size their batches."""
        paths = list(paths)
        if workers <= 0:
            batches: Iterable[list[Cut]] = ([read_cut(p, max_side)] for p in paths)
        else:
            # every worker gets a share of a small set; a batch of large photos stays within BATCH_BYTES
            size = max(1, min(256, -(-len(paths) // workers), BATCH_BYTES // max(image_bytes, 1)))
            loader = DataLoader(_Files(paths, max_side), batch_size=size, num_workers=workers, collate_fn=_pack)
            batches = (_unpack(*packed) for packed in loader)
        for batch in batches:
            for image in batch:
                self.decodes += 1
                image[0].flags.writeable = False  # held arrays are shared by every caller
                yield image

    def _hold(self, new: dict[Key, tuple[Stamp, Cut]]) -> None:
        """Keep what a call decoded, evicting the least recently used images to make room. The call's own images
        are the most recently used and fit the budget together, so only other calls' images go."""
        for key, entry in new.items():
            old = self._held.pop(key, None)
            if old is not None:
                self.nbytes -= old[1][0].nbytes
            self._held[key] = entry
            self.nbytes += entry[1][0].nbytes
        self._evict()

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes:
            self.nbytes -= self._held.popitem(last=False)[1][1][0].nbytes


class _Files(Dataset):
    """Image files decoded (and cut) by index: what a loader's workers decode for the store."""

    def __init__(self, paths: list[str], max_side: int) -> None:
        self.paths = paths
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Cut:
        return read_cut(self.paths[i], self.max_side)


def read_cut(path: str, max_side: int) -> Cut:
    """The image of `path` with its longest side cut to `max_side` (0: as decoded), and the width and height it was
    decoded at: what the store holds, and what a loader reads when the store holds nothing."""
    image = read_image(path)
    h, w = image.shape[:2]
    return (downsized(image, max_side) if max_side else image), w, h


def _pack(batch: list[Cut]) -> tuple[torch.Tensor, list[tuple[int, ...]], list[tuple[int, int]]]:
    """A worker's images as one flat tensor, their shapes and decoded sizes: a tensor crosses to the main process in
    shared memory, where numpy arrays would be pickled through a pipe (slower than decoding them there)."""
    flat = torch.from_numpy(np.concatenate([image.reshape(-1) for image, _, _ in batch]))
    return flat, [image.shape for image, _, _ in batch], [(w, h) for _, w, h in batch]


def _unpack(flat: torch.Tensor, shapes: list[tuple[int, ...]], sizes: list[tuple[int, int]]) -> list[Cut]:
    """The images of a packed batch, each copied out of the shared memory (which is freed with the batch)."""
    data, out, start = flat.numpy(), [], 0
    for shape, (w, h) in zip(shapes, sizes, strict=True):
        n = int(np.prod(shape))
        out.append((data[start : start + n].reshape(shape).copy(), int(w), int(h)))
        start += n
    return out


def one_size(images: list[np.ndarray] | None) -> bool:
    """True for images (not None) that all have the same shape."""
    return images is not None and len({image.shape for image in images}) == 1


def uniform(images: list[np.ndarray] | None) -> np.ndarray | None:
    """Images of one size as one (N, H, W, C) array; None for images of several sizes (or None)."""
    return np.stack(images) if one_size(images) else None


def _stamp(path: str) -> Stamp:
    """A file's inode, size and modification time; an image of several channel files' (pipeline/stacked.py): its
    files' one after another."""
    out: tuple[int, ...] = ()
    for file in files_of(path):
        try:
            st = os.stat(file)
        except OSError:
            return (-1, -1, -1)  # read_image names the missing file
        out += (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def default_mb() -> int:
    """The budget when none is given (ImageClassifier(cache_mb=None), no --cache-mb): a quarter of the memory this
    process may use (the machine's, or its container's limit when lower), divided among the processes of a torchrun
    run on this machine, each of which holds its own images."""
    total = memory_bytes()
    if total is None:
        return FALLBACK_MB
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return int(total * MEMORY_SHARE / local) >> 20


_STORE = DecodedImages()


def store() -> DecodedImages:
    """The process's store."""
    return _STORE


def budgeted(cache_mb: int | None) -> DecodedImages:
    """The process's store with its budget set to `cache_mb` MiB (an estimator's cache_mb, the runner's --cache-mb;
    None: default_mb())."""
    _STORE.resize((default_mb() if cache_mb is None else int(cache_mb)) << 20)
    return _STORE


def decode_all(paths: Sequence[str], workers: int = 0) -> np.ndarray | None:
    """Every image of `paths` as one (N, H, W, C) uint8 array through the process's store, or None when they differ
    in size or exceed its budget."""
    return _STORE.stack(paths, workers)
