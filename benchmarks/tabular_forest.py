"""Does a forest of extremely randomised trees earn a place among the models `new` writes? On labels no run saw.

    python benchmarks/tabular_forest.py [--data-dir ../shared/data] [--splits 5] [--only TEXT] [--max-trees 200]
                                        [--add extratrees]

Five downloads: Titanic (`new`: accuracy) and House Prices (`new --metric rmsle`), split as
benchmarks/tabular_holdout.py splits them (20% of Kaggle's train.csv held out as test.csv); and scikit-learn's
digits, wine and a generated 6-class set written as benchmarks/tabular_multiclass_stack.py writes them (a probability
per class in the sample: log loss); and a generated binary set (`--only binary`: one probability column, `new --metric
log_loss`). For each seeded split `new` is run once, then `run` twice on the same folds: the
models `new` wrote without `--add`, and the same with it (Config.models + extratrees; `new` now writes extratrees for
a target of classes, after these figures). Each submission is scored on the held-out
labels with the run's metric; the difference (with - without) is paired on the same rows: its standard error from
2000 seeded bootstrap resamples (accuracy, RMSLE) or std / sqrt(rows) (log loss, a mean over rows), combined over
splits as independent (tabular_holdout.split_mean). Also reported: each run's CV, the added model's own CV, and
whether the stack or the blend made the submission. The generated sets run with `--set max_trees=N` (default 200:
ten classes of 5,000 early-stopped trees take minutes a run), both variants alike; Titanic and House Prices at the
defaults. Results: figures/tabular_forest.json (figures/tabular_forest_<only>.json with --only).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tabular_holdout as holdout  # noqa: E402
import tabular_multiclass_stack as multiclass  # noqa: E402
from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_tune import paired_se  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

# A download: its folder, a function of a run folder giving each held-out row's share of the metric, and how the
# shares aggregate into the score and a paired difference's standard error.
Scorer = Callable[[Path], np.ndarray]


def kaggle_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Scorer, str]:
    """Titanic or House Prices: the split's folder, `new`'s flags and the held-out scorer."""
    d, flags = (holdout.TITANIC, []) if name == "Titanic" else (holdout.HOUSE, ["--metric", "rmsle"])
    split = holdout.make_split(data_dir / f"{d.slug}.zip", d, seed, work / f"{name.split()[0]}_split{seed}")
    metric = "accuracy" if name == "Titanic" else "rmsle"
    return split.folder, flags, lambda run_dir: holdout.score_submission(run_dir, split, d, metric)[0], metric


def multiclass_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Scorer, str]:
    """A scikit-learn multi-class set: the split's folder, no flags (log loss is `new`'s default) and the scorer."""
    X, y = multiclass.DATASETS[name]()
    split = multiclass.write_split(X, y, seed, work / f"{name.split()[0]}_split{seed}")
    return (
        split.folder,
        [],
        lambda run_dir: multiclass.row_losses(split.truth, multiclass.submitted(run_dir, split)),
        ("log_loss"),
    )


def binary_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Scorer, str]:
    """A generated binary set (make_classification as multiclass.generated makes its 6 classes, with 2), written as
    a download whose sample holds one probability column, run with `new --metric log_loss`; scored by each held-out
    row's log loss."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=3000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_clusters_per_class=3,
        flip_y=0.05,
        random_state=0,
    )
    frame = pd.DataFrame(X.round(5), columns=[f"x{i}" for i in range(20)])
    split = multiclass.write_split(frame, y, seed, work / f"binary_split{seed}")
    train = pd.read_csv(split.folder / "train.csv")
    train.assign(target=train["target"].str.removeprefix("class_").astype(int)).to_csv(
        split.folder / "train.csv", index=False
    )
    sample = pd.read_csv(split.folder / "sample_submission.csv")[["id"]].assign(target=0.5)
    sample.to_csv(split.folder / "sample_submission.csv", index=False)

    def scorer(run_dir: Path) -> np.ndarray:
        p = pd.read_csv(run_dir / "submission.csv")["target"].to_numpy(float)
        return multiclass.row_losses(split.truth, np.column_stack([1 - p, p]))

    return split.folder, ["--metric", "log_loss"], scorer, "log_loss"


DOWNLOADS: dict[str, Callable[[str, int, Path, Path], tuple[Path, list[str], Scorer, str]]] = {
    "Titanic": kaggle_split,
    "House Prices (rmsle)": kaggle_split,
    **{name: multiclass_split for name in multiclass.DATASETS},
    "make_classification (binary)": binary_split,
}


def score(metric: str, rows: np.ndarray) -> float:
    return float(np.mean(rows)) if metric == "log_loss" else holdout.aggregate(metric, rows)


def difference(metric: str, a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float]:
    """score(b) - score(a) on the same held-out rows, and its standard error."""
    if metric == "log_loss":
        return multiclass.paired(a, b)
    return score(metric, b) - score(metric, a), paired_se(metric, a, b, seed)


def one_run(folder: Path, spec: str, sets: list[str], work: Path) -> tuple[dict[str, Any], Path]:
    t0 = time.perf_counter()
    run_dir = run(RunOptions(spec, data=str(folder), sets=sets, quiet=True, runs_root=str(work / "runs")))
    summary = read_record(run_dir, "summary")
    stack = summary.get("stack") or {}
    figures = {
        "cv": float(summary["cv"]),
        "final": "stack" if stack.get("used") else "blend",
        "models": {m: r["mean"] for m, r in summary["models"].items()},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    return figures, run_dir


def one_split(name: str, seed: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`new` on the split, then `run` without and with the added model; their figures and the paired difference."""
    folder, flags, scorer, metric = DOWNLOADS[name](name, seed, work, Path(args.data_dir).resolve())
    comp = f"{name.split()[0].lower()}_forest_s{seed}"
    if cli(["new", comp, "--data", str(folder), *flags, "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name} split {seed}: `new` failed")
    spec = str(work / "competitions" / comp)
    written = tuple(m for m in read_models(spec) if m != args.add)  # `new` writes extratrees for classes now
    sets = [f"max_trees={args.max_trees}"] if name not in ("Titanic", "House Prices (rmsle)") else []
    out: dict[str, Any] = {"seed": seed, "metric": metric, "models": list(written)}
    rows = {}
    for label, models in (("without", written), ("with", (*written, args.add))):
        out[label], run_dir = one_run(folder, spec, [*sets, f"models={','.join(models)}"], work)
        rows[label] = scorer(run_dir)
        out[label]["holdout"] = score(metric, rows[label])
    out["difference"], out["difference_se"] = difference(metric, rows["without"], rows["with"], seed)
    return out


def read_models(spec: str) -> tuple[str, ...]:
    """The models the generated competition's Config names (what `new` wrote)."""
    from pipeline.contract import load_competition

    return tuple(load_competition(spec).Config().models)


def main() -> None:
    ap = argparse.ArgumentParser()
    holdout.split_arguments(ap)
    ap.add_argument("--max-trees", type=int, default=200, help="the multi-class sets' Config.max_trees")
    ap.add_argument("--add", default="extratrees", help="the model added to those `new` wrote")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for name in DOWNLOADS:
            if args.only and args.only not in name:
                continue
            runs = []
            for seed in range(args.splits):
                r = one_split(name, seed, work, args)
                runs.append(r)
                print(
                    f"{name} split {seed}: CV {r['without']['cv']:.5f} -> {r['with']['cv']:.5f} "
                    f"({r['without']['final']} -> {r['with']['final']}), held-out {r['without']['holdout']:.5f} -> "
                    f"{r['with']['holdout']:.5f} ({r['difference']:+.5f} ± {r['difference_se']:.4f}); {args.add} "
                    f"alone {r['with']['models'][args.add]:.5f}; {r['without']['wall_s']} s -> {r['with']['wall_s']} s",
                    flush=True,
                )
            mean, se = holdout.split_mean([r["difference"] for r in runs], [r["difference_se"] for r in runs])
            results[name] = {"runs": runs, "difference_mean": mean, "difference_mean_se": se}
            print(f"{name}: held-out with - without {mean:+.5f} ± {se:.4f}", flush=True)
    command = holdout.split_command("tabular_forest.py", args, f" --max-trees {args.max_trees} --add {args.add}")
    figure = "tabular_forest" + ("_" + args.only.lower().split()[0] if args.only else "")
    print(save(figure, command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
