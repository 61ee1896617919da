"""Multi-class stacking: the meta-model on standardised logits against the same logistic regression on raw logits.

    python benchmarks/stacking_speed.py [--rows 3000] [--models 6] [--classes 9] [--repeats 3]

Level-1 predictions are generated (seeded): each model's logits are noise plus a weak push towards the true class,
and one rare class (5 rows) is given probabilities far below the stack's clip (1e-6), as boosters give a class
they almost never saw. That is where the raw-logit meta-model crawled to lbfgs's iteration limit in real runs
(an Otto-like download with a rare class). Both variants run `pipeline.stacking.stack` on the same predictions and
folds (5, fixed), interleaved, `--repeats` times; the figure is the ratio of their median wall times and their
out-of-fold log losses. Results: benchmarks/figures/stacking_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import save  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from pipeline import stacking  # noqa: E402


def generated(rows: int, models: int, classes: int, seed: int = 0) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """Level-1 OOF and test probabilities, labels and folds; the last class is rare (5 rows) and all but absent."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes - 1, rows)
    y[:5] = classes - 1
    folds = np.arange(rows) % 5

    def model(strength: float) -> np.ndarray:
        logits = rng.normal(size=(rows, classes)) + strength * np.eye(classes)[y]
        logits[:, -1] -= 40  # far below the clip: every model treats the rare class as impossible
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    oofs = {f"m{i}": model(0.3 + 0.2 * i) for i in range(models)}
    tests = {m: p[: rows // 5] for m, p in oofs.items()}
    return oofs, tests, y, folds


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y.astype(int)], 1e-15, 1))))


def raw_logits(seed: int) -> Any:
    """The baseline: the meta-model as it was, logistic regression on the raw logits."""
    return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--classes", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    oofs, tests, y, folds = generated(args.rows, args.models, args.classes)
    variants = {"standardised logits (the stack's)": stacking.meta_classifier, "raw logits (before)": raw_logits}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    scores: dict[str, float] = {}
    shipped = stacking.meta_classifier
    try:
        for _ in range(args.repeats):
            for name, factory in variants.items():  # interleaved
                stacking.meta_classifier = factory
                t0 = time.perf_counter()
                st = stacking.stack(oofs, tests, y, folds, log_loss, classification=True)
                seconds[name].append(time.perf_counter() - t0)
                scores[name] = st["score"]
    finally:
        stacking.meta_classifier = shipped
    base = statistics.median(seconds["raw logits (before)"])
    print(f"{'meta-model':36s} | {'median s':>8s} | {'vs raw':>6s} | OOF log loss")
    rows = {}
    for name in variants:
        med = statistics.median(seconds[name])
        rows[name] = {"seconds": seconds[name], "median_s": med, "time_ratio": med / base, "oof_log_loss": scores[name]}
        print(f"{name:36s} | {med:8.2f} | {med / base:6.3f} | {scores[name]:.5f}")
    command = "python benchmarks/stacking_speed.py " + " ".join(sys.argv[1:])
    save("stacking_speed", command.strip(), {"settings": vars(args), "variants": rows})


if __name__ == "__main__":
    main()
