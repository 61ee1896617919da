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

    python benchmarks/facial_keypoints.py --moves [--seeds 2] [--epochs 6]

asks instead whether moving the keypoints with the face pays (pipeline/keypoints.py): per seed, on the same
competition, faces and folds, `run` with no augmentation ("none", the Config `new` wrote before), the shift, turn and
zoom with the keypoints moved ("moved": cnn_keypoints, 2 pixels, 10 degrees, 10%), that and the flip with left and right
swapped ("moved + flip"), and that with the flipped view averaged at prediction ("moved + flip + flipped view"); every
knob set on the command line, so the figures do not depend on what `new` writes. The faces are symmetric in kind (two
eyes either side of a nose and a mouth), so a flipped face is another face. Results:
benchmarks/figures/facial_keypoints_moves.json.

    python benchmarks/facial_keypoints.py --flips [--seeds 2] [--epochs 6]

runs "none" beside the flip alone, with its flipped view averaged ("flip + flipped view": no shift, turn or zoom, which
move a face where no test face lies, where a mirrored face is one more of the same kind). Results:
benchmarks/figures/facial_keypoints_flips.json.
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


# --moves: every augmentation knob of each variant, set on the command line
STILL = ["cnn_keypoints=False", "cnn_flip=False", "cnn_shift=0", "cnn_rotate=0", "cnn_zoom=0", "cnn_tta="]
MOVED = ["cnn_keypoints=True", "cnn_flip=False", "cnn_shift=2", "cnn_rotate=10", "cnn_zoom=0.1", "cnn_tta="]
MOVES = (
    ("none (new's Config before)", STILL),
    ("moved: shift, turn, zoom", MOVED),
    ("moved + flip", [*MOVED[:1], "cnn_flip=True", *MOVED[2:]]),
    ("moved + flip + flipped view", [*MOVED[:1], "cnn_flip=True", *MOVED[2:-1], "cnn_tta=hflip"]),
)
# --flips: the flip alone, in distribution where a mirrored face is another face (no shift, turn or zoom)
FLIPS = (MOVES[0], ("flip + flipped view", ["cnn_keypoints=True", "cnn_flip=True", *STILL[2:-1], "cnn_tta=hflip"]))


def variants(args: argparse.Namespace, data: Path, work: Path, seed: int) -> list[tuple[str, Path, list[str]]]:
    """(label, download, --sets) of each variant a seed runs, in order: --moves' or --flips' augmentations, else the
    masked, complete-rows and shifted runs."""
    if args.moves or args.flips:
        return [(label, data, sets) for label, sets in (MOVES if args.moves else FLIPS)]
    complete = complete_rows(data, work / f"facial-{seed}-complete.zip")
    shifted = [*STILL[:2], "cnn_shift=2", *STILL[3:]]  # the image moved, its keypoints not
    return [
        ("masked, no augmentation", data, STILL),
        ("complete rows", complete, STILL),
        ("masked, shifted", data, shifted),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--moves", action="store_true", help="the augmentations that move the keypoints with the face")
    ap.add_argument("--flips", action="store_true", help="the flip with left and right swapped, and its view, alone")
    args = ap.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp, scratch_cwd():
        work = Path(tmp)
        for seed in range(args.seeds):
            data, truth = facial_keypoints(work / f"facial-{seed}.zip", args.train, args.test, args.side, seed)
            name = f"facial_s{seed}"
            if cli(["new", name, "--data", str(data), "--into", str(work / "competitions"), "--slug", "facial"]) != 0:
                raise SystemExit("`new` failed")
            spec = work / "competitions" / name
            for label, source, extra in variants(args, data, work, seed):
                res = run_variant(spec, source, truth, args.epochs, work, extra) | {"seed": seed}
                results.setdefault(label, []).append(res)
                print(f"seed {seed} {label}: CV {res['cv']:.4f} held out {res['holdout_rmse']:.4f} ({res['wall_s']} s)")
            results.setdefault("training means", []).append({"seed": seed, "holdout_rmse": means_baseline(data, truth)})
    summary = {
        label: {"holdout_rmse_mean": float(np.mean([r["holdout_rmse"] for r in runs])), "runs": runs}
        for label, runs in results.items()
    }
    for label, s in summary.items():
        print(f"{label:32s} held out RMSE {s['holdout_rmse_mean']:.4f}")
    command = " ".join(["python benchmarks/facial_keypoints.py", *sys.argv[1:]])
    name = "facial_keypoints" + ("_moves" if args.moves else "_flips" if args.flips else "")
    save(name, command, vars(args) | {"variants": summary})


if __name__ == "__main__":
    main()
