"""Folds forward in time against random folds, on House Prices split by sale date (real data, labels held out).

    python benchmarks/tabular_time.py [--data-dir ../shared/data] [--holdout 0.2]

Kaggle's House Prices train.csv (1,460 sales, 2006 to 2010) gets a date column, `sold` (YrSold-MoSold-01), and is
split by it: the latest 20% of the sales (whole months) are held out as test.csv without SalePrice, the earlier ones
are train.csv, as a competition split by time is. Then, as a user runs it, at default settings:

- `new --metric rmsle`: every test row is sold after every training row, so the folds run forward by `sold`
  (FOLDS = "time": 6 periods of about equal sales, each of the last 5 validated by models fitted on the earlier ones;
  the submission is each model refitted on every training row, Config.refit "auto");
- the same folds with `run --set refit=off`: the submission is the last fold's models', which never saw the last
  period (the same CV: only the test predictions differ, so the two are compared row by row, paired);
- the same with `--time none`: 5 random folds, each trained on sales from before and after the ones it validates.

The second case is generated, to show what House Prices does not have: daily sales of 3 stores over 1,000 days whose
level drifts (a trend, a yearly season and a random walk, seeded), with one informative feature; the last 20% of the
days are held out. There, random folds learn each day's level from its neighbours on both sides, which the later days
never offer.

Every variant is written with `new --series none`: the generated sales are series (a store's days), whose lags
`new` would otherwise add; this benchmark measures the folds alone (benchmarks/tabular_series.py measures the lags).

Each run's CV (out of fold, as reported) is set beside the RMSLE of its submission on the held-out later rows; the
optimism is held-out minus CV (positive: the CV claimed better than the later rows gave). ± is one standard error
(delta method, as benchmarks/tabular_holdout.py). House Prices has one split (a split by time has no seed to
vary); the generated case is drawn with --drift-seeds seeds (random walk, noise and the season's phase), and its
figures are their means, with the paired difference refit minus last fold's models as mean ± standard error over
the seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402
from tabular_holdout import HOUSE, Download, Split, mean_price, new, read_member, run_variant  # noqa: E402

DRIFT = Download("sales-drift", "id", "sales", "sample_submission.csv", False, lambda train, held: [100.0] * len(held))


def time_split(zip_path: Path, holdout: float, parent: Path) -> tuple[Split, str]:
    """parent/<slug>/ with a `sold` date column, the latest `holdout` share of the sales (whole months) as test.csv."""
    full = read_member(zip_path, "train.csv")
    test_columns = list(read_member(zip_path, "test.csv").columns)
    month = full["YrSold"].astype(int) * 12 + full["MoSold"].astype(int) - 1
    full.insert(1, "sold", [f"{m // 12}-{m % 12 + 1:02d}-01" for m in month])
    cut = np.quantile(month, 1 - holdout)
    train, held = full[month < cut], full[month >= cut]
    folder = parent / HOUSE.slug
    folder.mkdir(parents=True)
    train.to_csv(folder / "train.csv", index=False)
    held[["sold", *test_columns]].to_csv(folder / "test.csv", index=False)
    sample = pd.DataFrame({HOUSE.id_col: held[HOUSE.id_col], HOUSE.target: mean_price(train, held)})
    sample.to_csv(folder / HOUSE.sample_file, index=False)
    truth = pd.to_numeric(held[HOUSE.target]).to_numpy(float)
    span = f"train {train['sold'].min()[:7]} to {train['sold'].max()[:7]} ({len(train)} sales), "
    span += f"held out {held['sold'].min()[:7]} to {held['sold'].max()[:7]} ({len(held)})"
    return Split(0, folder, held[HOUSE.id_col].to_numpy(), truth, np.zeros(len(held), bool)), span


def drift_split(
    holdout: float, parent: Path, seed: int = 0, n_seeds: int = 1, steady: bool = False
) -> tuple[Split, str]:
    """parent/sales-drift/: 3 stores' daily sales over 1,000 days with a drifting level; the last days held out. The
    seed draws the random walk and the noise, and places the yearly season's phase (seed / n_seeds of a year: seed 0
    starts at 0), so that the held-out days fall in another part of the season for each seed. `steady`: the trend
    alone (no season, no random walk)."""
    rng = np.random.default_rng(seed)
    days = 1000
    t = np.arange(days)
    phase = 2 * np.pi * seed / n_seeds
    walk = np.cumsum(rng.normal(0, 1.5, days))
    level = 100 + 0.08 * t + (0 if steady else 15 * np.sin(2 * np.pi * t / 365 + phase) + walk)
    stores = np.array(["a", "b", "c"])
    day, store = np.repeat(t, 3), np.tile(stores, days)
    x = rng.normal(size=len(day))
    sales = level[day] * np.select([store == "a", store == "b"], [1.0, 1.3], 0.8) + 8 * x + rng.normal(0, 4, len(day))
    sales = np.maximum(sales, 0.0)  # a random walk that strays below zero: no sales that day
    dates = pd.Timestamp("2021-01-01") + pd.to_timedelta(day, unit="D")
    full = pd.DataFrame(
        {"id": np.arange(len(day)), "date": dates.strftime("%Y-%m-%d"), "store": store, "x": x.round(4)}
    ).assign(sales=sales.round(2))
    held = day >= np.quantile(t, 1 - holdout)
    folder = parent / DRIFT.slug
    folder.mkdir(parents=True)
    full[~held].to_csv(folder / "train.csv", index=False)
    full[held].drop(columns="sales").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"id": full["id"][held], "sales": 100.0}).to_csv(folder / DRIFT.sample_file, index=False)
    span = f"{int((~held).sum())} rows to {full['date'][~held].max()}, {int(held.sum())} held out after it"
    ids = full["id"][held].astype(str).to_numpy()
    return Split(0, folder, ids, full["sales"][held].to_numpy(float), np.zeros(int(held.sum()), bool)), span


def variant(
    split: Split, d: Download, work: Path, name: str, extra: list[str], sets: list[str], rows: list[np.ndarray]
) -> dict[str, Any]:
    t0 = time.perf_counter()
    if not (work / "competitions" / name).exists():
        new(
            ["new", name, "--data", str(split.folder), "--metric", "rmsle", "--into", str(work / "competitions")]
            + ["--series", "none"]  # the folds alone: series lags are measured by benchmarks/tabular_series.py
            + extra
        )
    folds = next(
        line.split("=", 1)[1].strip()
        for line in (work / "competitions" / name / "__init__.py").read_text().splitlines()
        if line.startswith("FOLDS =")
    )
    result = run_variant(str(work / "competitions" / name), split, d, work, t0, sets=sets, rows=rows)
    return result | {"folds": folds, "sets": sets}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """RMSLE of a minus RMSLE of b on the same rows (a's and b's squared log errors), with its delta-method standard
    error."""
    diff = float(np.sqrt(np.mean(a)) - np.sqrt(np.mean(b)))
    grad = (a - b) / (2 * np.sqrt(np.mean(a)))  # first order: d sqrt(mean) ~ mean(a - b) / (2 sqrt(mean))
    return diff, float(np.std(grad, ddof=1) / np.sqrt(len(a)))


VARIANTS = (  # label, competition suffix, `new` flags, `run --set`s
    ("forward, refit on every row (new's default)", "time", [], []),
    ("forward, the last fold's models (--set refit=off)", "time", [], ["refit=off"]),
    ("random folds (--time none)", "random", ["--time", "none"], []),
)


def case(split: Split, d: Download, work: Path, short: str) -> dict[str, Any]:
    """The three variants on one split; each one's figures, and the paired refit minus last fold on held-out rows."""
    rows: list[np.ndarray] = []
    out: dict[str, Any] = {}
    for label, suffix, extra, sets in VARIANTS:
        r = variant(split, d, work, f"{short}_{suffix}", extra, sets, rows)
        out[label] = r
        print(
            f"  {label}: FOLDS {r['folds']}, CV {r['cv']:.5f} on {r['cv_rows']} rows, held-out "
            f"{r['holdout']:.5f} ± {r['holdout_se']:.5f}, optimism {r['optimism']:+.5f} ± "
            f"{r['optimism_se']:.5f}, {r['wall_s']:.0f} s"
        )
    diff, se = paired(rows[0], rows[1])
    out["refit minus last fold, held out (paired)"] = {"diff": diff, "se": se}
    print(f"  refit minus the last fold's models, held out: {diff:+.5f} ± {se:.5f} (paired)")
    return out


def over_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Each variant's CV, held-out and optimism averaged over the seeds; the paired difference's mean ± standard
    error over the seeds and the seeds where the refit held out better."""
    summary: dict[str, Any] = {}
    for label, *_ in VARIANTS:
        summary[label] = {k: float(np.mean([r[label][k] for r in per_seed])) for k in ("cv", "holdout", "optimism")}
    diffs = np.array([r["refit minus last fold, held out (paired)"]["diff"] for r in per_seed])
    se = float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    summary["refit minus last fold, held out"] = {
        "mean": float(diffs.mean()),
        "se": se,
        "median": float(np.median(diffs)),
        "refit better": f"{int((diffs < 0).sum())} of {len(diffs)}",
    }
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--drift-seeds", type=int, default=8)
    args = ap.parse_args()
    zip_path = Path(args.data_dir) / f"{HOUSE.slug}.zip"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        split, span = time_split(zip_path, args.holdout, work / "hp")
        print(f"House Prices by sale date: {span}")
        results["House Prices by sale date"] = {"split": span} | case(split, HOUSE, work, "hp")
        for title, short, steady in (
            ("generated sales, drifting level", "drift", False),
            ("generated sales, steady trend", "trend", True),
        ):
            per_seed = []
            for seed in range(args.drift_seeds):
                split, span = drift_split(args.holdout, work / f"{short}{seed}", seed, args.drift_seeds, steady)
                print(f"{title}, seed {seed}: {span}")
                per_seed.append({"seed": seed, "split": span} | case(split, DRIFT, work, f"{short}{seed}"))
            mean = over_seeds(per_seed)
            results[title] = {"seeds": per_seed, "mean over seeds": mean}
            print(f"{title}, mean over {args.drift_seeds} seeds: {mean}")
    command = "python benchmarks/tabular_time.py" + (f" --holdout {args.holdout}" if args.holdout != 0.2 else "")
    out = save(
        "tabular_time",
        command,
        {"data": os.path.relpath(zip_path, ROOT), "cases": results, **peak_memory()},
    )
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
