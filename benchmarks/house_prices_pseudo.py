"""House Prices: does pseudo-labelling (self-distillation on unlabelled rows) move the recipe's CV?

    python benchmarks/house_prices_pseudo.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]

One default run of competitions/house_prices gives the recipe's ten models per fold, their out-of-fold predictions
and the folds (5-fold KFold, seed 0, the 1458 rows left after the documented outlier rule). For each fold, the
teacher is the equal-weight mean (of log prices) of that fold's ten models, which never saw the fold's labels. It
prices the 1459 test houses and the fold's own validation houses (their features only), and every model of the
recipe is refitted on the fold's training rows plus those pseudo-labelled rows, then scored on the validation rows.
No label of a validation row reaches its students, so each figure is out of fold; "blend" is the framework's own
out-of-fold blend (pipeline.finish.blend_results), comparable with the run's reported CV.
Results go to benchmarks/figures/house_prices_pseudo.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402
from house_prices_oof import DATA, blend_score, recipe_run  # noqa: E402

import competitions.house_prices as hp  # noqa: E402
from pipeline.fitting import prepare  # noqa: E402


def main() -> None:
    from sklearn.exceptions import ConvergenceWarning

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    default = recipe_run(args.data, "pseudo")
    X, y, X_test = default.data.X, default.data.y, default.data.X_test
    folds, scored, oof = default.folds, default.scored, default.oof
    names, run_dir, cfg = list(oof), default.run_dir, default.cfg
    teacher_oof = np.exp(np.mean([np.log(np.where(scored, oof[m], 1.0)) for m in names], axis=0))
    student = {m: oof[m].copy() for m in names}  # fold -1 (the outlier rule's rows) keeps the run's prices
    started = time.perf_counter()
    for f in np.unique(folds[scored]):
        tr, va = folds != f, folds == f
        fold_models = [joblib.load(run_dir / "models" / m / f"fold{f}.joblib") for m in names]
        teacher_test = np.exp(np.mean([np.log(np.asarray(m.predict(X_test)).reshape(-1)) for m in fold_models], 0))
        X_fit = pd.concat([X[tr], X_test, X[va]], ignore_index=True)
        y_fit = np.concatenate([y[tr], teacher_test, teacher_oof[va]])
        for m in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = prepare(hp.models(cfg)[m], seed=0, n_jobs=2).fit(X_fit, y_fit)
            student[m][va] = np.asarray(model.predict(X[va])).reshape(-1)
        print(f"fold {f}: {time.perf_counter() - started:.0f} s", flush=True)
    seconds = time.perf_counter() - started

    rows = [
        {"model": m, "before": hp.score(y[scored], oof[m][scored]), "pseudo": hp.score(y[scored], student[m][scored])}
        for m in names
    ]
    result = {
        "rows": rows,
        "teacher_equal_mean": hp.score(y[scored], teacher_oof[scored]),
        "blend_before": blend_score(y, folds, oof)["score"],
        "blend_students": blend_score(y, folds, student)["score"],
        "blend_both": blend_score(y, folds, oof | {f"{m}_pseudo": v for m, v in student.items()})["score"],
        "student_seconds": seconds,
        "recipe_fit_seconds": sum(v["seconds"] for v in default.summary["models"].values()),
        "cv_rows": int(scored.sum()),
    }
    print(f"\nHouse Prices, {scored.sum()} rows, 5-fold CV RMSE(log)\n")
    print(f"| {'model':14s} | {'recipe':>8s} | {'pseudo':>8s} |\n|{'-' * 16}|{'-' * 10}|{'-' * 10}|")
    for r in rows:
        print(f"| {r['model']:14s} | {r['before']:8.5f} | {r['pseudo']:8.5f} |")
    for key in ("teacher_equal_mean", "blend_before", "blend_students", "blend_both"):
        print(f"{key}: {result[key]:.5f}")
    print(f"students: {seconds:.0f} s; the recipe's own fits: {result['recipe_fit_seconds']:.0f} s")
    save("house_prices_pseudo", "python benchmarks/house_prices_pseudo.py", result)


if __name__ == "__main__":
    main()
