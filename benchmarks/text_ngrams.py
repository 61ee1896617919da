"""Which character n-grams should the free-text model read? Out-of-fold scores and fit times, side by side.

    python benchmarks/text_ngrams.py [--folds 5]

On two of benchmarks/tabular_text.py's tables (tweets, the text alone: Android or iPhone; tate: the year a work was
made, from its artist, title and medium), 5 seeded folds (stratified for the tweets). Per fold, interleaved: the
recipe's plain linear model (30 frequent words per text column), and pipeline.tabular.text.TextLinear with each
`chars` setting (word 1-2-grams plus character 2-5-grams within words, the default; plus character 1-5-grams across
words; words alone), its alpha chosen on inner folds as a run chooses it. Reported: the out-of-fold ROC AUC (tweets)
or RMSE (tate), and the fit-and-predict seconds of each relative to the default's, summed over the folds. Results:
figures/text_ngrams.json.
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
    "tweets (text alone, roc_auc)": (lambda: tabular_text.tweets(("text",)), "binary"),
    "tate (year, rmse)": (tabular_text.tate, "regression"),
}


def variants(task: str) -> dict[str, Any]:
    """The models compared, unfitted: the plain linear model and TextLinear with each `chars` setting."""
    return {"linear (30 words)": lambda: linear(task), **{c: lambda c=c: TextLinear(task, chars=c) for c in CHARS}}


def one_table(name: str, folds: int) -> dict[str, Any]:
    """Each variant's out-of-fold score and seconds on one table, the variants interleaved fold by fold."""
    make, task = TABLES[name]
    X, y = make()
    splitter = KFold if task == "regression" else StratifiedKFold
    models = variants(task)
    oof = {m: np.zeros(len(y)) for m in models}
    seconds = dict.fromkeys(models, 0.0)
    for tr, va in splitter(folds, shuffle=True, random_state=0).split(X, y):
        for m, factory in models.items():
            t0 = time.perf_counter()
            fitted = factory().fit(X.iloc[tr], y[tr])
            got = fitted.predict(X.iloc[va]) if task == "regression" else fitted.predict_proba(X.iloc[va])[:, 1]
            seconds[m] += time.perf_counter() - t0
            oof[m][va] = got
    metric = "rmse" if task == "regression" else "roc_auc"
    score = {
        m: float(np.sqrt(mean_squared_error(y, p)) if task == "regression" else roc_auc_score(y, p))
        for m, p in oof.items()
    }
    base = seconds["within_words"]
    return {
        "metric": metric,
        "rows": len(y),
        "score": score,
        "seconds": {m: round(s, 1) for m, s in seconds.items()},
        "time_vs_within_words": {m: round(s / base, 2) for m, s in seconds.items()},
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
                f"{name}: {m:18s} {r['metric']} {r['score'][m]:.4f}  time x{r['time_vs_within_words'][m]:.2f}",
                flush=True,
            )
    command = f"python benchmarks/text_ngrams.py --folds {args.folds}"
    print(save("text_ngrams", command, {"tables": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
