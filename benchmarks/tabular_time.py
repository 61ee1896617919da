"""Folds forward in time against random folds, on House Prices split by sale date (real data, labels held out).

    python benchmarks/tabular_time.py [--data-dir ../shared/data] [--holdout 0.2]

Kaggle's House Prices train.csv (1,460 sales, 2006 to 2010) gets a date column, `sold` (YrSold-MoSold-01), and is
split by it: the latest 20% of the sales (whole months) are held out as test.csv without SalePrice, the earlier ones
are train.csv, as a competition split by time is. Then, as a user runs it, at default settings:

- `new --metric rmsle --time sold`: the folds run forward by `sold` (FOLDS = "time": 6 periods of about equal
  sales, each of the last 5 validated by models fitted on the earlier ones; the submission is the last fold's);
- `new --metric rmsle` (its default, which names `--time sold` since every test row is sold after every training
  row): 5 random folds, each trained on sales from before and after the ones it validates.

Each run's CV (out of fold, as reported) is set beside the RMSLE of its submission on the held-out later sales; the
optimism is CV minus held-out (negative: the CV claimed better than the later sales gave). ± is one standard error
(delta method, as benchmarks/tabular_holdout.py). One split: a split by time has no seed to vary.
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
from tabular_holdout import HOUSE, Split, mean_price, new, read_member, run_variant  # noqa: E402


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


def variant(split: Split, work: Path, name: str, extra: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    new(["new", name, "--data", str(split.folder), "--metric", "rmsle", "--into", str(work / "competitions"), *extra])
    folds = next(
        line.split("=", 1)[1].strip()
        for line in (work / "competitions" / name / "__init__.py").read_text().splitlines()
        if line.startswith("FOLDS =")
    )
    return run_variant(str(work / "competitions" / name), split, HOUSE, work, t0) | {"folds": folds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--holdout", type=float, default=0.2)
    args = ap.parse_args()
    zip_path = Path(args.data_dir) / f"{HOUSE.slug}.zip"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        split, span = time_split(zip_path, args.holdout, work / "split")
        print(span)
        for label, name, extra in (
            ("forward in time (--time sold)", "hp_time", ["--time", "sold"]),
            ("random folds (new's default)", "hp_random", []),
        ):
            r = variant(split, work, name, extra)
            results[label] = r
            print(
                f"{label}: FOLDS {r['folds']}, CV {r['cv']:.5f} on {r['cv_rows']} rows, held-out {r['holdout']:.5f} "
                f"± {r['holdout_se']:.5f}, optimism {r['optimism']:+.5f} ± {r['optimism_se']:.5f}, {r['wall_s']:.0f} s"
            )
    command = "python benchmarks/tabular_time.py" + (f" --holdout {args.holdout}" if args.holdout != 0.2 else "")
    out = save(
        "tabular_time",
        command,
        {"data": os.path.relpath(zip_path, ROOT), "split": span, "variants": results, **peak_memory()},
    )
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
