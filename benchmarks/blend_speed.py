"""Blending on Playground-sized data: weights fitted on a 50,000-row sample of the OOF rows against all of them.

    python benchmarks/blend_speed.py [--rows 200000] [--models 4] [--repeats 2]

The runner's blend (pipeline.finish.blend_results: weights fitted on all OOF rows for the submission, and once per
fold on the other folds' rows for the out-of-fold score) searches hundreds of candidate weightings, scoring each
over every row it fits on; on a 200,000-row Playground-style run it took about half a minute after the last fold.
`pipeline.blend.FIT_ROWS` caps the rows the weights are fitted on (a seeded sample); scores are still computed on
every row. The search also runs SLSQP with a 1e-3 gradient step (blend.SLSQP_STEPS): with scipy's default step
a rank metric does not move and SLSQP stays at equal weights (on all 200,000 rows it had just escaped them).
"Before" is the blend as it was: all rows, the default step only (roc_auc computed from ranks in both). Level-1
predictions are generated (seeded, binary, 4 models of different strength, 5 folds); both variants run the runner's
own blend_results on them, interleaved, `--repeats` times, for roc_auc and log_loss. The figures: the ratio of
median wall times and the out-of-fold blend scores. Results: benchmarks/figures/blend_speed.json.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402

from pipeline import blend, finish  # noqa: E402
from pipeline.blend import FIT_ROWS, fit_weights  # noqa: E402
from pipeline.contract import Metric  # noqa: E402
from pipeline.tabular import metrics  # noqa: E402


def generated(rows: int, models: int, seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per model OOF/test probabilities (rows x 2), labels and folds."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    shared = rng.normal(size=rows)  # what every model gets wrong alike
    results = {}
    for i in range(models):
        z = 0.6 * shared + rng.normal(size=rows) + (0.6 + 0.15 * i) * (2 * y - 1)
        p = 1 / (1 + np.exp(-z))
        oof = np.column_stack([1 - p, p])
        results[f"m{i}"] = {"oof": oof, "test": oof[: rows // 4]}
    return results, y, np.arange(rows) % 5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    results, y, folds = generated(args.rows, args.models)
    variants = {
        f"weights on {FIT_ROWS} sampled rows (the runner's)": fit_weights,
        "weights on all rows (before)": functools.partial(fit_weights, limit=len(y)),
    }
    steps = {variant: blend.SLSQP_STEPS for variant in variants} | {"weights on all rows (before)": (None,)}
    shipped = finish.fit_weights, blend.SLSQP_STEPS
    table: dict[str, dict] = {}
    print(f"{'metric':8s} | {'weights fitted on':36s} | {'median s':>8s} | {'vs all':>6s} | OOF blend score")
    for name, greater in (("roc_auc", True), ("log_loss", False)):
        module = SimpleNamespace(score=metrics.METRICS[name].fn, METRIC=Metric(name, greater))
        seconds: dict[str, list[float]] = {v: [] for v in variants}
        scores: dict[str, float] = {}
        try:
            for _ in range(args.repeats):
                for variant, fit in variants.items():  # interleaved
                    finish.fit_weights, blend.SLSQP_STEPS = fit, steps[variant]
                    t0 = time.perf_counter()
                    b = finish.blend_results(module, y, folds, results)
                    seconds[variant].append(time.perf_counter() - t0)
                    scores[variant] = b["score"]
        finally:
            finish.fit_weights, blend.SLSQP_STEPS = shipped
        base = statistics.median(seconds["weights on all rows (before)"])
        table[name] = {}
        for variant in variants:
            med = statistics.median(seconds[variant])
            table[name][variant] = {"seconds": seconds[variant], "time_ratio": med / base, "oof_score": scores[variant]}
            print(f"{name:8s} | {variant:36s} | {med:8.2f} | {med / base:6.3f} | {scores[variant]:.6f}")
    command = "python benchmarks/blend_speed.py " + " ".join(sys.argv[1:])
    save("blend_speed", command.strip(), {"settings": vars(args), "fit_rows": FIT_ROWS, "metrics": table})


if __name__ == "__main__":
    main()
