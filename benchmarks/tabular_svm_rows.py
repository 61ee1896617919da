"""Where should `new` stop writing svm (or another model) into a generated Config's models? One fold of each model,
by training rows.

    python benchmarks/tabular_svm_rows.py [--rows 1000,2000,5000,10000,20000] [--repeats 3]
                                          [--model svm] [--tasks regression,binary]

`new` writes "svm" (an RBF SVM on the linear model's features: SVR, or SVC with Platt-scaled probabilities from 5
inner fits) into the models of at most SVM_MAX_ROWS training rows (pipeline/tabular/recipe.py), as an RBF SVM's fit
grows with the square of the rows. This script measures that growth against the rest of a default run. For each
row count and task (regression; binary), a seeded generated table (8 numeric columns, two text columns of 6 and 30
levels, a non-linear target with noise) and as many test rows as training rows; fold 0 of 5 (stratified for
binary), as a default run's folds. Each model of the recipe (TabularRecipe's four and svm, scikit-learn's defaults
as `new` writes them) is fitted the runner's way (pipeline.fitting.fit_fold, one thread as default_jobs gives at
these sizes, the fold's validation rows as the boosters' early stopping set), then predicts the validation and test
rows. Fixed work: every model at every size, `--repeats` times, interleaved (sizes, tasks and the model order
rotated each repeat); medians. Reported per fold: seconds (fit + predict), svm / lightgbm, and what svm adds to a
default 5-fold run's fold work (svm / the four). Results: benchmarks/figures/tabular_svm_rows.json.

`--model extratrees` measures that model in svm's place the same way (a 4-class target for the task "multiclass",
cut from the same signal at its quartiles): benchmarks/figures/tabular_extratrees_rows.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402

from pipeline.contract import FitContext  # noqa: E402
from pipeline.fitting import fit_fold, predict_outputs  # noqa: E402
from pipeline.tabular.recipe import SVM_MAX_ROWS, TabularRecipe, model_set  # noqa: E402


def table(rows: int, task: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A generated table of `rows` rows (and as many again for test): its features and its target."""
    rng = np.random.default_rng(seed)
    n = 2 * rows
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"num{i}" for i in range(8)])
    X["cat_a"] = rng.choice(list("ABCDEF"), n)
    X["cat_b"] = rng.choice([f"level{i}" for i in range(30)], n)
    signal = X.num0 - 0.7 * X.num1 * X.num2 + np.sin(2 * X.num3) + (X.cat_a == "C") * 1.2 + 0.5 * np.abs(X.num4)
    if task == "regression":
        return X, (signal + rng.normal(scale=0.5, size=n)).to_numpy()
    if task == "multiclass":
        noisy = signal + rng.normal(scale=0.5, size=n)
        return X, np.digitize(noisy, np.quantile(noisy, [0.25, 0.5, 0.75])).astype(int)
    return X, (rng.random(n) < 1 / (1 + np.exp(-signal))).astype(int).to_numpy()


def one_fold(rows: int, task: str, order: tuple[str, ...]) -> dict[str, float]:
    """Seconds of each model's fit and prediction on fold 0 of 5 of a generated table of `rows` training rows."""
    X, y = table(rows, task)
    X_train, y_train, X_test = X.iloc[:rows], y[:rows], X.iloc[rows:]
    splitter = KFold if task == "regression" else StratifiedKFold
    tr, va = next(splitter(5, shuffle=True, random_state=0).split(X_train, y_train))
    X_tr, X_va = X_train.iloc[tr].reset_index(drop=True), X_train.iloc[va].reset_index(drop=True)
    models = model_set(task, TabularRecipe(models=order))
    seconds = {}
    for name in order:
        context = FitContext(workdir=None, eval_set=(X_va, y_train[va]), model=name, progress=False)
        t0 = time.perf_counter()
        est, _ = fit_fold(models[name], X_tr, y_train[tr], seed=0, n_jobs=1, context=context)
        for part in (X_va, X_test):
            predict_outputs(est, part, task != "regression", {"binary": 2, "multiclass": 4}.get(task))
        seconds[name] = time.perf_counter() - t0
    return seconds


def summary(times: list[dict[str, float]], model: str) -> dict[str, Any]:
    """Median seconds a model over the repeats; model / lightgbm and model / the default four, each the median of one
    repeat's ratios (its models ran side by side, under the same load); seconds of 5 folds."""
    med = {m: statistics.median(t[m] for t in times) for m in times[0]}
    four = [sum(t[m] for m in TabularRecipe.models) for t in times]
    added = [t[model] / f for t, f in zip(times, four, strict=True)]
    return {
        "seconds_per_fold": {m: round(s, 3) for m, s in med.items()},
        f"{model}_over_lightgbm": round(statistics.median(t[model] / t["lightgbm"] for t in times), 2),
        f"{model}_over_default_four": round(statistics.median(added), 3),
        f"{model}_seconds_in_5_folds": round(5 * med[model], 1),
        "default_four_seconds_in_5_folds": round(5 * statistics.median(four), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000,2000,5000,10000,20000", help="training rows, comma-separated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="svm", help="the model measured against the default four")
    ap.add_argument("--tasks", default="regression,binary", help="of regression, binary, multiclass")
    args = ap.parse_args()
    sizes, tasks, model = [int(r) for r in args.rows.split(",")], args.tasks.split(","), args.model
    models = (*TabularRecipe.models, model)
    times: dict[tuple[str, int], list[dict[str, float]]] = {(t, n): [] for t in tasks for n in sizes}
    for r in range(args.repeats):
        order = models[r % len(models) :] + models[: r % len(models)]
        cells = [(t, n) for n in sizes for t in tasks]
        for task, n in cells if r % 2 == 0 else cells[::-1]:
            seconds = one_fold(n, task, order)
            times[(task, n)].append(seconds)
            shown = ", ".join(f"{m} {s:.2f}" for m, s in seconds.items())
            print(f"repeat {r} {task} {n} rows: {shown}", flush=True)
    results: dict[str, Any] = {"repeats": args.repeats, "test_rows": "as many as train"}
    results |= {"svm_max_rows": SVM_MAX_ROWS} if model == "svm" else {}
    for task in tasks:
        results[task] = {str(n): summary(times[(task, n)], model) for n in sizes}
        for n in sizes:
            s = results[task][str(n)]
            print(
                f"{task} {n} rows: {model} {s['seconds_per_fold'][model]:.2f} s a fold, lightgbm "
                f"{s['seconds_per_fold']['lightgbm']:.2f} s ({s[f'{model}_over_lightgbm']}x), {model} adds "
                f"{100 * s[f'{model}_over_default_four']:.0f}% to a default run "
                f"({s[f'{model}_seconds_in_5_folds']} s in 5 folds)"
            )
    given = (("rows", args.rows), ("repeats", args.repeats), ("model", model), ("tasks", args.tasks))
    command = "python benchmarks/tabular_svm_rows.py" + "".join(
        f" --{k} {v}" for k, v in given if v != ap.get_default(k)
    )
    print(save(f"tabular_{model}_rows", command, results))


if __name__ == "__main__":
    main()
