"""Does a small LightGBM on the linear models' residuals ("linear_boosted", "svm_boosted") earn a place among the
models `new` writes for a regression? On labels no run saw.

    python benchmarks/tabular_boosted.py [--data-dir ../shared/data] [--splits 5] [--only TEXT]
                                         [--add linear_boosted,svm_boosted] [--first-split K]

Downloads: House Prices (`new --metric rmsle`), split as benchmarks/tabular_holdout.py splits it (20% of Kaggle's
train.csv held out as test.csv), and scikit-learn's make_friedman1 (1,000 rows, 5 of 10 columns informative, noise 1;
`new --metric rmse`), split stratified on the target's deciles as benchmarks/tabular_forest.py splits its regressions.
For each seeded split `new` is run once, then `run` twice on the same folds: with the models `new` wrote, and with
those plus `--add` (a comma-separated list). Each submission is scored on the held-out labels; the difference (with -
without) is paired on the same rows, its standard error a bootstrap of the held-out rows (tabular_forest.difference),
combined over splits as independent (tabular_holdout.split_mean). Also reported: each run's CV, each added model's own
CV, how many splits the added models made better and worse, and the median over the splits of the run-time ratio
(with / without). Splits are seeded K, K+1, ... (`--first-split K`, 0 by default; splits never seen when a choice
was made on the first ones). Results: figures/tabular_boosted.json (figures/tabular_boosted_<only>.json with --only,
then _from<K> with --first-split K).

    python benchmarks/tabular_boosted.py --settings

The residual booster's own settings, chosen before the held-out runs: 5-fold CV (one seeded KFold, in process, no
runner) of the models alone on House Prices' whole train.csv (log1p(SalePrice), RMSE of the logs) and on the 1,000
make_friedman1 rows: linear and svm, and each boosted at the defaults (in-sample residuals, 1,000 trees at 0.03, 80%
of the columns a tree), with cross-fitted residuals (cross_fit=5), with a third of the columns a tree (the hand-made
recipe's 0.3) and with 400 trees at 0.02 (its count and rate). Results: figures/tabular_boosted_settings.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tabular_forest as forest  # noqa: E402
import tabular_holdout as holdout  # noqa: E402
from benchutil import peak_memory, save, scratch_cwd  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.tabular.models import linear, svm  # noqa: E402
from pipeline.tabular.residual import ResidualBoosted  # noqa: E402

FRIEDMAN = "make_friedman1, 1,000 rows (rmse)"


def friedman_small() -> tuple[pd.DataFrame, np.ndarray]:
    """make_friedman1 on 1,000 rows: 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise; x5..x9 noise."""
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=1000, n_features=10, noise=1.0, random_state=0)
    return pd.DataFrame(X.round(5), columns=[f"x{i}" for i in range(10)]), y


forest.REGRESSIONS[FRIEDMAN] = friedman_small
DOWNLOADS = {FRIEDMAN: forest.regression_split, "House Prices (rmsle)": forest.kaggle_split}


def one_split(name: str, seed: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`new` on the split, then `run` with the models it wrote and with --add added; their figures and the paired
    difference of the held-out scores."""
    folder, flags, scorer, metric = DOWNLOADS[name](name, seed, work, Path(args.data_dir).resolve())
    comp = f"{name.split()[0].lower().replace(',', '')}_boosted_s{seed}"
    if cli(["new", comp, "--data", str(folder), *flags, "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name} split {seed}: `new` failed")
    spec = str(work / "competitions" / comp)
    added = tuple(args.add.split(","))
    written = tuple(m for m in forest.read_models(spec) if m not in added)
    out: dict[str, Any] = {"seed": seed, "metric": metric, "models": list(written), "added": list(added)}
    rows = {}
    for label, models in (("without", written), ("with", (*written, *added))):
        out[label], run_dir = forest.one_run(folder, spec, [f"models={','.join(models)}"], work)
        if out[label]["metric"] != metric:
            raise SystemExit(f"{name} split {seed}: the run scored {out[label]['metric']}, not {metric}")
        rows[label] = scorer(run_dir)
        out[label]["holdout"] = forest.score(metric, rows[label])
    out["difference"], out["difference_se"] = forest.difference(metric, rows["without"], rows["with"], seed)
    return out


def show(name: str, r: dict[str, Any]) -> None:
    """One split's line: CV and held-out without -> with, the difference, each model's own CV, the wall times."""
    own = ", ".join(f"{m} {cv:.5f}" for m, cv in r["with"]["models"].items())
    print(
        f"{name} split {r['seed']}: CV {r['without']['cv']:.5f} -> {r['with']['cv']:.5f} "
        f"({r['without']['final']} -> {r['with']['final']}), held-out {r['without']['holdout']:.5f} -> "
        f"{r['with']['holdout']:.5f} ({r['difference']:+.5f} ± {r['difference_se']:.4f}); models {own}; "
        f"{r['without']['wall_s']} s -> {r['with']['wall_s']} s",
        flush=True,
    )


SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cross_fit=5": {"cross_fit": 5},
    "colsample=0.3": {"colsample": 0.3},
    "400 trees at 0.02": {"n_estimators": 400, "learning_rate": 0.02},
}


def settings_data(data_dir: Path) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """House Prices' train.csv (features, log1p of the price) and the 1,000 make_friedman1 rows."""
    with zipfile.ZipFile(data_dir / f"{holdout.HOUSE.slug}.zip") as z, z.open("train.csv") as f:
        house = pd.read_csv(f)
    y = np.log1p(house.pop("SalePrice").to_numpy(float))
    house = house.drop(columns="Id")
    return {"House Prices (log1p, rmse)": (house, y), FRIEDMAN: friedman_small()}


def cv_rmse(make: Callable[[], Any], X: pd.DataFrame, y: np.ndarray) -> tuple[float, float]:
    """5-fold out-of-fold RMSE of a fresh model per fold (seeded KFold), and the seconds it took."""
    from sklearn.model_selection import KFold

    t0, oof = time.perf_counter(), np.zeros(len(y))
    for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
        oof[va] = make().fit(X.iloc[tr], y[tr]).predict(X.iloc[va])
    return float(np.sqrt(np.mean((oof - y) ** 2))), round(time.perf_counter() - t0, 1)


def settings(data_dir: Path) -> dict[str, Any]:
    """Each data set's CV RMSE and time: each base alone and boosted with each of SETTINGS."""
    bases = {"linear": lambda: linear("regression"), "svm": lambda: svm("regression")}
    out: dict[str, Any] = {}
    for name, (X, y) in settings_data(data_dir).items():
        out[name] = {}
        for base, make in bases.items():
            variants = {base: make} | {
                f"{base}_boosted, {label}": lambda make=make, kw=kw: ResidualBoosted(make(), **kw)
                for label, kw in SETTINGS.items()
            }
            for label, fn in variants.items():
                rmse, seconds = cv_rmse(fn, X, y)
                out[name][label] = {"cv_rmse": rmse, "seconds": seconds}
                print(f"{name}: {label:36s} CV RMSE {rmse:.5f}, {seconds} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    holdout.split_arguments(ap)
    ap.add_argument("--add", default="linear_boosted,svm_boosted", help="the models added to those `new` wrote")
    ap.add_argument("--first-split", type=int, default=0, help="the first split's seed (fresh splits: 5 and on)")
    ap.add_argument("--settings", action="store_true", help="the booster's own settings by 5-fold CV, no runner")
    args = ap.parse_args()
    if args.settings:
        results = settings(Path(args.data_dir).resolve())
        command = "python benchmarks/tabular_boosted.py --settings"
        print(save("tabular_boosted_settings", command, {"data": results, **peak_memory()}).relative_to(ROOT))
        return
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for name in DOWNLOADS:
            if args.only and args.only not in name:
                continue
            runs = []
            for seed in range(args.first_split, args.first_split + args.splits):
                runs.append(one_split(name, seed, work, args))
                show(name, runs[-1])
            results[name] = forest.summarise(runs)
            s = results[name]
            print(
                f"{name}: held-out with - without {s['difference_mean']:+.5f} ± {s['difference_mean_se']:.4f}, "
                f"better on {s['splits_better']} splits, worse on {s['splits_worse']}, run time "
                f"x{s['time_ratio_median']:.2f}",
                flush=True,
            )
    first = f" --first-split {args.first_split}" if args.first_split else ""
    command = holdout.split_command("tabular_boosted.py", args, f" --add {args.add}{first}")
    figure = "tabular_boosted" + ("_" + args.only.lower().split()[0].strip(",") if args.only else "")
    figure += f"_from{args.first_split}" if args.first_split else ""
    print(save(figure, command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
