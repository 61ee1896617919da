"""Which meta-model should stack a multi-class target? On labels the runs never saw: no stack (the blend), the full
multinomial logistic regression on every model's log-probability of every class, and the non-negative log-linear
pool (one weight >= 0 per model, one bias per class).

    python benchmarks/tabular_multiclass_stack.py [--splits 5] [--max-trees 200] [--models A,B] [--only TEXT]

`--max-trees 0` runs the boosters at the generated Config's own cap, as a user's run does (figure *_uncapped).

Three multi-class data sets available offline: scikit-learn's digits (1,797 rows, 64 pixel counts, 10 classes) and
wine (178 rows, 13 measurements, 3 classes), and a generated make_classification (3,000 rows, 6 classes, 8
informative, 4 redundant and 8 noise features, 5% of the labels flipped). For each seeded split (seeds 0..n-1) 20% of
the rows, stratified on the class, are held out, and a Kaggle-style download is written to a temporary folder:
train.csv (id, features, target as class_<k>), test.csv (the held-out rows without the target) and
sample_submission.csv (id and one probability column per class, so `new` infers log_loss). `new` is run once per
split, then `run` three times on the same folds with `--set stack=off`, the multinomial and the pool
(Config.stack: linear, pool), interleaved.

Per variant: the CV the run reports (the stack's when its out-of-fold log loss beats the blend's, else the blend's),
the stack's own out-of-fold log loss, whether the run used it, and the submission's log loss and accuracy (argmax)
on the held-out labels; also the stack's own held-out log loss (test/_stack.npy, used or not). Differences to "off"
(and pool - multinomial) are paired on the same held-out rows: standard error std(d) / sqrt(rows) per split,
combined over splits as independent (tabular_holdout.split_mean). Results: figures/tabular_multiclass_stack.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_holdout import HOLDOUT, split_mean  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_predictions, read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

VARIANTS = ("off", "multinomial", "pool")  # run in this order on every split
EPS = 1e-15  # the clip of pipeline.tabular.metrics.log_loss


def digits() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits(as_frame=True)
    return d.data, d.target.to_numpy()


def wine() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_wine

    d = load_wine(as_frame=True)
    return d.data, d.target.to_numpy()


def generated() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=3000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_classes=6,
        n_clusters_per_class=2,
        flip_y=0.05,
        class_sep=1.0,
        shuffle=False,  # informative, redundant, then noise columns, named so
        random_state=0,
    )
    names = [f"informative{i}" for i in range(8)] + [f"redundant{i}" for i in range(4)]
    names += [f"noise{i}" for i in range(8)]
    order = np.random.default_rng(0).permutation(len(y))  # shuffle=False also orders the rows by class
    return pd.DataFrame(X[order].round(5), columns=names), y[order]


DATASETS: dict[str, Callable[[], tuple[pd.DataFrame, np.ndarray]]] = {
    "digits": digits,
    "wine": wine,
    "make_classification (6 classes)": generated,
}


@dataclass(frozen=True)
class Split:
    """A split's download folder and the held-out rows' classes (0..C-1), in test.csv's row order."""

    seed: int
    folder: Path
    truth: np.ndarray
    n_classes: int


def write_split(X: pd.DataFrame, y: np.ndarray, seed: int, folder: Path) -> Split:
    """train.csv, test.csv and sample_submission.csv of one seeded, stratified split (HOLDOUT held out)."""
    from sklearn.model_selection import train_test_split

    train, held = train_test_split(np.arange(len(y)), test_size=HOLDOUT, random_state=seed, stratify=y)
    train, held = np.sort(train), np.sort(held)
    classes = [f"class_{k}" for k in np.unique(y)]
    frame = X.copy()
    frame.insert(0, "id", np.arange(len(y)) + 1)
    folder.mkdir(parents=True)
    frame.iloc[train].assign(target=np.asarray(classes)[y[train]]).to_csv(folder / "train.csv", index=False)
    frame.iloc[held].to_csv(folder / "test.csv", index=False)
    sample = pd.DataFrame({"id": frame["id"].iloc[held]} | {c: 1 / len(classes) for c in classes})
    sample.to_csv(folder / "sample_submission.csv", index=False)
    return Split(seed, folder, y[held], len(classes))


def row_losses(truth: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each held-out row's log loss, as pipeline.tabular.metrics.log_loss scores it (clipped, rows rescaled)."""
    p = np.clip(np.asarray(proba, dtype=float), EPS, 1 - EPS)
    p = p / p.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(truth)), truth])


def submitted(run_dir: Path, split: Split) -> np.ndarray:
    """The submission's probabilities (rows in test.csv's order, columns class_0..class_C-1)."""
    sub = pd.read_csv(run_dir / "submission.csv")
    return sub[[f"class_{k}" for k in range(split.n_classes)]].to_numpy(float)


def one_run(spec: str, split: Split, variant: str, work: Path, sets: list[str]) -> dict[str, Any]:
    """`run` with the variant's stack; its CV, the stack's OOF score and use, and held-out per-row scores."""
    stack = {"off": "off", "multinomial": "linear", "pool": "pool"}[variant]
    t0 = time.perf_counter()
    run_dir = run(
        RunOptions(
            spec, data=str(split.folder), sets=[*sets, f"stack={stack}"], quiet=True, runs_root=str(work / "runs")
        )
    )
    wall = time.perf_counter() - t0
    summary = read_record(run_dir, "summary")
    proba = submitted(run_dir, split)
    out: dict[str, Any] = {
        "cv": float(summary["cv"]),
        "blend_cv": float(read_record(run_dir, "blend")["score"]),
        "loss_rows": row_losses(split.truth, proba),
        "right_rows": (proba.argmax(axis=1) == split.truth).astype(float),
        "wall_s": round(wall, 1),
    }
    if variant != "off":
        info = read_record(run_dir, "stack")
        stack_test = read_predictions(run_dir, "_stack")[1]
        out |= {"stack_cv": float(info["score"]), "used": bool(info["used"])}
        out["stack_holdout"] = float(np.mean(row_losses(split.truth, stack_test)))
    return out


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(b) - mean(a) over the same rows, and its standard error std(b - a) / sqrt(rows)."""
    d = np.asarray(b) - np.asarray(a)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def one_split(name: str, split: Split, work: Path, sets: list[str]) -> dict[str, Any]:
    """`new` on the split's download, then `run` once per variant; each variant's figures and its paired
    differences to "off" (and the pool's to the multinomial)."""
    comp = f"{name.split()[0]}_s{split.seed}"
    if cli(["new", comp, "--data", str(split.folder), "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name} split {split.seed}: `new` failed")
    spec = str(work / "competitions" / comp)
    raw = {v: one_run(spec, split, v, work, sets) for v in VARIANTS}
    out: dict[str, Any] = {"seed": split.seed, "holdout_rows": len(split.truth)}
    for v, r in raw.items():
        out[v] = {k: x for k, x in r.items() if not k.endswith("_rows")}
        out[v] |= {"holdout_log_loss": float(r["loss_rows"].mean()), "holdout_accuracy": float(r["right_rows"].mean())}
    for v, base in (("multinomial", "off"), ("pool", "off"), ("pool", "multinomial")):
        for what in ("loss", "right"):
            d, se = paired(raw[base][f"{what}_rows"], raw[v][f"{what}_rows"])
            label = "log_loss" if what == "loss" else "accuracy"
            out[f"{v} - {base}"] = out.get(f"{v} - {base}", {}) | {label: d, f"{label}_se": se}
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over splits of each variant's figures, how often each stack was used, and the paired differences
    (split_mean: the mean, and the splits' standard errors combined as independent)."""
    out: dict[str, Any] = {}
    for v in VARIANTS:
        keys = [k for k in runs[0][v] if k not in ("used", "wall_s")]
        out[v] = {f"{k}_mean": float(np.mean([r[v][k] for r in runs])) for k in keys}
        if v != "off":
            out[v]["used"] = f"{sum(r[v]['used'] for r in runs)} of {len(runs)}"
    for pair in ("multinomial - off", "pool - off", "pool - multinomial"):
        out[pair] = {}
        for label in ("log_loss", "accuracy"):
            mean, se = split_mean([r[pair][label] for r in runs], [r[pair][f"{label}_se"] for r in runs])
            out[pair] |= {label: mean, f"{label}_se": se}
    return out


def show(name: str, r: dict[str, Any]) -> None:
    """One split's line per variant."""
    for v in VARIANTS:
        x = r[v]
        stack = (
            f", stack CV {x['stack_cv']:.5f} held-out {x['stack_holdout']:.5f} used {x['used']}" if "used" in x else ""
        )
        print(
            f"{name} split {r['seed']} {v:11s}: CV {x['cv']:.5f}, held-out log loss {x['holdout_log_loss']:.5f} "
            f"accuracy {x['holdout_accuracy']:.4f}{stack}, {x['wall_s']} s",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--only", help="run only the data sets whose name contains this text (e.g. digits)")
    ap.add_argument("--models", default="", help="--set models=...; default: the models `new` wrote")
    ap.add_argument("--max-trees", type=int, default=200, help="Config.max_trees (0: the generated Config's own cap)")
    args = ap.parse_args()
    sets = ([f"max_trees={args.max_trees}"] if args.max_trees > 0 else []) + (
        [f"models={args.models}"] if args.models else []
    )
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for name, load in DATASETS.items():
            if args.only and args.only not in name:
                continue
            X, y = load()
            runs = []
            for seed in range(args.splits):
                runs.append(
                    one_split(name, write_split(X, y, seed, work / f"{name.split()[0]}_split{seed}"), work, sets)
                )
                show(name, runs[-1])
            results[name] = {"rows": len(y), "classes": len(np.unique(y)), "summary": summarise(runs), "runs": runs}
            for pair in ("multinomial - off", "pool - off", "pool - multinomial"):
                s = results[name]["summary"][pair]
                print(
                    f"{name}: {pair}, held out: log loss {s['log_loss']:+.5f} ± {s['log_loss_se']:.5f}, "
                    f"accuracy {s['accuracy']:+.4f} ± {s['accuracy_se']:.4f}"
                )
    command = f"python benchmarks/tabular_multiclass_stack.py --splits {args.splits} --max-trees {args.max_trees}"
    command += (f" --models {args.models}" if args.models else "") + (f" --only '{args.only}'" if args.only else "")
    figure = "tabular_multiclass_stack" + (f"_{args.only.split()[0]}" if args.only else "")
    figure += "_uncapped" if args.max_trees <= 0 else ""
    out = save(figure, command, {"holdout_share": HOLDOUT, "sets": sets, "datasets": results, **peak_memory()})
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
