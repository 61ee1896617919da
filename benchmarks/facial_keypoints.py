"""Facial Keypoints Detection from `new`: does keeping the faces that mark only some keypoints (one network, its loss
masked where a keypoint is missing) beat training on the fully marked faces alone, and both the training means? And
what does the digits' shift augmentation (the image moved by up to 2 pixels, its keypoints not) cost?

    python benchmarks/facial_keypoints.py [--seeds 2] [--train 400] [--test 100] [--side 32] [--epochs 6]

No Kaggle download is here: the layout is the tests' generated one (tests/face_downloads.py: OpenCV-drawn faces
whose eyes', nose's and mouth's centres are 8 keypoints; on 60% of the training faces only the eyes are marked, as
most of Kaggle's faces mark few keypoints; half the test faces are asked all 8, half the eyes only). Per seed `new`
writes the competition once, then `run` (3 folds of --epochs, the cnn alone) on two downloads that differ only in
training.csv: every face ("masked", new's default), or only the faces marking all 8 ("complete rows", the usual
dropna of a Kaggle notebook); and on every face with `--set cnn_shift=2` ("masked, shifted"). Each submission is
scored on the held-out truth of the asked values; "training means" submits each keypoint's mean over the training
faces marking it. Variants of a seed run one after another on the same faces, so a change of machine load hits each
alike. Results: benchmarks/figures/facial_keypoints.json.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from benchutil import save, scratch_cwd  # noqa: E402
from face_downloads import NAMES, facial_keypoints  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402


def complete_rows(data: Path, out: Path) -> Path:
    """The download `data` with training.csv cut to the faces marking every keypoint."""
    with zipfile.ZipFile(data) as src, zipfile.ZipFile(out, "w") as dst:
        for member in src.namelist():
            raw = src.read(member)
            if member == "training.csv":
                raw = pd.read_csv(io.BytesIO(raw)).dropna(subset=NAMES).to_csv(index=False).encode()
            dst.writestr(member, raw)
    return out


def held_out(submission: pd.DataFrame, truth: pd.DataFrame) -> float:
    """The RMSE of the submission's asked values against their truth, rows matched by RowId."""
    both = submission.merge(truth, on="RowId", suffixes=("", "_true"))
    if len(both) != len(truth):
        raise SystemExit("the submission's RowIds are not the lookup's")
    return float(np.sqrt(np.mean((both["Location"] - both["Location_true"]) ** 2)))


def means_baseline(data: Path, truth: pd.DataFrame) -> float:
    """Held-out RMSE of each asked keypoint's training mean."""
    with zipfile.ZipFile(data) as zf:
        means = pd.read_csv(zf.open("training.csv"))[NAMES].mean()
        lookup = pd.read_csv(zf.open("IdLookupTable.csv"))
    return held_out(pd.DataFrame({"RowId": lookup["RowId"], "Location": lookup["FeatureName"].map(means)}), truth)


def run_variant(
    spec: Path, data: Path, truth: pd.DataFrame, epochs: int, work: Path, extra: list[str]
) -> dict[str, Any]:
    """`run` of the cnn (3 folds of `epochs`, then `extra` --sets) on `data`: its CV, held-out RMSE, rows trained on
    and wall time."""
    t0 = time.perf_counter()
    sets = [f"cnn_epochs={epochs}", "folds=3", *extra]
    run_dir = run(
        RunOptions(str(spec), sets=sets, data=str(data), quiet=True, runs_root=str(work / "runs"),
                   submissions_root=str(work / "submissions"))
    )  # fmt: skip
    summary = read_record(run_dir, "summary")
    oof = np.load(run_dir / "oof" / "cnn.npy")
    return {
        "cv": float(summary["cv"]),
        "holdout_rmse": held_out(pd.read_csv(run_dir / "submission.csv"), truth),
        "training_rows": int(len(oof)),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    labels = ("masked (new's default)", "complete rows", "masked, shifted", "training means")
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory() as tmp, scratch_cwd():
        work = Path(tmp)
        for seed in range(args.seeds):
            data, truth = facial_keypoints(work / f"facial-{seed}.zip", args.train, args.test, args.side, seed)
            name = f"facial_s{seed}"
            if cli(["new", name, "--data", str(data), "--into", str(work / "competitions"), "--slug", "facial"]) != 0:
                raise SystemExit("`new` failed")
            spec = work / "competitions" / name
            complete = complete_rows(data, work / f"facial-{seed}-complete.zip")
            variants = ((labels[0], data, []), (labels[1], complete, []), (labels[2], data, ["cnn_shift=2"]))
            for label, source, extra in variants:
                res = run_variant(spec, source, truth, args.epochs, work, extra) | {"seed": seed}
                results[label].append(res)
                print(f"seed {seed} {label}: CV {res['cv']:.4f} held out {res['holdout_rmse']:.4f} ({res['wall_s']} s)")
            results["training means"].append({"seed": seed, "holdout_rmse": means_baseline(data, truth)})
    summary = {
        label: {"holdout_rmse_mean": float(np.mean([r["holdout_rmse"] for r in runs])), "runs": runs}
        for label, runs in results.items()
    }
    for label, s in summary.items():
        print(f"{label:24s} held out RMSE {s['holdout_rmse_mean']:.4f}")
    command = " ".join(["python benchmarks/facial_keypoints.py", *sys.argv[1:]])
    save("facial_keypoints", command, vars(args) | {"variants": summary})


if __name__ == "__main__":
    main()
