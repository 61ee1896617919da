"""Is the tabular CV honest? The CV a run reports next to its score on labels it never saw.

    python benchmarks/tabular_holdout.py [--data-dir ../shared/data] [--splits 3] [--only TEXT]

For each seeded split (seeds 0..n-1) 20% of Kaggle's train.csv is held out (stratified on Survived for Titanic,
plain random for House Prices) and a Kaggle-layout download is written to a temporary folder: train.csv = the other
80% (rows as downloaded, every value's text unchanged), test.csv = the held-out rows without the target, and the
sample submission with the held-out ids in Kaggle's own format (Titanic: gender_submission.csv, 0/1 of the gender
rule the real file holds; House Prices: sample_submission.csv, one float price, the training split's mean, on every
row). Five variants run as a user runs them (run folders and submissions go to the
temporary folder, nothing is written into the repository but the figure):

  1. Titanic: `new` (into a temporary competitions folder), then `run`;
  2. House Prices: `new --metric rmsle`, then `run`; and again with `--set models=...` naming the four models of
     the recipe, without the svm `new` adds on small data;
  3. House Prices' hand-made recipe, competitions/house_prices, `run --data <split folder>`. It keeps the
     documented outliers (GrLivArea > 4000 and SalePrice < 300000) out of its models' fits and of its CV, and prices
     held-out houses like them (over 4000 sq ft, sold partially built) from them; the held-out score uses ALL
     held-out rows, outliers included, as Kaggle's test set would;
  4. Titanic again with `run --preset best` (two seeds of the inner-fold bagging, learning rate 0.02);
  5. Titanic again with `run --set bag_folds=5`: each GBM bagged over 5 inner folds of the training rows and
     stopped early on those, never on the rows a fold is scored on (the default stops on the fold's validation
     rows).

`--only TEXT` runs the variants whose name contains TEXT and writes figures/tabular_holdout_<text>.json instead.

Each run's reported CV (summary.json "cv") is compared with its submission.csv scored on the held-out labels with
the run's own metric (accuracy; RMSE of log prices for the recipe, RMSLE = RMSE of log(1 + price) for `new`).
Optimism = how much better the CV claims than the held-out score (CV - held-out for accuracy, held-out - CV for the
RMSEs): positive means the CV was fooled. Noise: the held-out score's standard error (binomial for accuracy, the
delta method for an RMSE), and the optimism's, combining it with the CV's own standard error (the same formula
on the run's out-of-fold rows).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402

import competitions.house_prices as house_prices  # noqa: E402
from competitions.house_prices.outliers import documented_outliers  # noqa: E402
from pipeline.cli import main as cli  # noqa: E402
from pipeline.contract import load_competition  # noqa: E402
from pipeline.runfolder import read_folds, read_predictions, read_record, saved_config  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

HOLDOUT = 0.2


@dataclass(frozen=True)
class Download:
    """One Kaggle download and how to split it."""

    slug: str  # the zip's name and the split folder's name
    id_col: str
    target: str
    sample_file: str
    stratify: bool
    sample_values: Callable[[pd.DataFrame, pd.DataFrame], list[Any]]  # (train rows, held-out rows) -> sample column


@dataclass(frozen=True)
class Split:
    """A split's folder and the held-out truth, in the held-out test.csv's row order."""

    seed: int
    folder: Path
    ids: np.ndarray
    truth: np.ndarray
    outliers: np.ndarray  # held-out rows that meet the recipe's outlier rule (House Prices), else all False


def gender_rule(train: pd.DataFrame, held: pd.DataFrame) -> list[Any]:
    """What Kaggle's gender_submission.csv holds: 1 for women, 0 for men (ints)."""
    return [int(s == "female") for s in held["Sex"]]


def mean_price(train: pd.DataFrame, held: pd.DataFrame) -> list[Any]:
    """A float price on every row (Kaggle's sample_submission.csv holds floats): the training split's mean."""
    return [float(pd.to_numeric(train["SalePrice"]).mean())] * len(held)


TITANIC = Download("titanic", "PassengerId", "Survived", "gender_submission.csv", True, gender_rule)
HOUSE = Download(
    "house-prices-advanced-regression-techniques", "Id", "SalePrice", "sample_submission.csv", False, mean_price
)


def read_member(zip_path: Path, member: str) -> pd.DataFrame:
    """A CSV of the zip with every value kept as its text (written back unchanged; '' for a missing value)."""
    with zipfile.ZipFile(zip_path) as z, z.open(member) as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


def split_rows(target: pd.Series, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the training 80% and the held-out 20%."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(target))
    strata = target.to_numpy() if stratify else None
    train, held = train_test_split(rows, test_size=HOLDOUT, random_state=seed, stratify=strata)
    return np.sort(train), np.sort(held)


def make_split(zip_path: Path, d: Download, seed: int, parent: Path) -> Split:
    """Write parent/<slug>/ with train.csv, test.csv and the sample submission; return the held-out truth."""
    full = read_member(zip_path, "train.csv")
    test_columns = list(read_member(zip_path, "test.csv").columns)
    train_rows, held_rows = split_rows(full[d.target], seed, d.stratify)
    train, held = full.iloc[train_rows], full.iloc[held_rows]
    folder = parent / d.slug
    folder.mkdir(parents=True)
    train.to_csv(folder / "train.csv", index=False)
    held[test_columns].to_csv(folder / "test.csv", index=False)
    sample = pd.DataFrame({d.id_col: held[d.id_col], d.target: d.sample_values(train, held)})
    sample.to_csv(folder / d.sample_file, index=False)
    truth = pd.to_numeric(held[d.target]).to_numpy(float)
    outliers = np.zeros(len(held), bool)
    if "GrLivArea" in held:  # the recipe's own rule, at its default settings
        cfg = house_prices.Config()
        outliers = documented_outliers(held, truth, cfg.outlier_area, cfg.outlier_price)
    return Split(seed, folder, held[d.id_col].to_numpy(), truth, outliers)


def per_row(metric: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Each row's share of the metric: 1/0 correct for accuracy, the squared log error for the RMSEs."""
    if metric == "accuracy":
        return (np.asarray(y) == np.asarray(pred)).astype(float)
    log = np.log1p if metric == "rmsle" else np.log
    return (log(np.asarray(pred, float)) - log(np.asarray(y, float))) ** 2


def split_mean(diffs: Any, ses: Any) -> tuple[float, float]:
    """The mean over seeded splits of a paired difference, and its standard error from the splits' own standard
    errors (combined as independent: sqrt(mean(se^2) / splits)); what every held-out benchmark reports."""
    diffs, ses = np.asarray(diffs, dtype=float), np.asarray(ses, dtype=float)
    return float(diffs.mean()), float(np.sqrt(np.mean(ses**2) / len(ses)))


def aggregate(metric: str, rows: np.ndarray) -> float:
    return float(np.mean(rows)) if metric == "accuracy" else float(np.sqrt(np.mean(rows)))


def std_error(metric: str, rows: np.ndarray) -> float:
    """Binomial standard error of an accuracy; delta-method standard error of sqrt(mean squared error)."""
    n = len(rows)
    if metric == "accuracy":
        p = float(np.mean(rows))
        return float(np.sqrt(p * (1 - p) / n))
    return float(np.std(rows, ddof=1) / np.sqrt(n) / (2 * np.sqrt(np.mean(rows))))


def final_stage(summary: dict[str, Any]) -> str:
    """What summary["cv"] scores: "calibrated" when applied, else "stack" when used, else "blend"."""
    if (summary.get("calibration") or {}).get("applied"):
        return "calibrated"
    return "stack" if (summary.get("stack") or {}).get("used") else "blend"


def final_oof(run_dir: Path, summary: dict[str, Any]) -> np.ndarray:
    """The out-of-fold predictions behind summary["cv"] (oof/_calibrated, _stack or _blend.npy)."""
    return read_predictions(run_dir, f"_{final_stage(summary)}")[0]


def cv_rows(spec: str, run_dir: Path, summary: dict[str, Any]) -> np.ndarray:
    """Per-row metric shares of the run's scored out-of-fold rows (the rows its CV was computed on)."""
    module = load_competition(spec)
    y = np.asarray(module.load(saved_config(module, run_dir), Path(summary["data_dir"])).y)
    oof, folds = final_oof(run_dir, summary), read_folds(run_dir)
    scored = folds >= 0
    pred = oof.argmax(1) if summary["metric"] == "accuracy" else oof[:, 0]
    return per_row(summary["metric"], y[scored], pred[scored])


def score_submission(run_dir: Path, split: Split, d: Download, metric: str) -> tuple[np.ndarray, int]:
    """Per-row metric shares of the run's submission.csv on the held-out labels (every held-out row)."""
    sub = pd.read_csv(run_dir / "submission.csv", dtype={d.id_col: str})
    if sorted(sub[d.id_col]) != sorted(split.ids) or len(sub) != len(split.ids):
        raise SystemExit(f"{d.slug} split {split.seed}: submission ids differ from the held-out ids")
    pred = sub.set_index(d.id_col)[d.target].loc[split.ids].to_numpy()
    return per_row(metric, split.truth, pred), len(sub)


def optimism(cv: float, held: float, greater_is_better: bool) -> float:
    """How much better the CV claims than the held-out score: > 0 means the CV is optimistic."""
    return cv - held if greater_is_better else held - cv


def run_variant(
    spec: str,
    split: Split,
    d: Download,
    work: Path,
    t0: float,
    preset: str | None = None,
    sets: list[str] | None = None,
    rows: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """`run` on the split (default settings, or a --preset); its CV, held-out score, optimism and their noise. The
    submission's per-row metric shares on the held-out rows go to `rows` when given (for paired comparisons)."""
    run_dir = run(
        RunOptions(
            spec,
            preset=preset,
            sets=sets or [],
            data=str(split.folder),
            quiet=True,
            tag=f"holdout{split.seed}",
            runs_root=str(work / "runs"),
            submissions_root=str(work / "submissions"),
        )
    )
    wall = time.perf_counter() - t0
    summary = read_record(run_dir, "summary")
    metric, better = summary["metric"], summary["greater_is_better"]
    held_rows, n_sub = score_submission(run_dir, split, d, metric)
    if rows is not None:
        rows.append(held_rows)
    oof_rows = cv_rows(spec, run_dir, summary)
    cv, held = float(summary["cv"]), aggregate(metric, held_rows)
    se_held, se_cv = std_error(metric, held_rows), std_error(metric, oof_rows)
    if not np.isclose(aggregate(metric, oof_rows), cv, rtol=0, atol=1e-9):
        print(
            f"warning: {spec} split {split.seed}: CV {cv} but its out-of-fold rows give {aggregate(metric, oof_rows)}"
        )
    keep = ~split.outliers
    return {
        "seed": split.seed,
        "metric": metric,
        "cv": cv,
        "cv_recomputed": aggregate(metric, oof_rows),
        "cv_rows": int(summary["cv_rows"]),
        "final": final_stage(summary),
        "holdout": held,
        "holdout_rows": n_sub,
        "holdout_se": se_held,
        "optimism": optimism(cv, held, better),
        "optimism_se": float(np.hypot(se_held, se_cv)),
        "holdout_outlier_rule_rows": int(split.outliers.sum()),
        "holdout_without_outlier_rule_rows": aggregate(metric, held_rows[keep]),
        "wall_s": wall,
    }


def new(argv: list[str]) -> None:
    """`python -m pipeline new ...` as a user types it; stop on a refusal."""
    if cli(argv) != 0:
        raise SystemExit(f"`{' '.join(argv[:2])}` failed")


def titanic(split: Split, work: Path, preset: str | None = None, sets: list[str] | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    name = f"titanic_holdout_s{split.seed}_{len(list(work.glob('competitions/titanic_*')))}"
    new(["new", name, "--data", str(split.folder), "--into", str(work / "competitions")])
    return run_variant(str(work / "competitions" / name), split, TITANIC, work, t0, preset, sets)


def titanic_inner_folds(split: Split, work: Path) -> dict[str, Any]:
    """--set bag_folds=5: each GBM bagged over 5 inner folds of the training rows and stopped early on those."""
    return titanic(split, work, sets=["bag_folds=5"])


def titanic_best(split: Split, work: Path) -> dict[str, Any]:
    """--preset best: k-fold bagging inside each training fold, so early stopping never sees the scored rows."""
    return titanic(split, work, "best")


def house_new(split: Split, work: Path, sets: list[str] | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    name = f"house_prices_holdout_s{split.seed}_{len(list(work.glob('competitions/house_prices_*')))}"
    new(["new", name, "--data", str(split.folder), "--metric", "rmsle", "--into", str(work / "competitions")])
    return run_variant(str(work / "competitions" / name), split, HOUSE, work, t0, sets=sets)


def house_new_without_svm(split: Split, work: Path) -> dict[str, Any]:
    """The generated competition with the recipe's four models, not the svm `new` adds on small data."""
    return house_new(split, work, ["models=lightgbm,xgboost,catboost,linear"])


def house_recipe(split: Split, work: Path) -> dict[str, Any]:
    return run_variant("competitions/house_prices", split, HOUSE, work, time.perf_counter())


VARIANTS: list[tuple[str, Download, Callable[[Split, Path], dict[str, Any]]]] = [
    ("Titanic: new + run (accuracy)", TITANIC, titanic),
    ("House Prices: new --metric rmsle + run", HOUSE, house_new),
    ("House Prices: new --metric rmsle + run, without svm", HOUSE, house_new_without_svm),
    ("House Prices: competitions/house_prices", HOUSE, house_recipe),
    ("Titanic: new + run --preset best", TITANIC, titanic_best),
    ("Titanic: new + run --set bag_folds=5", TITANIC, titanic_inner_folds),
]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over splits of the optimism; the standard error of its mean (splits taken as independent)."""
    gaps = np.array([r["optimism"] for r in runs])
    ses = np.array([r["optimism_se"] for r in runs])
    return {
        "cv_mean": float(np.mean([r["cv"] for r in runs])),
        "holdout_mean": float(np.mean([r["holdout"] for r in runs])),
        "holdout_se_mean": float(np.mean([r["holdout_se"] for r in runs])),
        "optimism_mean": float(gaps.mean()),
        "optimism_std": float(gaps.std(ddof=1)) if len(gaps) > 1 else 0.0,
        "optimism_mean_se": split_mean(gaps, ses)[1],
        "wall_s_mean": float(np.mean([r["wall_s"] for r in runs])),
    }


COLUMNS = (
    ("variant", 40),
    ("split", 5),
    ("CV (final stage)", 17),
    ("held-out ± se", 17),
    ("optimism ± se", 17),
    ("wall s", 6),
)


def table_line(cells: list[str]) -> str:
    """One row of the table: the first cell left-aligned, the others right-aligned, each to its column's width."""
    out = [f"{c:{w}s}" if i == 0 else f"{c:>{w}s}" for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True))]
    return "| " + " | ".join(out) + " |"


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """Every split's CV, held-out score and optimism, then each variant's mean over splits."""
    print("\n" + table_line([name for name, _ in COLUMNS]))
    print("|" + "|".join("-" * (w + 2) for _, w in COLUMNS) + "|")
    for name, res in results.items():
        for r in res["runs"]:
            print(
                table_line(
                    [
                        name,
                        str(r["seed"]),
                        f"{r['cv']:.5f} ({r['final']})",
                        f"{r['holdout']:.5f} ± {r['holdout_se']:.4f}",
                        f"{r['optimism']:+.5f} ± {r['optimism_se']:.4f}",
                        f"{r['wall_s']:.1f}",
                    ]
                )
            )
        s = res["summary"]
        print(
            table_line(
                [
                    "  mean (optimism: ± se of the mean, std)",
                    "",
                    f"{s['cv_mean']:.5f}",
                    f"{s['holdout_mean']:.5f}",
                    f"{s['optimism_mean']:+.5f} ± {s['optimism_mean_se']:.4f}",
                    f"{s['wall_s_mean']:.1f}",
                ]
            )
        )
        print(table_line(["", "", "", "", f"std {s['optimism_std']:.5f}", ""]))


def figure_name(only: str | None) -> str:
    """tabular_holdout, or tabular_holdout_<only as a slug> for a --only run (the full figure is not overwritten)."""
    return "tabular_holdout" + ("_" + re.sub(r"\W+", "_", only.lower()).strip("_") if only else "")


def generate(name: str, d: Download, flags: list[str], split: Split, work: Path, tag: str) -> str:
    """`new` on the split's download into work/competitions (named <download>_<tag>_s<seed>); its folder."""
    comp = f"{d.slug.split('-')[0]}_{tag}_s{split.seed}"
    if cli(["new", comp, "--data", str(split.folder), *flags, "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name}: `new` failed")
    return str(work / "competitions" / comp)


def run_scored(spec: str, split: Split, d: Download, work: Path, sets: list[str]) -> tuple[dict[str, Any], Any]:
    """`run` on the split with `--set` sets (run folders under work/runs): its summary and the held-out per-row
    shares of its submission."""
    summary = read_record(
        run(RunOptions(spec, data=str(split.folder), sets=sets, quiet=True, runs_root=str(work / "runs"))), "summary"
    )
    rows, _ = score_submission(Path(summary["run_dir"]), split, d, summary["metric"])
    return summary, rows


def split_arguments(ap: argparse.ArgumentParser, what: str = "downloads") -> None:
    """--data-dir, --splits and --only, as every held-out benchmark takes them."""
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--only", help=f"run only the {what} whose name contains this text (e.g. Titanic)")


def split_command(script: str, args: argparse.Namespace, extra: str = "") -> str:
    """The command line that reproduces a held-out benchmark run: the script with split_arguments' flags as given
    (and `extra`, its own flags)."""
    command = f"python benchmarks/{script} --splits {args.splits}{extra}"
    return command + (f" --only '{args.only}'" if args.only else "")


def runs_per_download(
    args: argparse.Namespace,
    downloads: list[tuple[str, Download, list[str]]],
    work: Path,
    one: Callable[[str, Download, list[str], Split], dict[str, Any]],
    show: Callable[[str, int, dict[str, Any]], None],
) -> dict[str, list[dict[str, Any]]]:
    """For each (name, download, flags) that --only keeps: `one` on each of --splits seeded splits of the download
    in --data-dir (written under `work`), `show` told of each result; the results per download name."""
    data_dir = Path(args.data_dir).resolve()
    runs: dict[str, list[dict[str, Any]]] = {}
    for name, d, flags in [v for v in downloads if not args.only or args.only in v[0]]:
        runs[name] = []
        for seed in range(args.splits):
            split = make_split(data_dir / f"{d.slug}.zip", d, seed, work / f"split{seed}")
            runs[name].append(one(name, d, flags, split))
            show(name, seed, runs[name][-1])
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    split_arguments(ap, "variants")
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    variants = [v for v in VARIANTS if not args.only or args.only in v[0]]
    results: dict[str, dict[str, Any]] = {name: {"runs": []} for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in range(args.splits):
            splits = {}
            for name, d, fn in variants:
                zip_path = data_dir / f"{d.slug}.zip"
                if d.slug not in splits:
                    splits[d.slug] = make_split(zip_path, d, seed, work / f"split{seed}")
                r = fn(splits[d.slug], work)
                results[name]["runs"].append(r)
                print(f"split {seed} {name}: CV {r['cv']:.5f}, held-out {r['holdout']:.5f}, {r['wall_s']:.1f} s")
    for res in results.values():
        res["summary"] = summarise(res["runs"])
    print_table(results)
    data = {d.slug: os.path.relpath(data_dir / f"{d.slug}.zip", ROOT) for d in (TITANIC, HOUSE)}
    command = split_command("tabular_holdout.py", args)
    out = save(
        figure_name(args.only), command, {"data": data, "holdout_share": HOLDOUT, "variants": results, **peak_memory()}
    )
    print(f"\n{out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
