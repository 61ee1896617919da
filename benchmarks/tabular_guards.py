"""Two guards of the generic recipe against one fold's odd rows, on labels the runs never saw: the linear model holds
each feature within the training rows' range (`linear_clip`), and the blend keeps equal weights when those score
better out of fold than fitted ones (`blend_weights="auto"`).

    python benchmarks/tabular_guards.py [--data-dir ../shared/data] [--splits 5] [--only TEXT]

For each seeded split of benchmarks/tabular_holdout.py (20% of Kaggle's train.csv held out as test.csv) and each
download (Titanic: `new`; House Prices: `new --metric rmsle`), `run` three times on the same folds:

  1. before: `--set linear_clip=false --set blend_weights=fitted` (the recipe without either guard);
  2. clip: `--set blend_weights=fitted` (the linear model's features held within range);
  3. default: both guards.

Each submission is scored on the held-out labels; differences to "before" are paired on the same rows (standard
error from 2000 seeded bootstrap resamples). Results: benchmarks/figures/tabular_guards.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tabular_holdout  # noqa: E402
from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_holdout import (  # noqa: E402
    HOUSE,
    TITANIC,
    Download,
    Split,
    aggregate,
    generate,
    run_scored,
    runs_per_download,
)
from tabular_tune import paired_se  # noqa: E402

VARIANTS = {
    "before": ["linear_clip=false", "blend_weights=fitted"],
    "clip": ["blend_weights=fitted"],
    "default": [],
}
DOWNLOADS: list[tuple[str, Download, list[str]]] = [
    ("Titanic", TITANIC, []),
    ("House Prices (rmsle)", HOUSE, ["--metric", "rmsle"]),
]


def one_split(name: str, d: Download, flags: list[str], split: Split, work: Path) -> dict[str, Any]:
    spec = generate(name, d, flags, split, work, "guards")
    out: dict[str, Any] = {"seed": split.seed}
    rows = {}
    for label, sets in VARIANTS.items():
        t0 = time.perf_counter()
        summary, rows[label] = run_scored(spec, split, d, work, sets)
        out["metric"] = summary["metric"]
        blend = summary.get("blend") or {}
        out[label] = {
            "cv": float(summary["cv"]),
            "holdout": aggregate(summary["metric"], rows[label]),
            "linear_cv": summary["models"]["linear"]["mean"],
            "equal_weights": bool(blend.get("equal_weights")),
            "stack": bool((summary.get("stack") or {}).get("used")),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    for label in ("clip", "default"):
        out[label]["vs_before"] = out[label]["holdout"] - out["before"]["holdout"]
        out[label]["vs_before_se"] = paired_se(out["metric"], rows["before"], rows[label], split.seed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    ap.set_defaults(splits=5)
    args = ap.parse_args()
    results: dict[str, Any] = {}

    def show(name: str, seed: int, r: dict[str, Any]) -> None:
        shown = ", ".join(f"{k} CV {r[k]['cv']:.5f} held-out {r[k]['holdout']:.5f}" for k in VARIANTS)
        print(f"{name} split {seed}: {shown}; equal weights: {r['default']['equal_weights']}", flush=True)

    with scratch_cwd() as work:
        per_download = runs_per_download(
            args, DOWNLOADS, work, lambda name, d, flags, split: one_split(name, d, flags, split, work), show
        )
        for name, runs in per_download.items():
            summary: dict[str, Any] = {"runs": runs}
            for label in ("clip", "default"):
                mean, se = tabular_holdout.split_mean(
                    [r[label]["vs_before"] for r in runs], [r[label]["vs_before_se"] for r in runs]
                )
                summary[label] = {"vs_before": mean, "se": se}
                print(f"{name}: {label} - before, held out: {mean:+.5f} ± {se:.5f}")
            for label in VARIANTS:
                summary[f"{label}_cv_mean"] = float(np.mean([r[label]["cv"] for r in runs]))
                summary[f"{label}_holdout_mean"] = float(np.mean([r[label]["holdout"] for r in runs]))
            results[name] = summary
    command = tabular_holdout.split_command("tabular_guards.py", args)
    print(save("tabular_guards", command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
