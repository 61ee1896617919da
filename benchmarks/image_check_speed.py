"""Decode check of every image before training, and the training images' digests a run saves: seconds, extrapolated.

    python benchmarks/image_check_speed.py [--images 30000] [--workers 2] [--rounds 3]

Writes --images generated 32x32 PNGs (CIFAR-10's size and format) to a temporary folder and times, in the same
run: the baseline (PIL header read only, one process, what check_image_files did) and pipeline.imagefiles'
verify_images (full decode, --workers processes, including pool start-up), then the cached second call. Then
pipeline.imagedigests.save_training_images (size and sha256 of every file, one process: what a run of an image
competition writes to train_images.json for predict), as a whole ("step") and the digests alone
(pipeline.digestcache.digests), each in three variants interleaved over --rounds rounds (medians): without a cache
(what every run did before the digests were remembered), a first run with the cache (every file hashed, the cache
written) and a second run on the same unchanged files (the cache read, one stat per file). Reports images/s, the
ratios and the extrapolated time for 300,000 images (CIFAR-10's test set) and for 50,000 (its training set, what the
digests read); writes benchmarks/figures/image_check_speed.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402

KINDS = ("step", "digests")  # the run's whole step (save_training_images), and the digests alone


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def check_times(paths: list[str], root: Path, workers: int) -> dict[str, float]:
    """The header-read baseline, the decode check and its cached second call: seconds."""
    from PIL import Image

    from pipeline.imagefiles import verify_images

    def headers() -> None:
        for p in paths:
            with Image.open(p) as im:
                im.size  # noqa: B018 - the header read is the point

    return {
        "header_read_s": timed(headers),
        "decode_check_s": timed(lambda: verify_images(paths, cache_dir=root, workers=workers)),
        "decode_check_cached_s": timed(lambda: verify_images(paths, cache_dir=root, workers=workers)),
    }


def digest_times(paths: list[str], root: Path, rounds: int) -> tuple[dict[str, list[float]], int]:
    """Seconds per round, variants interleaved: the run's whole step (save_training_images: digests, names relative to
    the data folder, train_images.json written) and the digests alone (digestcache.digests), each without a cache, on a
    first run with one (no cache file yet) and on a second; and the cache file's size in bytes."""
    from pipeline.digestcache import CACHE_FILE, digests
    from pipeline.imagedigests import save_training_images

    cache = root / "cache"
    found: dict[str, list[object]] = {"step": [], "digests": []}
    calls = {
        "step": lambda where: found["step"].append(save_training_images(root / "run", paths, root, where)),
        "digests": lambda where: found["digests"].append(digests(paths, where)),
    }
    seconds: dict[str, list[float]] = {f"{k}_{v}": [] for k in calls for v in ("uncached", "first_run", "second_run")}
    for _ in range(rounds):
        for kind, call in calls.items():
            (cache / CACHE_FILE).unlink(missing_ok=True)
            seconds[f"{kind}_uncached"].append(timed(lambda: call(None)))  # noqa: B023 - called at once
            seconds[f"{kind}_first_run"].append(timed(lambda: call(cache)))  # noqa: B023
            seconds[f"{kind}_second_run"].append(timed(lambda: call(cache)))  # noqa: B023
    assert all(all(r == results[0] for r in results) for results in found.values()), "a cached digest differs"
    return seconds, (cache / CACHE_FILE).stat().st_size


def main() -> None:
    """Generate, time, print, save."""
    from pipeline.vision.synthetic import write_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=30000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="image-check-bench-"))
    try:
        names = [f"{i}.png" for i in range(args.images)]
        write_images(root / "test", names, np.arange(args.images) % 10, 10, 32, 0)
        paths = [str(root / "test" / n) for n in names]
        check = check_times(paths, root, args.workers)
        rounds, cache_bytes = digest_times(paths, root, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    n = args.images
    base, full, cached = check["header_read_s"], check["decode_check_s"], check["decode_check_cached_s"]
    digests = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"{n} images, 32x32 PNG")
    print(f"baseline header read (1 process): {n / base:,.0f} images/s")
    print(
        f"decode check ({args.workers} workers): {n / full:,.0f} images/s ({base / full:.2f}x the baseline's speed); "
        f"300,000 images: {300_000 * full / n:.0f} s"
    )
    print(f"cached second call: {cached:.2f} s ({300_000 * cached / n:.1f} s for 300,000)")
    d = digests["step_uncached"]
    print(
        f"training images' digests (1 process, no cache): {n / d:,.0f} images/s ({base / d:.2f}x the baseline's "
        f"speed, {full / d:.2f}x the decode check's); 50,000 images: {50_000 * d / n:.1f} s"
    )
    print(f"digest cache, median of {args.rounds} interleaved rounds (seconds for {n} images; 50,000 images):")
    for kind in KINDS:
        uncached = digests[f"{kind}_uncached"]
        for variant in ("uncached", "first_run", "second_run"):
            t = digests[f"{kind}_{variant}"]
            print(
                f"  {kind:7s} {variant.replace('_', ' '):10s} {t:6.2f} s  {uncached / t:5.2f}x the uncached speed  "
                f"{50_000 * t / n:5.2f} s"
            )
    print(f"cache file: {cache_bytes / n:.0f} bytes per image ({cache_bytes / 2**20:.1f} MiB)")
    cmd = f"python benchmarks/image_check_speed.py --images {n} --workers {args.workers} --rounds {args.rounds}"
    summary = {
        "images": n,
        "check": check,
        "digest_seconds_median": digests,
        "digest_seconds_rounds": rounds,
        "speedup_second_run": {k: digests[f"{k}_uncached"] / digests[f"{k}_second_run"] for k in KINDS},
        "ratio_first_run_to_uncached": {k: digests[f"{k}_first_run"] / digests[f"{k}_uncached"] for k in KINDS},
        "cache_bytes": cache_bytes,
    }
    print(f"saved {save('image_check_speed', cmd, summary)}")


if __name__ == "__main__":
    main()
