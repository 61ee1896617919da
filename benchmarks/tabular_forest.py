"""Does a forest of extremely randomised trees earn a place among the models `new` writes? On labels no run saw.

    python benchmarks/tabular_forest.py [--data-dir ../shared/data] [--splits 5] [--only TEXT] [--max-trees 200]
                                        [--add extratrees]

Downloads: Titanic (`new`: accuracy) and House Prices (`new --metric rmsle`), split as benchmarks/tabular_holdout.py
splits them (20% of Kaggle's train.csv held out as test.csv); and scikit-learn's digits, wine and a generated 6-class
set written as benchmarks/tabular_multiclass_stack.py writes them (a probability per class in the sample: log loss); and
a generated binary set (`--only binary`: one probability column, `new --metric log_loss`). Two regressions scored by
RMSE (`new --metric rmse`): scikit-learn's make_friedman1 (3,000 rows, 5 of 10 columns informative, noise 1; `--only
friedman`) and its diabetes set (442 patients, raw values; `--only diabetes`). And a generated multi-label set (`--only
multilabel`: 3,000 rows, three 0/1 target columns from a signal they share and one of their own each, 10 of 20 columns
noise), laid out as Kaggle's multi-label Playground competitions are (train.csv holds every target column, the sample
the id and one probability column per target), scored as `new` scores it by default and as those competitions do: ROC
AUC averaged over the target columns. Each of these is split as tabular_multiclass_stack.write_split splits (stratified:
on the target's deciles for a regression, on the combination of labels for several targets). For each seeded split `new`
is run once, then `run` twice on the same folds: the models `new` wrote without `--add`, and the same with it
(Config.models + extratrees; `new` wrote extratrees for a single target of classes for a while, and no longer does:
`--max-trees 0`). Each submission is scored on the held-out labels with the run's metric; the difference (with -
without) is paired on the same rows: its standard error from 2000 seeded bootstrap resamples (accuracy, RMSLE, RMSE, ROC
AUC) or std / sqrt(rows) (log loss, a mean over rows), combined over splits as independent (tabular_holdout.split_mean).
Also reported: each run's CV, the added model's own CV, whether the stack or the blend made the submission, how many
splits the added model made better and worse, and the median over splits of the run-time ratio (with / without). The
generated classification sets and digits and wine run with `--set max_trees=N` (default 200: ten classes of 5,000
early-stopped trees take minutes a run; 0: the generated Config's own cap, every set at the defaults), both variants
alike; the rest at the defaults. Results: figures/tabular_forest.json (figures/tabular_forest_<only>.json with --only;
_uncapped added with --max-trees 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
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
from pipeline.tabular import metrics  # noqa: E402

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


def relabel(split: multiclass.Split, labels: pd.DataFrame, fill: Callable[[pd.Series], float]) -> np.ndarray:
    """Rewrite a write_split download with `labels`' columns (a row per generated row, whose id is its position + 1)
    as its targets in place of write_split's class names (which only stratified the split), and its sample as the id
    and fill(the column's training values) per column; the held-out rows' labels (rows x columns, test.csv's order)."""
    train = pd.read_csv(split.folder / "train.csv")
    rows = train["id"].to_numpy() - 1
    train = train.drop(columns="target").assign(**{c: labels[c].to_numpy()[rows] for c in labels.columns})
    train.to_csv(split.folder / "train.csv", index=False)
    sample = pd.read_csv(split.folder / "sample_submission.csv")[["id"]]
    sample.assign(**{c: fill(train[c]) for c in labels.columns}).to_csv(
        split.folder / "sample_submission.csv", index=False
    )
    held = pd.read_csv(split.folder / "test.csv", usecols=["id"])["id"].to_numpy() - 1
    return labels.to_numpy()[held]


def submitted(run_dir: Path, folder: Path, columns: list[str]) -> np.ndarray:
    """The submission's columns (rows x columns), checked to hold test.csv's ids in its order."""
    sub = pd.read_csv(run_dir / "submission.csv")
    if not np.array_equal(sub["id"].to_numpy(), pd.read_csv(folder / "test.csv", usecols=["id"])["id"].to_numpy()):
        raise SystemExit(f"{run_dir / 'submission.csv'}: its ids are not test.csv's, in test.csv's order")
    return sub[columns].to_numpy(float)


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
    relabel(split, pd.DataFrame({"target": y}), lambda _: 0.5)

    def scorer(run_dir: Path) -> np.ndarray:
        p = pd.read_csv(run_dir / "submission.csv")["target"].to_numpy(float)
        return multiclass.row_losses(split.truth, np.column_stack([1 - p, p]))

    return split.folder, ["--metric", "log_loss"], scorer, "log_loss"


def friedman() -> tuple[pd.DataFrame, np.ndarray]:
    """make_friedman1: 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise; x5..x9 are noise."""
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
    return pd.DataFrame(X.round(5), columns=[f"x{i}" for i in range(10)]), y


def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    """scikit-learn's diabetes set as measured (age, sex, bmi, blood pressure, six serum values), not standardised."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes(as_frame=True, scaled=False)
    return d.data, d.target.to_numpy(float)


REGRESSIONS: dict[str, Callable[[], tuple[pd.DataFrame, np.ndarray]]] = {
    "make_friedman1 (rmse)": friedman,
    "diabetes (rmse)": diabetes,
}


def regression_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Scorer, str]:
    """A regression written as a download whose sample holds one value (the training rows' mean), split stratified
    on the target's deciles, run with `new --metric rmse`; scored by each held-out row's squared error."""
    X, y = REGRESSIONS[name]()
    deciles = pd.qcut(y, 10, labels=False, duplicates="drop")
    split = multiclass.write_split(X, np.asarray(deciles), seed, work / f"{name.split()[0]}_split{seed}")
    truth = relabel(split, pd.DataFrame({"target": y}), lambda col: float(col.mean()))[:, 0]
    return (
        split.folder,
        ["--metric", "rmse"],
        lambda run_dir: (submitted(run_dir, split.folder, ["target"])[:, 0] - truth) ** 2,
        "rmse",
    )


def multilabel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3,000 rows of 20 standard normal columns and three 0/1 targets, each drawn with the probability
    sigmoid(shared + own): `shared` a non-linear signal of x0..x3 every target holds, `own` one of its own (x4..x9,
    with a shift: 48%, 36% and 60% positive; the labels correlate about 0.25); x10..x19 are noise."""
    from scipy.special import expit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    shared = 1.5 * np.sin(1.5 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.8 * X[:, 3]
    own = {
        "label_a": (X[:, 4] ** 2 - 1) + 0.7 * X[:, 5],
        "label_b": 1.5 * np.abs(X[:, 6]) * np.sign(X[:, 7]) - 1.0,
        "label_c": 1.2 * np.tanh(2 * X[:, 8]) - 0.8 * X[:, 9] * X[:, 4] + 0.6,
    }
    labels = pd.DataFrame({c: (rng.random(len(X)) < expit(shared + f)).astype(int) for c, f in own.items()})
    return pd.DataFrame(X.round(5), columns=[f"x{i}" for i in range(20)]), labels


def multilabel_split(name: str, seed: int, work: Path, data_dir: Path) -> tuple[Path, list[str], Scorer, str]:
    """The multi-label set written as Kaggle's multi-label Playground downloads are (0/1 target columns in train.csv,
    the sample the id and a probability of 0.5 per target), split stratified on the combination of labels, `new` run
    without flags (it infers the targets and roc_auc, the mean over the columns); scored by the mean column-wise ROC
    AUC of the held-out rows: each row's labels and submitted probabilities side by side."""
    X, labels = multilabel()
    combination = labels.to_numpy() @ (2 ** np.arange(labels.shape[1]))
    split = multiclass.write_split(X, combination, seed, work / f"multilabel_split{seed}")
    truth = relabel(split, labels, lambda _: 0.5)
    columns = list(labels.columns)
    return (
        split.folder,
        [],
        lambda run_dir: np.hstack([truth, submitted(run_dir, split.folder, columns)]),
        "roc_auc",
    )


DOWNLOADS: dict[str, Callable[[str, int, Path, Path], tuple[Path, list[str], Scorer, str]]] = {
    "Titanic": kaggle_split,
    "House Prices (rmsle)": kaggle_split,
    **{name: multiclass_split for name in multiclass.DATASETS},
    "make_classification (binary)": binary_split,
    **{name: regression_split for name in REGRESSIONS},
    "multilabel (3 targets, roc_auc)": multilabel_split,
}
# run at the generated Config's settings; the rest with --set max_trees=N
AT_DEFAULTS = ("Titanic", "House Prices (rmsle)", *REGRESSIONS, "multilabel (3 targets, roc_auc)")


def score(metric: str, rows: np.ndarray) -> float:
    """The metric of the held-out rows: the mean of their log losses, the mean column-wise ROC AUC of their labels
    and probabilities (rows x 2k), else tabular_holdout.aggregate of their shares."""
    if metric == "roc_auc":
        k = rows.shape[1] // 2
        return metrics.score("roc_auc", rows[:, :k], rows[:, k:])
    return float(np.mean(rows)) if metric == "log_loss" else holdout.aggregate(metric, rows)


def difference(metric: str, a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float]:
    """score(b) - score(a) on the same held-out rows, and its standard error."""
    if metric == "log_loss":
        return multiclass.paired(a, b)
    return score(metric, b) - score(metric, a), paired_se(metric, a, b, seed, score)


def one_run(folder: Path, spec: str, sets: list[str], work: Path) -> tuple[dict[str, Any], Path]:
    t0 = time.perf_counter()
    run_dir = run(RunOptions(spec, data=str(folder), sets=sets, quiet=True, runs_root=str(work / "runs")))
    summary = read_record(run_dir, "summary")
    stack = summary.get("stack") or {}
    figures = {
        "metric": summary["metric"],
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
    written = tuple(m for m in read_models(spec) if m != args.add)  # as when `new` wrote extratrees for classes
    sets = [f"max_trees={args.max_trees}"] if name not in AT_DEFAULTS and args.max_trees > 0 else []
    out: dict[str, Any] = {"seed": seed, "metric": metric, "models": list(written)}
    rows = {}
    for label, models in (("without", written), ("with", (*written, args.add))):
        out[label], run_dir = one_run(folder, spec, [*sets, f"models={','.join(models)}"], work)
        if out[label]["metric"] != metric:
            raise SystemExit(f"{name} split {seed}: the run scored {out[label]['metric']}, not {metric}")
        rows[label] = scorer(run_dir)
        out[label]["holdout"] = score(metric, rows[label])
    out["difference"], out["difference_se"] = difference(metric, rows["without"], rows["with"], seed)
    return out


def read_models(spec: str) -> tuple[str, ...]:
    """The models the generated competition's Config names (what `new` wrote)."""
    from pipeline.contract import load_competition

    return tuple(load_competition(spec).Config().models)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A download's splits: the mean difference and its standard error (tabular_holdout.split_mean), how many splits
    the added model made better and worse on the held-out rows (by the metric's direction), and the median over the
    splits of the run's wall time with it over without."""
    mean, se = holdout.split_mean([r["difference"] for r in runs], [r["difference_se"] for r in runs])
    sign = 1 if metrics.lookup(runs[0]["metric"]).greater_is_better else -1
    return {
        "runs": runs,
        "difference_mean": mean,
        "difference_mean_se": se,
        "splits_better": sum(sign * r["difference"] > 0 for r in runs),
        "splits_worse": sum(sign * r["difference"] < 0 for r in runs),
        "time_ratio_median": float(np.median([r["with"]["wall_s"] / r["without"]["wall_s"] for r in runs])),
    }


def measure(names: Iterable[str], args: argparse.Namespace) -> dict[str, Any]:
    """Each download's seeded splits (one_split: without and with args.add) and their summary, printed as they
    finish."""
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for name in names:
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
            results[name] = summarise(runs)
            r = results[name]
            print(
                f"{name}: held-out with - without {r['difference_mean']:+.5f} ± {r['difference_mean_se']:.4f}, "
                f"better on {r['splits_better']} splits, worse on {r['splits_worse']}, run time "
                f"x{r['time_ratio_median']:.2f}",
                flush=True,
            )
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    holdout.split_arguments(ap)
    ap.add_argument(
        "--max-trees", type=int, default=200, help="Config.max_trees of the sets not in AT_DEFAULTS (0: no cap)"
    )
    ap.add_argument("--add", default="extratrees", help="the model added to those `new` wrote")
    args = ap.parse_args()
    results = measure(DOWNLOADS, args)
    command = holdout.split_command("tabular_forest.py", args, f" --max-trees {args.max_trees} --add {args.add}")
    figure = "tabular_forest" + ("_" + args.only.lower().split()[0] if args.only else "")
    figure += "_uncapped" if args.max_trees <= 0 else ""
    print(save(figure, command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
