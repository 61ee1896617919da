"""Fine-tuning's input pipeline without a model: photos decoded every epoch against photos held decoded for the run.

    python benchmarks/photo_epochs.py [--photos 1000] [--epochs 3] [--rounds 3] [--workers 2]

`--photos` generated JPEGs of 500x375 px (the size of a typical dog-breeds photo; quality 90), through the dog-breeds
recipe's training augmentation (random resized crop to 384 px, flip, colour jitter: pipeline/vision/augment.py), in
its batches of 32, `--epochs` epochs of one persistent loader with `--workers` workers, as the trainer runs it:
- decoded every epoch (`--cache-mb 0`, and every fine-tuning run before the store held photos of several sizes);
- held: decoded once through the process's store (pipeline/vision/decoded.py), its decoding counted; and the same
  epochs without it, as a run's later folds go (the store holds the photos for the whole run).
The variants run interleaved, in alternating order, `--rounds` times; medians and the ratio go to
benchmarks/figures/photo_epochs.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def write_photos(folder: Path, n: int, size: tuple[int, int] = (500, 375)) -> list[str]:
    """n JPEGs of `size` (width, height): smooth colour fields with noise, so that they compress and decode like
    photos."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]] / 500.0
    paths = []
    for i in range(n):
        a = rng.uniform(0, 6, size=(3, 3))
        image = np.stack([np.sin(a[c, 0] * xx + a[c, 1] * yy + a[c, 2]) for c in range(3)], axis=-1)
        image = (127 + 100 * image + rng.normal(0, 12, image.shape)).clip(0, 255).astype(np.uint8)
        path = folder / f"{i}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def epochs(paths: list[str], held: bool, n_epochs: int, workers: int) -> tuple[float, float]:
    """Images/s of n_epochs through one persistent loader: with the store's decoding, and without it (the later
    folds of a run, whose photos the store holds already)."""
    import competitions.dog_breeds as dogs
    from pipeline.training.data import epoch_rows
    from pipeline.training.runtime import epoch_seed
    from pipeline.vision.data import ImageDataset, make_loader
    from pipeline.vision.decoded import store

    cfg = dogs.Config()
    t0 = time.perf_counter()
    if held:
        store().clear()
        cache = store().images(paths, workers)
    else:
        cache = None
    fill = time.perf_counter() - t0
    ds = ImageDataset(paths, np.zeros(len(paths), dtype=int), dogs.transforms(cfg, train=True), cache)
    loader, seen = None, 0
    for e in range(n_epochs):
        seed = epoch_seed(0, e)
        rows = epoch_rows(len(ds), True, seed, cfg.batch_size, True)
        if loader is None:
            loader = make_loader(ds, cfg.batch_size, False, seed, workers, rows=rows, persistent=True)
        else:
            loader.batch_sampler.set_epoch(rows, seed)
        seen += sum(len(xb) for xb, _ in loader)
    del loader
    wall = time.perf_counter() - t0
    return seen / wall, seen / (wall - fill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    variants = {"decoded every epoch": False, "held": True}
    rates: dict[str, list[float]] = {v: [] for v in variants}
    held_later: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), args.photos)
        for r in range(args.rounds):
            for name in variants if r % 2 == 0 else list(variants)[::-1]:
                rate, later = epochs(paths, variants[name], args.epochs, args.workers)
                rates[name].append(rate)
                held_later += [later] if variants[name] else []
                print(f"round {r + 1}: {name} {rate:.0f} img/s ({later:.0f} without decoding)", flush=True)
    med = {v: statistics.median(x) for v, x in rates.items()}
    base = med["decoded every epoch"]
    for v in variants:
        print(f"{v}: {med[v]:.0f} img/s, {med[v] / base:.2f}x")
    later = statistics.median(held_later)
    print(f"held, a later fold (the store filled): {later:.0f} img/s, {later / base:.2f}x")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchutil import peak_memory, save

    cmd = (
        f"python benchmarks/photo_epochs.py --photos {args.photos} --epochs {args.epochs} --rounds {args.rounds} "
        f"--workers {args.workers}"
    )
    results = {v: {"images_per_s": rates[v], "vs_decoded_every_epoch": med[v] / base} for v in variants}
    results["held, a later fold"] = {"images_per_s": held_later, "vs_decoded_every_epoch": later / base}
    save("photo_epochs", cmd, {"photos": args.photos, "epochs": args.epochs, "variants": results} | peak_memory())


if __name__ == "__main__":
    main()
