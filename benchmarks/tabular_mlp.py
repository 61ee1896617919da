"""Does the MLP earn a place in the generic recipe? Its four models against the same four and the MLP, on labels the
runs never saw.

    python benchmarks/tabular_mlp.py [--data-dir ../shared/data] [--splits 3] [--only TEXT] [--mlp-valid-fraction F]

For each seeded split of benchmarks/tabular_holdout.py (20% of Kaggle's train.csv held out as test.csv) and each
download (Titanic: `new`; House Prices: `new --metric rmsle`), `run` twice on the same folds: `--set
models=lightgbm,xgboost,catboost,linear` and the same with mlp. Each submission is scored on the held-out labels;
the difference is paired on the same rows (standard error from 2000 seeded bootstrap resamples). Also reported: the
MLP's own CV and its blend weight. Results: benchmarks/figures/tabular_mlp.json; with `--mlp-valid-fraction 0` (the
MLP stops early on the fold's validation rows instead of 10% of its training rows),
benchmarks/figures/tabular_mlp_stop_on_fold.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

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

FOUR = "lightgbm,xgboost,catboost,linear"
VARIANTS = {"four models": FOUR, "four + mlp": FOUR + ",mlp"}
DOWNLOADS: list[tuple[str, Download, list[str]]] = [
    ("Titanic", TITANIC, []),
    ("House Prices (rmsle)", HOUSE, ["--metric", "rmsle"]),
]


def one_split(name: str, d: Download, flags: list[str], split: Split, work: Path, sets: list[str]) -> dict[str, Any]:
    spec = generate(name, d, flags, split, work, "mlp")
    out: dict[str, Any] = {"seed": split.seed}
    rows = {}
    for label, models in VARIANTS.items():
        t0 = time.perf_counter()
        summary, rows[label] = run_scored(spec, split, d, work, [f"models={models}", *sets])
        out["metric"] = summary["metric"]
        out[label] = {
            "cv": float(summary["cv"]),
            "holdout": aggregate(summary["metric"], rows[label]),
            "models": {m: r["mean"] for m, r in summary["models"].items()},
            "weights": (summary.get("blend") or {}).get("weights"),
            "wall_s": time.perf_counter() - t0,
        }
    a, b = rows["four models"], rows["four + mlp"]
    out["holdout_diff"] = aggregate(out["metric"], b) - aggregate(out["metric"], a)
    out["holdout_diff_se"] = paired_se(out["metric"], a, b, split.seed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    ap.add_argument("--mlp-valid-fraction", type=float, help="Config.mlp_valid_fraction (0: stop on the fold's rows)")
    args = ap.parse_args()
    extra = [] if args.mlp_valid_fraction is None else [f"mlp_valid_fraction={args.mlp_valid_fraction:g}"]
    results: dict[str, Any] = {}

    def show(name: str, seed: int, r: dict[str, Any]) -> None:
        print(
            f"{name} split {seed}: CV {r['four models']['cv']:.5f} -> {r['four + mlp']['cv']:.5f}, "
            f"held-out {r['four models']['holdout']:.5f} -> {r['four + mlp']['holdout']:.5f} "
            f"({r['holdout_diff']:+.5f} ± {r['holdout_diff_se']:.4f}); mlp alone "
            f"{r['four + mlp']['models']['mlp']:.5f}"
        )

    with scratch_cwd() as work:
        per_download = runs_per_download(
            args, DOWNLOADS, work, lambda name, d, flags, split: one_split(name, d, flags, split, work, extra), show
        )
        for name, runs in per_download.items():
            mean, se = tabular_holdout.split_mean(
                [r["holdout_diff"] for r in runs], [r["holdout_diff_se"] for r in runs]
            )
            results[name] = {"runs": runs, "holdout_diff_mean": mean, "holdout_diff_mean_se": se}
            print(f"{name}: mean held-out difference {mean:+.5f} ± {se:.4f}")
    command = tabular_holdout.split_command("tabular_mlp.py", args)
    figure = "tabular_mlp" + ("_" + args.only.lower().split()[0] if args.only else "")
    if extra:
        command += f" --mlp-valid-fraction {args.mlp_valid_fraction:g}"
        figure += "_stop_on_fold" if args.mlp_valid_fraction == 0 else f"_valid_{args.mlp_valid_fraction:g}"
    print(save(figure, command, {"variants": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
