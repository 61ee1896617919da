"""House Prices: should the submission come from the five fold models, or from each model refitted on all rows?

    python benchmarks/house_prices_refit.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]
                                            [--splits 10]

The runner's test predictions average each model's fold models (trained on 4/5 of the rows each). Many public
House Prices solutions instead refit every model once on all training rows. Which prices unseen houses better can
only be told on labels the run never saw, so this uses tabular_holdout.py's seeded splits (20% of Kaggle's
train.csv held out, a Kaggle-layout download of the other 80%). For each split:

  1. `run competitions/house_prices --data <split>` (default settings): its fold-averaged test predictions per model
     and its blend weights (fitted on the OOF predictions);
  2. every model of the recipe refitted on all the split's training rows (outlier rule rows handled as in the run),
     predicting the held-out rows;
  3. both blended with the run's own weights and scored (RMSE of log prices) on the held-out labels; "half" is the
     mean of the two blends. Per-model scores are shown for four models.

"refit - fold average" is paired (the same split, the same weights); mean ± standard error over the splits.
Results go to benchmarks/figures/house_prices_refit.json.
"""

from __future__ import annotations

import argparse
import statistics
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

from benchutil import save  # noqa: E402
from tabular_holdout import HOUSE, make_split  # noqa: E402

import competitions.house_prices as hp  # noqa: E402
from pipeline.fitting import prepare  # noqa: E402
from pipeline.runfolder import read_predictions, read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

SHOWN = ("lasso", "svr_boosted", "gbr", "xgboost")


def rmse_log(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(pred) - np.log(truth)) ** 2)))


def one_split(zip_path: Path, seed: int) -> dict[str, Any]:
    """The fold-averaged and the refitted blend of one split, scored on its held-out rows."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        split = make_split(zip_path, HOUSE, seed, work / f"split{seed}")
        run_dir = run(
            RunOptions(
                "competitions/house_prices",
                data=str(split.folder),
                quiet=True,
                tag=f"refit{seed}",
                runs_root=str(work / "runs"),
                submissions_root=str(work / "submissions"),
            )
        )
        weights = read_record(run_dir, "summary")["blend"]["weights"]
        cfg = hp.Config()
        data = hp.load(cfg, split.folder)
        position = pd.Series(np.arange(len(data.test_ids)), index=pd.Index(data.test_ids).astype(str))
        order = position.loc[pd.Index(split.ids).astype(str)].to_numpy()
        folds_avg, refit = {}, {}
        t0 = time.perf_counter()
        for name, model in hp.models(cfg).items():
            folds_avg[name] = read_predictions(run_dir, name)[1].reshape(-1)[order]
            est = prepare(model, seed=0, n_jobs=2)  # seeds and threads set as the runner sets them
            refit[name] = np.asarray(est.fit(data.X, data.y).predict(data.X_test)).reshape(-1)[order]
        refit_s = time.perf_counter() - t0

    def blend(preds: dict[str, np.ndarray]) -> np.ndarray:
        return sum(weights.get(m, 0.0) * p for m, p in preds.items()) / sum(weights.values())

    out = {
        "seed": seed,
        "fold_average": rmse_log(split.truth, blend(folds_avg)),
        "refit": rmse_log(split.truth, blend(refit)),
        "half": rmse_log(split.truth, 0.5 * blend(folds_avg) + 0.5 * blend(refit)),
        "refit_s": refit_s,
    }
    for name in SHOWN:
        out[name] = {
            "fold_average": rmse_log(split.truth, folds_avg[name]),
            "refit": rmse_log(split.truth, refit[name]),
        }
    return out


def paired(rows: list[dict[str, Any]], get: Any) -> tuple[float, float]:
    """Mean and standard error of a per-split difference."""
    diffs = [get(r) for r in rows]
    return statistics.mean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / f"{HOUSE.slug}.zip"))
    ap.add_argument("--splits", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for seed in range(args.splits):
        rows.append(one_split(Path(args.data), seed))
        r = rows[-1]
        print(f"split {seed}: fold average {r['fold_average']:.5f}, refit {r['refit']:.5f}, half {r['half']:.5f}")
    print(f"\nHouse Prices, {args.splits} held-out splits, RMSE(log) of the blend on the held-out rows\n")
    print(f"| {'test predictions':28s} | {'held-out (mean)':>15s} | {'vs fold average (paired)':>24s} |")
    print(f"|{'-' * 30}|{'-' * 17}|{'-' * 26}|")
    summary: dict[str, Any] = {}
    for key, label in (("fold_average", "fold models averaged"), ("refit", "refit on all rows"), ("half", "half each")):
        mean = statistics.mean(r[key] for r in rows)
        diff, se = paired(rows, lambda r, k=key: r[k] - r["fold_average"])
        summary[key] = {"mean": mean, "vs_fold_average": diff, "se": se}
        vs = "" if key == "fold_average" else f"{diff:+.5f} ± {se:.5f}"
        print(f"| {label:28s} | {mean:15.5f} | {vs:>24s} |")
    for name in SHOWN:
        diff, se = paired(rows, lambda r, n=name: r[n]["refit"] - r[n]["fold_average"])
        summary[name] = {"refit_vs_fold_average": diff, "se": se}
        print(f"{name}: refit - fold average {diff:+.5f} ± {se:.5f}")
    save(
        "house_prices_refit",
        f"python benchmarks/house_prices_refit.py --splits {args.splits}",
        {
            "splits": rows,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
