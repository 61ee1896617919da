"""Folds forward in time against random folds, on House Prices split by sale date (real data, labels held out).

    python benchmarks/tabular_time.py [--data-dir ../shared/data] [--holdout 0.2]

Kaggle's House Prices train.csv (1,460 sales, 2006 to 2010) gets a date column, `sold` (YrSold-MoSold-01), and is
split by it: the latest 20% of the sales (whole months) are held out as test.csv without SalePrice, the earlier ones
are train.csv, as a competition split by time is. Then, as a user runs it, at default settings:

- `new --metric rmsle`: every test row is sold after every training row, so the folds run forward by `sold`
  (FOLDS = "time": 6 periods of about equal sales, each of the last 5 validated by models fitted on the earlier ones;
  the submission is the last fold's);
- the same with `--time none`: 5 random folds, each trained on sales from before and after the ones it validates.

The second case is generated, to show what House Prices does not have: daily sales of 3 stores over 1,000 days whose
level drifts (a trend, a yearly season and a random walk, seeded), with one informative feature; the last 20% of the
days are held out. There, random folds learn each day's level from its neighbours on both sides, which the later days
never offer.

Each run's CV (out of fold, as reported) is set beside the RMSLE of its submission on the held-out later rows; the
optimism is held-out minus CV (positive: the CV claimed better than the later rows gave). ± is one standard error
(delta method, as benchmarks/tabular_holdout.py). One split each: a split by time has no seed to vary.
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


def drift_split(holdout: float, parent: Path) -> tuple[Split, str]:
    """parent/sales-drift/: 3 stores' daily sales over 1,000 days with a drifting level; the last days held out."""
    rng = np.random.default_rng(0)
    days = 1000
    t = np.arange(days)
    level = 100 + 0.08 * t + 15 * np.sin(2 * np.pi * t / 365) + np.cumsum(rng.normal(0, 1.5, days))
    stores = np.array(["a", "b", "c"])
    day, store = np.repeat(t, 3), np.tile(stores, days)
    x = rng.normal(size=len(day))
    sales = level[day] * np.select([store == "a", store == "b"], [1.0, 1.3], 0.8) + 8 * x + rng.normal(0, 4, len(day))
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


def variant(split: Split, d: Download, work: Path, name: str, extra: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    new(["new", name, "--data", str(split.folder), "--metric", "rmsle", "--into", str(work / "competitions"), *extra])
    folds = next(
        line.split("=", 1)[1].strip()
        for line in (work / "competitions" / name / "__init__.py").read_text().splitlines()
        if line.startswith("FOLDS =")
    )
    return run_variant(str(work / "competitions" / name), split, d, work, t0) | {"folds": folds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--holdout", type=float, default=0.2)
    args = ap.parse_args()
    zip_path = Path(args.data_dir) / f"{HOUSE.slug}.zip"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = [
            ("House Prices by sale date", HOUSE, *time_split(zip_path, args.holdout, work / "hp"), "sold", "hp"),
            ("generated sales, drifting level", DRIFT, *drift_split(args.holdout, work / "drift"), "date", "drift"),
        ]
        for case, d, split, span, column, short in cases:
            print(f"{case}: {span}")
            results[case] = {"split": span}
            for label, name, extra in (
                (f"forward in time by {column} (new's default)", f"{short}_time", []),
                ("random folds (--time none)", f"{short}_random", ["--time", "none"]),
            ):
                r = variant(split, d, work, name, extra)
                results[case][label] = r
                print(
                    f"  {label}: FOLDS {r['folds']}, CV {r['cv']:.5f} on {r['cv_rows']} rows, held-out "
                    f"{r['holdout']:.5f} ± {r['holdout_se']:.5f}, optimism {r['optimism']:+.5f} ± "
                    f"{r['optimism_se']:.5f}, {r['wall_s']:.0f} s"
                )
    command = "python benchmarks/tabular_time.py" + (f" --holdout {args.holdout}" if args.holdout != 0.2 else "")
    out = save(
        "tabular_time",
        command,
        {"data": os.path.relpath(zip_path, ROOT), "cases": results, **peak_memory()},
    )
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
