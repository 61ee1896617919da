"""Epochs of training batches without a model: the input pipeline as it was, as the trainer runs it now, and batched.

    python benchmarks/loader_epochs.py [--data ../shared/data/cifar-10.zip] [--sizes 600,10000] [--epochs 3]
        [--rounds 3] [--workers 2]

Over the first N decoded training images of the real data, with the CIFAR-10 recipe's augmentation (reflect-pad 2 +
random crop, flip, one 8x8 cutout) and its batch size, each variant delivers `--epochs` epochs of shuffled uint8
batches to the main process (which only receives them):
- before: a new DataLoader every epoch (its workers start again), one random stream per worker (the trainer until
  this change: augmentation depended on the number of workers);
- now: one DataLoader for the fit with persistent workers, each image reseeded from (epoch seed, row) (the trainer's
  `augment_on=loader` path; the same batches with any number of workers);
- batched: the images held as one tensor and augmented a batch at a time (BatchAugment, `augment_on=auto`; here on
  the CPU, in the main process).
The variants run interleaved, in alternating order, `--rounds` times; the median images/s and the ratio to "before"
go to benchmarks/figures/loader_epochs.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.cifar10_train_speed import load_images  # noqa: E402


def before(ds: object, batch: int, epochs: int, workers: int) -> int:
    """The old loader: a new DataLoader per epoch, each worker reseeding the transform once from its torch seed."""
    import torch
    from torch.utils.data import DataLoader, get_worker_info

    from pipeline.training.runtime import epoch_seed
    from pipeline.vision.data import _collate

    def init(worker_id: int) -> None:
        torch.set_num_threads(1)
        get_worker_info().dataset.reseed(torch.initial_seed() % 2**32)

    seen = 0
    for e in range(epochs):
        seed = epoch_seed(0, e)
        if workers == 0:
            ds.reseed(seed)
        loader = DataLoader(
            ds,
            batch_size=batch,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
            num_workers=workers,
            collate_fn=_collate,
            drop_last=True,
            worker_init_fn=init if workers else None,
        )
        seen += sum(len(xb) for xb, _ in loader)
    return seen


def now(ds: object, batch: int, epochs: int, workers: int) -> int:
    """The trainer's loader path: one persistent loader, the next epoch's rows and seed through set_epoch."""
    from pipeline.training.data import epoch_rows
    from pipeline.training.runtime import epoch_seed
    from pipeline.vision.data import make_loader

    loader, seen = None, 0
    for e in range(epochs):
        seed = epoch_seed(0, e)
        rows = epoch_rows(len(ds), True, seed, batch, True)
        if loader is None:
            loader = make_loader(ds, batch, False, seed, workers, rows=rows, persistent=True)
        else:
            loader.batch_sampler.set_epoch(rows, seed)
        seen += sum(len(xb) for xb, _ in loader)
    del loader  # its workers stop
    return seen


def batched(ds: object, batch: int, epochs: int, workers: int) -> int:
    """The device path: the decoded images as one tensor, each epoch's draws per row, augmented a batch at a time."""
    import torch

    import competitions.cifar10 as cifar
    from pipeline.training.data import epoch_rows
    from pipeline.training.runtime import epoch_seed
    from pipeline.vision.batch_augment import device_batches

    augment = cifar.batch_augment(cifar.Config())
    images, labels = torch.from_numpy(ds.cache), torch.as_tensor(np.array(ds.labels))
    seen = 0
    for e in range(epochs):
        seed = epoch_seed(0, e)
        order = torch.as_tensor(epoch_rows(len(ds), True, seed, batch, True))
        draws = augment.draw(images.shape[:3], torch.Generator().manual_seed(seed))
        seen += sum(len(xb) for xb, _ in device_batches(images, labels, order, batch, augment, draws))
    return seen


VARIANTS = {"before": before, "now": now, "batched": batched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--sizes", default="600,10000")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(8, len(os.sched_getaffinity(0))))
    args = parser.parse_args()
    import competitions.cifar10 as cifar
    from pipeline.vision.data import ImageDataset
    from pipeline.vision.decoded import decode_all

    cfg = cifar.Config()
    sizes = [int(s) for s in args.sizes.split(",")]
    X, y = load_images(args.data, max(sizes))
    cache = decode_all(list(X))
    results: dict[str, dict[str, object]] = {}
    print(f"batch {cfg.batch_size}, {args.epochs} epochs, {args.workers} loader workers, {os.cpu_count()} cores")
    for n in sizes:
        ds = ImageDataset(X[:n], y[:n], cifar.transforms(cfg, train=True), cache[:n])
        rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(args.rounds):
            for name in VARIANTS if r % 2 == 0 else list(VARIANTS)[::-1]:
                t = time.perf_counter()
                seen = VARIANTS[name](ds, cfg.batch_size, args.epochs, args.workers)
                rates[name].append(seen / (time.perf_counter() - t))
            print(f"{n} images, round {r + 1}: " + ", ".join(f"{v} {rates[v][-1]:.0f}" for v in VARIANTS) + " img/s")
        med = {v: statistics.median(x) for v, x in rates.items()}
        for v in VARIANTS:
            print(f"{n} images: {v} {med[v]:.0f} img/s, {med[v] / med['before']:.2f}x before")
        results[str(n)] = {v: {"images_per_s": rates[v], "vs_before": med[v] / med["before"]} for v in VARIANTS}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchutil import peak_memory, save

    cmd = (
        f"python benchmarks/loader_epochs.py --sizes {args.sizes} --epochs {args.epochs} --rounds {args.rounds} "
        f"--workers {args.workers}"
    )
    save("loader_epochs", cmd, {"workers": args.workers, "sizes": results, "memory": peak_memory()})


if __name__ == "__main__":
    main()
