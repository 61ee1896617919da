"""House Prices: does averaging each randomised model over seeds move the recipe's CV?

    python benchmarks/house_prices_seeds.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]
                                            [--seeds 5]

One default run of competitions/house_prices gives the recipe's ten models' out-of-fold predictions and its folds
(5-fold KFold, seed 0, the 1458 rows left after the documented outlier rule). Each model with randomness (row and
column subsampling: gbr, lightgbm, xgboost and the two residual-boosted ones) is refitted on the same folds with
seeds 1 .. `--seeds` - 1, as the runner seeds it, and its out-of-fold log prices are averaged with the run's (seed 0).
"blend" is the framework's own out-of-fold blend (pipeline.finish.blend_results) with the averaged models in place
of the run's, comparable with the run's reported CV. Results go to benchmarks/figures/house_prices_seeds.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402
from house_prices_oof import DATA, blend_score, recipe_run  # noqa: E402

import competitions.house_prices as hp  # noqa: E402
from pipeline.fitting import prepare  # noqa: E402

RANDOMISED = ("gbr", "lightgbm", "xgboost", "lasso_boosted", "svr_boosted")


def main() -> None:
    from sklearn.exceptions import ConvergenceWarning

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    default = recipe_run(args.data, "seeds")
    X, y, folds, scored, oof = default.data.X, default.data.y, default.folds, default.scored, default.oof
    averaged, rows = {}, []
    for m in RANDOMISED:
        started = time.perf_counter()
        logs = [np.log(oof[m][scored])]
        for seed in range(1, args.seeds):
            pred = np.zeros(len(y))
            for f in np.unique(folds[scored]):
                tr, va = folds != f, folds == f
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model = prepare(hp.models(default.cfg)[m], seed=seed, n_jobs=2).fit(X[tr], y[tr])
                pred[va] = np.asarray(model.predict(X[va])).reshape(-1)
            logs.append(np.log(pred[scored]))
        averaged[m] = oof[m].copy()
        averaged[m][scored] = np.exp(np.mean(logs, axis=0))
        row = {"model": m, "seed_0": hp.score(y[scored], oof[m][scored])}
        row |= {"averaged": hp.score(y[scored], averaged[m][scored]), "seconds": time.perf_counter() - started}
        rows.append(row)
        print(f"{m}: seed 0 {row['seed_0']:.5f}, {args.seeds} seeds {row['averaged']:.5f}, {row['seconds']:.0f} s")

    result = {"seeds": args.seeds, "rows": rows, "blend_run": blend_score(y, folds, oof)["score"]}
    result["blend_averaged"] = blend_score(y, folds, oof | averaged)["score"]
    print(f"blend: the run's {result['blend_run']:.5f}, with the averaged models {result['blend_averaged']:.5f}")
    save("house_prices_seeds", f"python benchmarks/house_prices_seeds.py --seeds {args.seeds}", result)


if __name__ == "__main__":
    main()
