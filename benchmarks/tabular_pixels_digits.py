"""Images held in a table: the "cnn" `new` writes for a table of pixel columns, against the tabular recipe's models on
the same columns, on real handwritten digits.

    python benchmarks/tabular_pixels_digits.py [--splits 3] [--only TEXT,...]

No Digit Recognizer download is here, so scikit-learn's own handwritten digits (1,797 8x8 images, values 0 to 16,
shipped with scikit-learn) stand in, written in Digit Recognizer's layout: train.csv `label,pixel0..pixel63`, test.csv
the pixel columns alone, sample_submission.csv `ImageId,Label` with ImageId 1, 2, ... For each seeded split (20% of
the images held out as test.csv, stratified) `new` writes the competition once (PIXELS and models ("cnn",)), then
`run` on the same folds with each variant's --set; each submission is scored on the held-out labels. Variants run
one after another on each split, so a change of machine load hits every variant of a split alike.
Results: benchmarks/figures/tabular_pixels_digits.json (with --only: tabular_pixels_digits_<only>.json).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save, scratch_cwd  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

HOLDOUT = 0.2
VARIANTS: dict[str, list[str]] = {
    "cnn (new's default)": [],
    "the tabular four (lightgbm, xgboost, catboost, linear)": ["models=lightgbm,xgboost,catboost,linear"],
    "cnn + lightgbm": ["models=cnn,lightgbm"],
    "cnn, no shift TTA": ["cnn_tta=[]"],
    "cnn, no shift augmentation": ["cnn_shift=0"],
    "cnn, shifted only (no turn, no zoom)": ["cnn_rotate=0", "cnn_zoom=0"],
}


def write_split(seed: int, folder: Path) -> np.ndarray:
    """Digit Recognizer's three files for one seeded split of scikit-learn's digits; the held-out labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = pd.DataFrame(digits.data.astype(int), columns=[f"pixel{i}" for i in range(64)])
    train, held = train_test_split(np.arange(len(pixels)), test_size=HOLDOUT, random_state=seed, stratify=digits.target)
    folder.mkdir(parents=True)
    pixels.iloc[train].assign(label=digits.target[train])[["label", *pixels.columns]].to_csv(
        folder / "train.csv", index=False
    )
    pixels.iloc[held].to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"ImageId": np.arange(1, len(held) + 1), "Label": 0}).to_csv(
        folder / "sample_submission.csv", index=False
    )
    return digits.target[held]


def run_variant(spec: Path, folder: Path, truth: np.ndarray, sets: list[str], work: Path) -> dict[str, Any]:
    """`run` at default settings plus `sets`; its CV, held-out accuracy, each model's mean fold score and wall time."""
    t0 = time.perf_counter()
    run_dir = run(
        RunOptions(
            str(spec),
            sets=sets,
            data=str(folder),
            quiet=True,
            runs_root=str(work / "runs"),
            submissions_root=str(work / "submissions"),
        )
    )
    wall = time.perf_counter() - t0
    summary = read_record(run_dir, "summary")
    sub = pd.read_csv(run_dir / "submission.csv")
    if list(sub["ImageId"]) != list(range(1, len(truth) + 1)):
        raise SystemExit(f"{run_dir}: the submission's ids are not the sample's")
    return {
        "cv": float(summary["cv"]),
        "holdout": float((sub["Label"].to_numpy() == truth).mean()),
        "models_fold_mean": {m: float(r["mean"]) for m, r in summary["models"].items()},
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--only", default="", help="run only the variants whose name contains one of these (A,B,...)")
    args = ap.parse_args()
    words = [w for w in args.only.split(",") if w]
    variants = {k: v for k, v in VARIANTS.items() if not words or any(w in k for w in words)}
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as tmp, scratch_cwd():
        work = Path(tmp)
        for seed in range(args.splits):
            folder = work / f"split{seed}" / "digits"
            truth = write_split(seed, folder)
            name = f"digits_s{seed}"
            if cli(["new", name, "--data", str(folder), "--into", str(work / "competitions")]) != 0:
                raise SystemExit("`new` failed")
            for label, sets in variants.items():
                res = run_variant(work / "competitions" / name, folder, truth, sets, work) | {"seed": seed}
                results[label].append(res)
                print(f"split {seed} {label}: CV {res['cv']:.4f} held out {res['holdout']:.4f} ({res['wall_s']} s)")
    summary = {
        label: {
            "cv_mean": float(np.mean([r["cv"] for r in runs])),
            "holdout_mean": float(np.mean([r["holdout"] for r in runs])),
            "wall_s_mean": float(np.mean([r["wall_s"] for r in runs])),
            "runs": runs,
        }
        for label, runs in results.items()
    }
    for label, s in summary.items():
        print(f"{label:58s} CV {s['cv_mean']:.4f}  held out {s['holdout_mean']:.4f}  {s['wall_s_mean']:.0f} s")
    command = " ".join(["python benchmarks/tabular_pixels_digits.py", *sys.argv[1:]])
    name = "tabular_pixels_digits" + (f"_{slug(args.only)}" if words else "")
    save(name, command, {"holdout": HOLDOUT, "splits": args.splits, "variants": summary})


def slug(text: str) -> str:
    """A figure name's suffix for an --only run: its words in lower case, joined by underscores."""
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


if __name__ == "__main__":
    main()
