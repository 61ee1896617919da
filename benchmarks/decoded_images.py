"""A k-fold image run with the process's store of decoded images against the same run decoding as it reads.

    python benchmarks/decoded_images.py [--data ../shared/data/cifar-10.zip] [--folds 5] [--epochs 1] [--rounds 2]

Both variants are the whole command, `python -m pipeline run competitions/cifar10 --data ... --preset fast
--set holdout=0 --folds K --set epochs=E --set augment_on=loader` (augmentation in the loader for both: on the device
it needs the images held), and differ only in `--cache-mb`:
- held (the default): each training, validation and test image is decoded once for the run
  (pipeline/vision/decoded.py); prediction reads them from memory, with no loader workers;
- streamed (`--cache-mb 0`): what every run did before: each fold decodes its training rows every epoch in the
  loader, its validation rows for the epoch's score and again for the out-of-fold predictions, and the whole test set.
The fast preset's tiny network keeps the model's share of the time small, as a GPU does; on the CPU with a real
network the model's time dominates. The variants run interleaved, in alternating order, `--rounds` times; the
median wall time and the ratio go to benchmarks/figures/decoded_images.json (decoded_images_cuda.json on a GPU)
with the images each run decodes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"held": [], "streamed": ["--cache-mb", "0"]}


def reads(variant: str, n_train: int, n_test: int, folds: int, epochs: int, batch: int) -> int:
    """Images a run decodes: once each when held; else per fold the training rows in full batches each epoch, the
    validation rows twice and the test set."""
    if variant == "held":
        return n_train + n_test
    valid = n_train // folds
    return folds * (epochs * ((n_train - valid) // batch * batch) + 2 * valid + n_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import competitions.cifar10 as cifar
    from pipeline.datadir import extract_competition_zip

    batch = cifar.PRESETS["fast"]["batch_size"]
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        # extracted once before the timed runs, so that no run pays for the extraction
        data = args.data.resolve() if args.data.is_dir() else extract_competition_zip(args.data, Path(tmp) / "data")
        for r in range(args.rounds):
            for name in VARIANTS if r % 2 == 0 else list(VARIANTS)[::-1]:
                cmd = [sys.executable, "-m", "pipeline", "run", str(ROOT / "competitions" / "cifar10")]
                cmd += ["--data", str(data), "--preset", "fast", "--set", "holdout=0", "--folds", str(args.folds)]
                cmd += ["--set", f"epochs={args.epochs}", "--set", "augment_on=loader", "--quiet", *VARIANTS[name]]
                t = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
                seconds[name].append(time.perf_counter() - t)
                print(f"round {r + 1}: {name} {seconds[name][-1]:.1f} s", flush=True)
        loaded = cifar.load(cifar.Config(), data)
        n_train, n_test = len(loaded.X), len(loaded.X_test)
    med = {v: statistics.median(s) for v, s in seconds.items()}
    results = {}
    for v in VARIANTS:
        n = reads(v, n_train, n_test, args.folds, args.epochs, batch)
        print(f"{v}: {med[v]:.1f} s ({med[v] / med['held']:.2f}x held), {n} images decoded")
        results[v] = {"seconds": seconds[v], "vs_held": med[v] / med["held"], "images_decoded": n}
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchutil import peak_memory, save

    cmd = f"python benchmarks/decoded_images.py --folds {args.folds} --epochs {args.epochs} --rounds {args.rounds}"
    summary = {"train_images": n_train, "test_images": n_test, "folds": args.folds, "epochs": args.epochs}
    import torch

    name = "decoded_images_cuda" if torch.cuda.is_available() else "decoded_images"
    save(name, cmd, summary | {"variants": results, "memory": peak_memory()})


if __name__ == "__main__":
    main()
