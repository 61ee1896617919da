"""Series lags against none, on generated daily sales of stores and families whose later days are held out.

    python benchmarks/tabular_series.py [--seeds 3] [--stores 8,24]

Each seed draws daily sales of 8 stores x 4 families (32 series), then of 24 x 4 (96 series: Store Sales has 1,782),
over 200 training days and the 14 days after them, held out as test.csv without sales (their truth kept here): a
level per series, its own weekly pattern and trend, a slow random walk, a promotion column that helps a little and
noise. `new --metric rmsle` finds the series (store_nbr,
family) and the horizon (14 days), as it would on Store Sales. Three runs of the same download, interleaved per
seed, each with LightGBM and the linear model at default settings (early stopping: the work is fixed, not the time):

- "lags on": new's default: each row's sales 14 to 20 days back and their means over 7 and 28 days ending 14 days
  back, per series, fitted inside each fold; each forward fold validates 14 days, as the test;
- "lags off": the same competition and folds with `--set lags=` (no series features), so its CV is of the same rows;
- "no series": `new --series none`, the pipeline before series: no lags, forward folds of about equal rows.

Each run's CV (out of fold, as reported) is set beside the RMSLE of its submission on the held-out days; the paired
difference lags on minus lags off on the held-out rows is given per seed with its delta-method standard error.
"""

from __future__ import annotations

import argparse
import json
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
from tabular_holdout import Download, Split, aggregate, new, per_row, run_variant  # noqa: E402
from tabular_time import paired  # noqa: E402

SALES = Download("shop-sales", "id", "sales", "sample_submission.csv", False, lambda train, held: [0.0] * len(held))
FAMILIES, DAYS, HORIZON = 4, 200, 14
MODELS = ("lightgbm", "linear")


def sales_split(parent: Path, seed: int, stores: int) -> tuple[Split, str]:
    """parent/shop-sales/: the seed's daily sales of `stores` x FAMILIES series, the last HORIZON days held out."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=DAYS + HORIZON, freq="D")
    frames = []
    for store in range(1, stores + 1):
        for family in ["BREAD", "DAIRY", "TOYS", "WINE"][:FAMILIES]:
            week = np.exp(rng.normal(0, 0.35, 7))[dates.day_of_week]
            trend = 1 + rng.normal(0.002, 0.002) * np.arange(len(dates))
            walk = np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
            promo = rng.integers(0, 3, len(dates))
            level = rng.uniform(5, 200) * week * trend * walk * (1 + 0.1 * promo)
            frames.append(
                pd.DataFrame(
                    {"date": dates.strftime("%Y-%m-%d"), "store_nbr": store, "family": family, "onpromotion": promo}
                ).assign(sales=(level * rng.lognormal(0, 0.1, len(dates))).round(2))
            )
    full = pd.concat(frames).sort_values(["date", "store_nbr", "family"], kind="stable").reset_index(drop=True)
    full.insert(0, "id", np.arange(len(full)))
    held = pd.to_datetime(full["date"]) >= dates[DAYS]
    folder = parent / SALES.slug
    folder.mkdir(parents=True)
    full[~held].to_csv(folder / "train.csv", index=False)
    full[held].drop(columns="sales").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"id": full["id"][held], "sales": 0.0}).to_csv(folder / SALES.sample_file, index=False)
    span = f"{int((~held).sum())} rows to {full['date'][~held].max()}, {int(held.sum())} held out after it"
    ids = full["id"][held].astype(str).to_numpy()
    return Split(seed, folder, ids, full["sales"][held].to_numpy(float), np.zeros(int(held.sum()), bool)), span


ONLY = f"models={','.join(MODELS)}"
VARIANTS = (  # label, competition suffix, `new` flags, `run --set`s
    ("lags on (new's default)", "series", [], [ONLY]),
    ("lags off, the same folds (--set lags=)", "series", [], [ONLY, "lags="]),
    ("no series (new --series none): equal-row forward folds, no lags", "none", ["--series", "none"], [ONLY]),
)


def variant(split: Split, work: Path, name: str, extra: list[str], sets: list[str], rows: list) -> dict[str, Any]:
    """`new` (once per competition) and `run` of one variant; its CV, held-out score and optimism."""
    t0 = time.perf_counter()
    if not (work / "competitions" / name).exists():
        where = ["--into", str(work / "competitions")]
        new(["new", name, "--data", str(split.folder), "--metric", "rmsle", *where, *extra])
    result = run_variant(str(work / "competitions" / name), split, SALES, work, t0, sets=sets, rows=rows)
    return result | {"sets": sets, "models": per_model(max((work / "runs" / name).iterdir()), split)}


def per_model(run_dir: Path, split: Split) -> dict[str, dict[str, float]]:
    """Each model's CV (its out-of-fold predictions scored on all rows at once, as the run reports it) and the RMSLE
    of its own test predictions (its refit's) on the held-out days."""
    summary = json.loads((run_dir / "summary.json").read_text())
    out = {}
    for m in MODELS:
        test = np.load(run_dir / "test" / f"{m}.npy").ravel()
        held = aggregate("rmsle", per_row("rmsle", split.truth, test))
        out[m] = {"cv": float(summary["blend"]["oof_scores"][m]), "holdout": held}
    return out


def one_seed(work: Path, seed: int, stores: int) -> dict[str, Any]:
    """The three variants on one seed's download, and the paired held-out difference lags on minus lags off."""
    work.mkdir(parents=True, exist_ok=True)
    split, span = sales_split(work / f"s{seed}", seed, stores)
    print(f"seed {seed}: {span}")
    rows: list[np.ndarray] = []
    out: dict[str, Any] = {"split": span}
    for label, suffix, extra, sets in VARIANTS:
        r = variant(split, work, f"sales{seed}_{suffix}", extra, sets, rows)
        out[label] = r
        print(
            f"  {label}: CV {r['cv']:.5f} on {r['cv_rows']} rows, held-out {r['holdout']:.5f} ± "
            f"{r['holdout_se']:.5f}, optimism {r['optimism']:+.5f}, {r['wall_s']:.0f} s; "
            + ", ".join(f"{m} CV {v['cv']:.5f} held-out {v['holdout']:.5f}" for m, v in r["models"].items())
        )
    diff, se = paired(rows[0], rows[1])
    out["lags on minus lags off, held out (paired)"] = {"diff": diff, "se": se}
    print(f"  lags on minus lags off, held out: {diff:+.5f} ± {se:.5f} (paired)")
    return out


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Each variant's figures averaged over the seeds (its models' too), and the paired held-out difference lags on
    minus lags off: its mean ± standard error over the seeds, and the seeds where the lags held out better."""
    mean: dict[str, Any] = {}
    for label, *_ in VARIANTS:
        runs = [r[label] for r in per_seed]
        mean[label] = {k: float(np.mean([r[k] for r in runs])) for k in ("cv", "holdout", "optimism", "wall_s")}
        for m in MODELS:
            mean[label][m] = {k: float(np.mean([r["models"][m][k] for r in runs])) for k in ("cv", "holdout")}
    diffs = np.array([r["lags on minus lags off, held out (paired)"]["diff"] for r in per_seed])
    mean["lags on minus lags off, held out"] = {
        "mean": float(diffs.mean()),
        "se": float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan"),
        "lags better": f"{int((diffs < 0).sum())} of {len(diffs)}",
    }
    return mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--stores", default="8,24", help="stores per download, a comma-separated list of sizes")
    args = ap.parse_args()
    sizes = [int(n) for n in args.stores.split(",")]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stores in sizes:
            per_seed = [
                {"seed": seed} | one_seed(Path(tmp) / f"stores{stores}", seed, stores) for seed in range(args.seeds)
            ]
            mean = summarise(per_seed)
            print(f"{stores} stores x {FAMILIES} families, mean over {args.seeds} seeds: {mean}")
            results[f"{stores * FAMILIES} series"] = {"stores": stores, "seeds": per_seed, "mean over seeds": mean}
    command = "python benchmarks/tabular_series.py" + (f" --seeds {args.seeds}" if args.seeds != 3 else "")
    command += f" --stores {args.stores}" if args.stores != "8,24" else ""
    data = {"families": FAMILIES, "days": DAYS, "horizon": HORIZON, "models": list(MODELS)}
    out = save("tabular_series", command, {"data": data, "cases": results, **peak_memory()})
    print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
