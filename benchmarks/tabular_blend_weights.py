"""How the blend weighs its models, on labels the runs never saw: fitted weights, ensemble selection alone, equal
weights, and the default's choice between fitted and equal, with the four default models and with a weak fifth.

    python benchmarks/tabular_blend_weights.py [--data-dir ../shared/data] [--splits 3] [--only TEXT]

For each seeded split of benchmarks/tabular_holdout.py (20% of Kaggle's train.csv held out as test.csv) and each
download (Titanic: `new`; House Prices: `new --metric rmsle`), `run` on the same folds with `--set
blend_weights=W` for W in auto (the default), fitted, greedy and equal, each with the four default models and with
the MLP added (a model weaker than the others on both downloads, benchmarks/README.md "Does the MLP earn a place?").
Each submission is scored on the held-out labels; differences to auto are paired on the same rows (standard error
from 2000 seeded bootstrap resamples). Results: benchmarks/figures/tabular_blend_weights.json.
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
from tabular_guards import DOWNLOADS  # noqa: E402
from tabular_holdout import Download, Split, aggregate, generate, run_scored, runs_per_download  # noqa: E402
from tabular_tune import paired_se  # noqa: E402

FOUR = "lightgbm,xgboost,catboost,linear"
MODEL_SETS = {"four": FOUR, "four + mlp": FOUR + ",mlp"}
WEIGHTS = ("auto", "fitted", "greedy", "equal")


def one_split(name: str, d: Download, flags: list[str], split: Split, work: Path) -> dict[str, Any]:
    spec = generate(name, d, flags, split, work, "weights")
    out: dict[str, Any] = {"seed": split.seed}
    for models_label, models in MODEL_SETS.items():
        rows, res = {}, {}
        for w in WEIGHTS:
            t0 = time.perf_counter()
            summary, rows[w] = run_scored(spec, split, d, work, [f"models={models}", f"blend_weights={w}"])
            out["metric"] = summary["metric"]
            blend = summary.get("blend") or {}
            res[w] = {
                "cv": float(summary["cv"]),
                "blend_cv": float(blend.get("score", summary["cv"])),
                "holdout": aggregate(summary["metric"], rows[w]),
                "weights": blend.get("weights"),
                "equal_weights": bool(blend.get("equal_weights")),
                "stack": bool((summary.get("stack") or {}).get("used")),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        for w in WEIGHTS[1:]:
            res[w]["vs_auto"] = res[w]["holdout"] - res["auto"]["holdout"]
            res[w]["vs_auto_se"] = paired_se(out["metric"], rows["auto"], rows[w], split.seed)
        out[models_label] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    args = ap.parse_args()
    results: dict[str, Any] = {}

    def show(name: str, seed: int, r: dict[str, Any]) -> None:
        for m in MODEL_SETS:
            shown = ", ".join(f"{w} CV {r[m][w]['cv']:.5f} held-out {r[m][w]['holdout']:.5f}" for w in WEIGHTS)
            print(f"{name} split {seed}, {m}: {shown}", flush=True)

    with scratch_cwd() as work:
        per_download = runs_per_download(
            args, DOWNLOADS, work, lambda name, d, flags, split: one_split(name, d, flags, split, work), show
        )
        for name, runs in per_download.items():
            summary: dict[str, Any] = {"runs": runs}
            for m in MODEL_SETS:
                for w in WEIGHTS:
                    entry = {
                        "cv_mean": float(np.mean([r[m][w]["cv"] for r in runs])),
                        "holdout_mean": float(np.mean([r[m][w]["holdout"] for r in runs])),
                    }
                    if w != "auto":
                        mean, se = tabular_holdout.split_mean(
                            [r[m][w]["vs_auto"] for r in runs], [r[m][w]["vs_auto_se"] for r in runs]
                        )
                        entry |= {"vs_auto": mean, "se": se}
                        print(f"{name}, {m}: {w} - auto, held out: {mean:+.5f} ± {se:.5f}")
                    summary[f"{m}: {w}"] = entry
            results[name] = summary
    command = tabular_holdout.split_command("tabular_blend_weights.py", args)
    print(save("tabular_blend_weights", command, {"downloads": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
