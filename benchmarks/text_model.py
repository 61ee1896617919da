"""The free-text model's choices, side by side: which character n-grams, and how its L2 strength is chosen.

    python benchmarks/text_model.py [--folds 5]

On benchmarks/tabular_text.py's tables (tweets, the text alone: Android or iPhone; tate: the year a work was made,
from its artist, title and medium; movies: drama or not, from title, year, length, ...), 5 seeded folds (stratified
for classes). Per fold, interleaved: the recipe's plain linear model (30 frequent words per text column), and
pipeline.tabular.text.TextLinear as the recipe makes it (word 1-2-grams plus character 2-5-grams within words; alpha
chosen on 3 inner folds, logistic regression's path at its default tolerance 1e-4) and changed in one thing each:
character 1-5-grams across words; words alone; alpha chosen on one of the 3 inner folds at tolerance 1e-3 (cheaper);
alpha fixed at 1 (no choice). Reported: the out-of-fold ROC AUC (tweets, movies) or RMSE (tate), the
alphas chosen, and the fit-and-predict seconds of each relative to the default's, summed over the folds. The
n-gram variants run on tweets and tate, the choice of alpha on all three. Results: figures/text_model.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tabular_text  # noqa: E402
from benchutil import ROOT, peak_memory, save  # noqa: E402

from pipeline.tabular.models import linear  # noqa: E402
from pipeline.tabular.text import CHARS, TextLinear  # noqa: E402

TABLES = {
    "tweets (text alone, roc_auc)": (lambda: tabular_text.tweets(("text",)), "binary", True),
    "tate (year, rmse)": (tabular_text.tate, "regression", True),
    "movies (drama, roc_auc)": (tabular_text.movies, "binary", False),
}
DEFAULT = "text (the recipe's)"


def variants(task: str, ngrams: bool) -> dict[str, Any]:
    """The models compared, unfitted: the recipe's TextLinear, then each variant (the plain linear model and the
    n-gram variants only where `ngrams`)."""
    out: dict[str, Any] = {DEFAULT: lambda: TextLinear(task)}
    if ngrams:
        out["linear (30 words a column)"] = lambda: linear(task)
        out |= {f"chars={c}": lambda c=c: TextLinear(task, chars=c) for c in CHARS if c != "within_words"}
    out["alpha on 1 of 3 inner folds, tol 1e-3"] = lambda: TextLinear(task, inner_rounds=1, inner_tol=1e-3)
    out["alpha fixed at 1"] = lambda: TextLinear(task, alpha=1.0)
    return out


def one_table(name: str, folds: int) -> dict[str, Any]:
    """Each variant's out-of-fold score and seconds on one table, the variants interleaved fold by fold."""
    make, task, ngrams = TABLES[name]
    X, y = make()
    splitter = KFold if task == "regression" else StratifiedKFold
    models = variants(task, ngrams)
    oof = {m: np.zeros(len(y)) for m in models}
    seconds = dict.fromkeys(models, 0.0)
    alphas: dict[str, list[float]] = {m: [] for m in models}
    for tr, va in splitter(folds, shuffle=True, random_state=0).split(X, y):
        for m, factory in models.items():
            t0 = time.perf_counter()
            fitted = factory().fit(X.iloc[tr], y[tr])
            got = fitted.predict(X.iloc[va]) if task == "regression" else fitted.predict_proba(X.iloc[va])[:, 1]
            seconds[m] += time.perf_counter() - t0
            oof[m][va] = got
            alphas[m].append(getattr(fitted, "alpha_", float("nan")))
    metric = "rmse" if task == "regression" else "roc_auc"
    score = {
        m: float(np.sqrt(mean_squared_error(y, p)) if task == "regression" else roc_auc_score(y, p))
        for m, p in oof.items()
    }
    base = seconds[DEFAULT]
    return {
        "metric": metric,
        "rows": len(y),
        "score": score,
        "alphas": alphas,
        "seconds": {m: round(s, 1) for m, s in seconds.items()},
        "time_vs_default": {m: round(s / base, 2) for m, s in seconds.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    results = {}
    for name in TABLES:
        r = results[name] = one_table(name, args.folds)
        for m in r["score"]:
            print(
                f"{name}: {m:40s} {r['metric']} {r['score'][m]:.4f}  time x{r['time_vs_default'][m]:.2f}  "
                f"alphas {r['alphas'][m]}",
                flush=True,
            )
    command = f"python benchmarks/text_model.py --folds {args.folds}"
    print(save("text_model", command, {"tables": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
