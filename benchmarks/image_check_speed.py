"""Decode check of every image before training, and the training images' digests a run saves: seconds, extrapolated.

    python benchmarks/image_check_speed.py [--images 30000] [--workers 2]

Writes --images generated 32x32 PNGs (CIFAR-10's size and format) to a temporary folder and times, in the same
run: the baseline (PIL header read only, one process, what check_image_files did) and pipeline.imagefiles'
verify_images (full decode, --workers processes, including pool start-up), then the cached second call, then
pipeline.imagedigests.save_training_images (size and sha256 of every file, one process: what a run of an image
competition writes to train_images.json for predict). Reports images/s, the ratios to the baseline and the
extrapolated time for 300,000 images (CIFAR-10's test set) and for 50,000 (its training set, what the digests read).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    """Generate, time, print."""
    from PIL import Image

    from pipeline.imagedigests import save_training_images
    from pipeline.imagefiles import verify_images
    from pipeline.vision.synthetic import write_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=30000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="image-check-bench-"))
    try:
        names = [f"{i}.png" for i in range(args.images)]
        write_images(root / "test", names, np.arange(args.images) % 10, 10, 32, 0)
        paths = [str(root / "test" / n) for n in names]
        t0 = time.perf_counter()
        for p in paths:
            with Image.open(p) as im:
                im.size  # noqa: B018 - the header read is the point
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        verify_images(paths, cache_dir=root, workers=args.workers)
        full = time.perf_counter() - t0
        t0 = time.perf_counter()
        verify_images(paths, cache_dir=root, workers=args.workers)
        cached = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_training_images(root / "run", paths, root)
        digests = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = args.images
    print(f"{n} images, 32x32 PNG")
    print(f"baseline header read (1 process): {n / base:,.0f} images/s")
    print(
        f"decode check ({args.workers} workers): {n / full:,.0f} images/s ({base / full:.2f}x the baseline's speed); "
        f"300,000 images: {300_000 * full / n:.0f} s"
    )
    print(f"cached second call: {cached:.2f} s ({300_000 * cached / n:.1f} s for 300,000)")
    print(
        f"training images' digests (1 process): {n / digests:,.0f} images/s ({base / digests:.2f}x the baseline's "
        f"speed, {full / digests:.2f}x the decode check's); 50,000 images: {50_000 * digests / n:.1f} s"
    )


if __name__ == "__main__":
    main()
