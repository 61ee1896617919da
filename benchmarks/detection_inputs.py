"""A k-fold detection run's input pipeline without the model: photos held decoded for the run against decoded as read.

    python benchmarks/detection_inputs.py [--photos 400] [--test 100] [--folds 5] [--epochs 3] [--rounds 3]
                                          [--workers 2] [--image-size 512]

`--photos` training and `--test` test JPEGs of 1024x768 px (quality 90, one box each), read as the Detector reads
them in a k-fold run: per fold, `--epochs` epochs of its training rows through the training augmentation (resize to
`--image-size`, flip, zoom-crop, colour) and of its validation rows twice (the validation loss and the per-epoch
mAP), each through one persistent loader with `--workers` workers, as the trainer keeps them; then the validation
rows' boxes and the whole test set, as `predict` reads them. Two variants, differing only in `cache_mb`:
- held (the default): each image decoded once for the run and held cut to image_size (pipeline/vision/decoded.py);
- streamed (`--cache-mb 0`): each read decodes the photo and cuts it, as every read did before, except the training
  rows, which each fit held for its own epochs before the store (that is what "before" measures).
After an untimed warm-up (imports, the first workers), the variants run interleaved, in alternating order, `--rounds`
times; medians, the ratio and the images decoded go to
benchmarks/figures/detection_inputs.json (`--figure` names another: gpu.sh's step `detinputs` on a GPU machine's cores).
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photo_epochs import write_photos  # noqa: E402

VARIANTS = ("held", "before", "streamed")


def decodes(variant: str, n: int, n_test: int, folds: int, epochs: int) -> int:
    """Images a variant decodes: once each when held; else per fold the validation rows 2 x epochs + 1 times and the
    test set, and the training rows once (before) or every epoch (streamed)."""
    if variant == "held":
        return n + n_test
    valid = n // folds
    return folds * ((1 if variant == "before" else epochs) * (n - valid) + (2 * epochs + 1) * valid + n_test)


def kfold_reads(paths: list[str], test: list[str], y: np.ndarray, variant: str, args: argparse.Namespace) -> int:
    """Every image a k-fold run's loaders read (see the module's docstring); returns the images they read."""
    from pipeline.detection.data import DetectionDataset, make_loader, make_transform
    from pipeline.detection.estimator import Detector
    from pipeline.training.runtime import Runtime
    from pipeline.vision.decoded import DecodedImages, store

    size, workers = args.image_size, args.workers
    det = Detector(image_size=size, cache_mb=0 if variant == "streamed" else None, num_workers=workers)
    rt = Runtime(device="cpu", num_workers=workers)
    store().clear()
    folds = np.arange(len(paths)) % args.folds
    read = 0
    for f in range(args.folds):
        tr = [p for p, k in zip(paths, folds, strict=True) if k != f]
        va = [p for p, k in zip(paths, folds, strict=True) if k == f]
        y_tr, y_va = y[folds != f], y[folds == f]
        assert len(va) == len(paths) // args.folds, "--photos must be a multiple of --folds"
        # before the store: each fit held its own training images, every other read decoded
        train_held = DecodedImages(1 << 40).cut(tr, size, workers) if variant == "before" else det._held(tr, rt)
        valid_held = None if variant == "before" else det._held(va, rt)
        train = DetectionDataset(tr, y_tr, make_transform(size, True), train_held, size)
        valid = DetectionDataset(va, y_va, make_transform(size, False), valid_held, size)
        unboxed = det._unboxed(va, valid_held)
        loaders = [make_loader(ds, 8, ds is train, f, workers, persistent=True) for ds in (train, valid, unboxed)]
        for _ in range(args.epochs):
            read += sum(len(images) for loader in loaders for images, _, _ in loader)
        del loaders  # their workers end with the fit
        for ds in (unboxed, det._unboxed(test, None if variant == "before" else det._held(test, rt))):
            read += sum(len(images) for images, _, _ in make_loader(ds, 16, False, 0, workers))
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--figure", default="detection_inputs", help="benchmarks/figures/<FIGURE>.json")
    args = parser.parse_args()
    from pipeline.detection.boxes import pack

    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photos(Path(tmp), args.photos + args.test, (1024, 768))
        train, test = paths[: args.photos], paths[args.photos :]
        box = [np.array([[300.0, 200.0, 200.0, 300.0]])]
        y = np.vstack([pack(box, [np.ones(1)], [np.zeros(1, int)], 1) for _ in train])
        n = 2 * args.folds  # untimed: imports and the first worker start would fall on the first timed variant
        kfold_reads(train[:n], test[:2], y[:n], "streamed", args)
        for r in range(args.rounds):
            for name in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                t0 = time.perf_counter()
                read = kfold_reads(train, test, y, name, args)
                seconds[name].append(time.perf_counter() - t0)
                print(f"round {r + 1}: {name} {seconds[name][-1]:.1f} s, {read} images read", flush=True)
    med = {v: statistics.median(s) for v, s in seconds.items()}
    decoded = {v: decodes(v, args.photos, args.test, args.folds, args.epochs) for v in VARIANTS}
    for v in VARIANTS:
        print(f"{v}: {med[v]:.1f} s ({med['streamed'] / med[v]:.2f}x streamed's speed), {decoded[v]} images decoded")
    from benchutil import peak_memory, save

    cmd = (
        f"python benchmarks/detection_inputs.py --photos {args.photos} --test {args.test} --folds {args.folds} "
        f"--epochs {args.epochs} --rounds {args.rounds} --workers {args.workers} --image-size {args.image_size}"
    ) + ("" if args.figure == "detection_inputs" else f" --figure {args.figure}")
    speed = {v: med["streamed"] / med[v] for v in VARIANTS}
    results = {v: {"seconds": seconds[v], "speed_vs_streamed": speed[v], "decoded": decoded[v]} for v in VARIANTS}
    save(args.figure, cmd, {"args": vars(args), "variants": results} | peak_memory())


if __name__ == "__main__":
    main()
