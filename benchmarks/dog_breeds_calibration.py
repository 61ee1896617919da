"""What OOF temperature calibration buys on a dog-breeds-format run: log loss before and after, on OOF and on test.

    python benchmarks/dog_breeds_calibration.py [--data ../shared/data/cifar-10.zip] [--train 4000] [--test 1000]

No dog-breeds data is available offline, so the data set is real photos in the competition's exact layout: labelled
CIFAR-10 images (Kaggle's cifar-10.zip, 1,000 per class) converted to dog-breed-identification's format (labels.csv
id,breed with 32-hex ids, train/<id>.jpg, test/<id>.jpg, sample_submission.csv with id + the sorted class names).
The "test" images are labelled images held out of labels.csv, so the test-side effect is measured too.

Each variant (--variants) runs the dog_breeds competition (the runner's `run`, k stratified folds, seed 0, CPU) from
scratch with airbench94 at 32 px (no pretrained weights offline), reads the OOF log loss before/after calibration and
the fitted T from summary.json, then scores test/_blend.npy and test/_calibrated.npy against the held-out labels:
  recipe        the competition's label smoothing 0.1 (smoothed targets: underconfident predictions)
  no-smoothing  label smoothing 0
  overfit       label smoothing 0, no augmentation, twice the epochs (overconfident predictions)
Results are merged by variant into benchmarks/results/dog_breeds_calibration.json; --reuse resumes each variant's
latest run folder, so after a change to the calibration stage only the blend and calibration are redone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def convert(zip_path: Path, dest: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Write a dog-breeds-format copy of n_train + n_test labelled CIFAR-10 images (test labels in y_test.json)."""
    import cv2

    from pipeline.datadir import extract_competition_zip

    cifar = extract_competition_zip(zip_path, ROOT / "data" / "cifar-10")
    labels = pd.read_csv(cifar / "trainLabels.csv")
    classes = sorted(labels["label"].unique())
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(labels))[: n_train + n_test]
    ids = np.array([rng.bytes(16).hex() for _ in pick])
    breeds = labels["label"].to_numpy()[pick]
    for split, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        (dest / split).mkdir(parents=True, exist_ok=True)
        for i, src in zip(ids[rows], labels["id"].to_numpy()[pick][rows], strict=True):
            image = cv2.imread(str(cifar / "train" / f"{src}.png"))
            cv2.imwrite(str(dest / split / f"{i}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    pd.DataFrame({"id": ids[:n_train], "breed": breeds[:n_train]}).to_csv(dest / "labels.csv", index=False)
    sub = pd.DataFrame({"id": ids[n_train:], **{c: 1.0 / len(classes) for c in classes}})
    sub.to_csv(dest / "sample_submission.csv", index=False)
    (dest / "y_test.json").write_text(json.dumps([classes.index(b) for b in breeds[n_train:]]))


VARIANTS: dict[str, list[str]] = {
    "recipe": ["label_smoothing=0.1"],
    "no-smoothing": ["label_smoothing=0"],
    "overfit": ["label_smoothing=0", "crop_scale=1", "color_jitter=0", "tta=", "epochs_x2"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar-10.zip"))
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument(
        "--reuse", action="store_true", help="resume each variant's latest run folder: refit only what changed"
    )
    args = ap.parse_args()

    import competitions.dog_breeds as dogs
    from pipeline.runner import RunOptions, run

    work = ROOT / "data" / f"dog_breeds_calibration_{args.train}_{args.test}"
    if not (work / "y_test.json").exists():
        convert(Path(args.data), work, args.train, args.test)
    y_test = np.array(json.loads((work / "y_test.json").read_text()))
    y = dogs.load(dogs.Config(), work).y
    sets = [
        "arch=airbench94",
        "pretrained=false",
        "image_size=32",
        f"epochs={args.epochs}",
        "batch_size=128",
        "lr=3e-3",
        "weight_decay=0.05",
        "freeze_epochs=0",
        "layer_decay=none",
        "drop_path=0",
        "crop_scale=0.6",
    ]
    out = ROOT / "benchmarks" / "results" / "dog_breeds_calibration.json"
    saved = json.loads(out.read_text()) if out.exists() else {}
    results = {r["variant"]: r for r in saved.get("results", []) if "variant" in r}
    for variant in args.variants.split(","):
        extra = [f"epochs={2 * args.epochs}" if v == "epochs_x2" else v for v in VARIANTS[variant]]
        load = "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        print(
            f"[run] {variant} ({', '.join(extra)}), {args.folds} folds, {args.train} train / {args.test} test ({load})"
        )
        previous = sorted((ROOT / "runs" / "dog_breeds").glob(f"*-calib-{variant}"))
        t0 = time.monotonic()
        run_dir = run(
            RunOptions(
                competition="competitions/dog_breeds",
                data=str(work),
                sets=[*sets, *extra],
                folds=args.folds,
                tag=f"calib-{variant}",
                resume=str(previous[-1]) if args.reuse and previous else None,
                runs_root=str(ROOT / "runs"),
                submissions_root=str(ROOT / "submissions"),
                quiet=True,
            )
        )
        wall = time.monotonic() - t0
        summary = json.loads((run_dir / "summary.json").read_text())
        cal = summary["calibration"]
        blend = np.load(run_dir / "test" / "_blend.npy")
        final = np.load(run_dir / "test" / "_calibrated.npy") if cal["applied"] else blend
        row = {
            "variant": variant,
            "sets": [*sets, *extra],
            "temperature": cal["temperature"],
            "applied": cal["applied"],
            "oof_log_loss_before": cal["score_before"],
            "oof_log_loss_after": cal["score_after"],
            "test_log_loss_before": dogs.score(y_test, blend),
            "test_log_loss_after": dogs.score(y_test, final),
            "oof_accuracy": float(np.mean(np.load(run_dir / "oof" / "_blend.npy").argmax(1) == y)),
            "test_accuracy": float(np.mean(blend.argmax(1) == y_test)),
            "fit_seconds": sum(m["seconds"] for m in summary["models"].values()),
            "wall_seconds": wall,
            "run_dir": str(run_dir),
        }
        results[variant] = row
        print(
            f"  T={row['temperature']:.3f}  OOF log loss {row['oof_log_loss_before']:.4f} -> "
            f"{row['oof_log_loss_after']:.4f}  test log loss {row['test_log_loss_before']:.4f} -> "
            f"{row['test_log_loss_after']:.4f}  (accuracy OOF {row['oof_accuracy']:.3f}, test "
            f"{row['test_accuracy']:.3f}; fits {row['fit_seconds']:.0f}s, wall {wall:.0f}s)",
            flush=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)  # written after every variant: a long session keeps its rows
        info = {"data": f"CIFAR-10 ({Path(args.data).name}) in dog-breeds layout", "train": args.train}
        out.write_text(
            json.dumps({**info, "test": args.test, "folds": args.folds, "results": [*results.values()]}, indent=2)
        )
    print(f"wrote {out}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchutil import peak_memory, save

    # the runs are child processes: their peak RSS is the children's
    mem = peak_memory()
    save(
        "dog_breeds_calibration",
        " ".join(sys.argv),
        {"folds": args.folds, "results": [*results.values()], "memory": mem},
    )


if __name__ == "__main__":
    main()
