"""An auxiliary table joined by key against left out, on generated Rossmann-like store sales.

    python benchmarks/tabular_joins.py [--seeds 3] [--stores 300]

Each seed draws a store table (store.csv: a type per store that sets its sales level, an assortment that raises it,
a competitor's distance that does nothing) and 12 days of each store's sales (a weekday pattern, a promotion, noise),
and holds out a fifth of the rows, drawn at random, as test.csv without Sales (their truth kept here): a download as
Rossmann's, with 12 rows or fewer per store, so that a store's number says little of its type. Two competitions of
the same download, run interleaved per seed with LightGBM and the linear model at default settings (early stopping:
the work is fixed, not the time), on the same folds (kfold with the run's seed):

- "join (new's default)": `new` finds store.csv's key, Store, and JOINS adds its columns to train's and test's rows;
- "no join (new --join none)": the pipeline before joins: train's and test's own columns only.

Each run's CV (RMSLE, out of fold, as reported) is set beside the RMSLE of its submission on the held-out rows; the
paired difference join minus no join on the held-out rows is given per seed with its delta-method standard error.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import peak_memory, save  # noqa: E402
from tabular_holdout import Download, Split, new, run_variant  # noqa: E402
from tabular_time import paired  # noqa: E402

STORES = Download("rossmann-like", "Id", "Sales", "sample_submission.csv", False, lambda train, held: [0] * len(held))
DAYS = 12
TYPES = {"a": 1000.0, "b": 4000.0, "c": 2000.0, "d": 7000.0}  # each store type's sales level
MODELS = ("lightgbm", "linear")
VARIANTS = (("join (new's default)", "join", []), ("no join (new --join none)", "none", ["--join", "none"]))


def stores_split(parent: Path, seed: int, stores: int) -> tuple[Split, str]:
    """parent/rossmann-like/: the seed's store table and store sales, a fifth of the rows held out at random."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "Store": np.arange(1, stores + 1),
            "StoreType": rng.choice(list(TYPES), stores),
            "Assortment": rng.choice(["a", "b", "c"], stores),
            "CompetitionDistance": rng.integers(100, 20000, stores),
        }
    )
    rows = table.merge(pd.DataFrame({"Date": pd.date_range("2015-01-05", periods=DAYS, freq="D")}), how="cross")
    promo = rng.integers(0, 2, len(rows))
    week = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.3, 0.6])[rows["Date"].dt.day_of_week]
    level = rows["StoreType"].map(TYPES) * np.where(rows["Assortment"] == "c", 1.3, 1.0)
    sales = (level * week * (1 + 0.3 * promo) * rng.lognormal(0, 0.1, len(rows))).round()
    full = pd.DataFrame(
        {"Id": np.arange(1, len(rows) + 1), "Store": rows["Store"], "Date": rows["Date"].dt.strftime("%Y-%m-%d")}
    ).assign(Promo=promo, Sales=sales)
    held = rng.random(len(full)) < 0.2
    folder = parent / STORES.slug
    folder.mkdir(parents=True)
    full[~held].to_csv(folder / "train.csv", index=False)
    full[held].drop(columns="Sales").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"Id": full["Id"][held], "Sales": 0}).to_csv(folder / STORES.sample_file, index=False)
    table.to_csv(folder / "store.csv", index=False)
    span = f"{stores} stores, {int((~held).sum())} training rows, {int(held.sum())} held out"
    ids = full["Id"][held].astype(str).to_numpy()
    return Split(seed, folder, ids, full["Sales"][held].to_numpy(float), np.zeros(int(held.sum()), bool)), span


def one_seed(work: Path, seed: int, stores: int) -> dict[str, Any]:
    """The two variants on one seed's download, and the paired held-out difference join minus no join."""
    work.mkdir(parents=True, exist_ok=True)
    split, span = stores_split(work / f"s{seed}", seed, stores)
    print(f"seed {seed}: {span}")
    rows: list[np.ndarray] = []
    out: dict[str, Any] = {"split": span}
    for label, suffix, extra in VARIANTS:
        t0, name = time.perf_counter(), f"stores{seed}_{suffix}"
        where = ["--into", str(work / "competitions")]
        new(["new", name, "--data", str(split.folder), "--metric", "rmsle", *where, *extra])
        sets = [f"models={','.join(MODELS)}"]
        r = run_variant(str(work / "competitions" / name), split, STORES, work, t0, sets=sets, rows=rows)
        out[label] = r
        print(
            f"  {label}: CV {r['cv']:.5f} on {r['cv_rows']} rows, held-out {r['holdout']:.5f} ± "
            f"{r['holdout_se']:.5f}, optimism {r['optimism']:+.5f}, {r['wall_s']:.0f} s"
        )
    diff, se = paired(rows[0], rows[1])
    out["join minus no join, held out (paired)"] = {"diff": diff, "se": se}
    print(f"  join minus no join, held out: {diff:+.5f} ± {se:.5f} (paired)")
    return out


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Each variant's figures averaged over the seeds, and the paired held-out difference join minus no join: its
    mean ± standard error over the seeds, and the seeds where the join held out better."""
    mean: dict[str, Any] = {}
    for label, *_ in VARIANTS:
        runs = [r[label] for r in per_seed]
        mean[label] = {k: float(np.mean([r[k] for r in runs])) for k in ("cv", "holdout", "optimism", "wall_s")}
    diffs = np.array([r["join minus no join, held out (paired)"]["diff"] for r in per_seed])
    mean["join minus no join, held out"] = {
        "mean": float(diffs.mean()),
        "se": float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan"),
        "join better": f"{int((diffs < 0).sum())} of {len(diffs)}",
    }
    return mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--stores", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per_seed = [{"seed": seed} | one_seed(Path(tmp), seed, args.stores) for seed in range(args.seeds)]
    mean = summarise(per_seed)
    print(f"mean over {args.seeds} seeds: {mean}")
    command = "python benchmarks/tabular_joins.py" + (f" --seeds {args.seeds}" if args.seeds != 3 else "")
    command += f" --stores {args.stores}" if args.stores != 300 else ""
    data = {"stores": args.stores, "days": DAYS, "held_out": 0.2, "models": list(MODELS), "metric": "rmsle"}
    out = save("tabular_joins", command, {"data": data, "seeds": per_seed, "mean over seeds": mean, **peak_memory()})
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
