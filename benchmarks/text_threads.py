"""How many BLAS threads should the free-text model's fits take? Seconds of the same fits, side by side.

    python benchmarks/text_threads.py [--rows 1000] [--repeats 3] [--busy 0]

pipeline.tabular.text.TextLinear fits a logistic regression (L-BFGS) or a ridge regression (LSQR) on TF-IDF n-grams:
each step works on vectors as long as the n-grams, too short for threads to share. Before, its fits ran on BLAS's
own threads (one a core); now on n_jobs, which the runner sets to 1 below 2M training cells. Fixed work: generated
reviews (`--rows`, 10 to 30 words from a Zipf-like vocabulary of 3,000, the label in 400 rarer words, as
tests/test_tabular_text.py makes them), a 0/1 label and a value from it; per task, 3 folds, each fitted (alpha chosen
on inner folds, as a run chooses it) and predicted with n_jobs=0 (BLAS's own threads, the code before) and n_jobs=1,
interleaved fold by fold, `--repeats` times. `--busy K` keeps K processes spinning meanwhile, another run's or
another user's on the same cores. Reported: seconds summed per setting, their ratio, the largest difference between
the two settings' predictions, and the load average before and after. Results: figures/text_threads[_busyK].json.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchutil import ROOT, peak_memory, save  # noqa: E402

from pipeline.tabular.text import TextLinear  # noqa: E402

SETTINGS = {"BLAS's own threads (n_jobs=0, before)": 0, "one thread (n_jobs=1, now)": 1}


def reviews(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """n documents of 10 to 30 made-up words and a 0/1 label that lifts 400 of the rarer words."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocabulary: set[str] = set()
    while len(vocabulary) < 3000:
        vocabulary.add("".join(rng.choice(letters, rng.integers(3, 9))))
    words = np.array(sorted(vocabulary))
    base = 1.0 / np.arange(1, len(words) + 1)
    lifted = base.copy()
    lifted[rng.choice(np.arange(200, len(words)), 400, replace=False)] *= np.exp(2.0)
    y = rng.integers(0, 2, n)
    p = {0: base / base.sum(), 1: lifted / lifted.sum()}
    docs = [" ".join(rng.choice(words, rng.integers(10, 31), p=p[label])) for label in y]
    return pd.DataFrame({"review": docs, "stars": rng.integers(1, 6, n)}), y


def spin() -> None:
    """Hold a core: the work of another process on the same machine."""
    while True:
        pass


def one_task(task: str, X: pd.DataFrame, y: np.ndarray, repeats: int) -> dict[str, Any]:
    """Seconds of each setting's fits and predictions on 3 folds, interleaved, and how far their predictions differ."""
    seconds = dict.fromkeys(SETTINGS, 0.0)
    gap = 0.0
    for _ in range(repeats):
        for tr, va in KFold(3, shuffle=True, random_state=0).split(X):
            got = {}
            for name, jobs in SETTINGS.items():
                t0 = time.perf_counter()
                model = TextLinear(task, n_jobs=jobs).fit(X.iloc[tr], y[tr])
                got[name] = model.predict(X.iloc[va]) if task == "regression" else model.predict_proba(X.iloc[va])
                seconds[name] += time.perf_counter() - t0
            first, second = got.values()
            gap = max(gap, float(np.max(np.abs(np.asarray(first, float) - np.asarray(second, float)))))
    before, now = seconds.values()
    return {
        "seconds": {m: round(s, 2) for m, s in seconds.items()},
        "before_over_now": round(before / now, 2),
        "largest_prediction_difference": gap,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", type=int, default=0)
    args = ap.parse_args()
    X, labels = reviews(args.rows)
    values = np.exp(3 + labels + np.random.default_rng(1).normal(0, 0.3, len(labels)))
    spinners = [mp.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    load_before = round(os.getloadavg()[0], 2)
    try:
        results = {task: one_task(task, X, y, args.repeats) for task, y in (("binary", labels), ("regression", values))}
    finally:
        for p in spinners:
            p.terminate()
    for task, r in results.items():
        print(f"{task}: {r['seconds']}  before/now x{r['before_over_now']:.2f}", flush=True)
    command = f"python benchmarks/text_threads.py --rows {args.rows} --repeats {args.repeats} --busy {args.busy}"
    name = "text_threads" + (f"_busy{args.busy}" if args.busy else "")
    record = {"rows": args.rows, "busy": args.busy, "load_average_at_start": load_before, "tasks": results}
    print(save(name, command, {**record, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
