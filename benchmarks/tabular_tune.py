"""Does `tune` help a generated competition on labels it never saw? Default settings against the tuned best.

    python benchmarks/tabular_tune.py [--data-dir ../shared/data] [--splits 3] [--trials 15] [--only TEXT]

For each seeded split (benchmarks/tabular_holdout.py's: 20% of Kaggle's train.csv held out, a Kaggle-layout download
of the other 80% written to a temporary folder) and each download (Titanic: `new`; House Prices: `new --metric
rmsle`), as a user types it:

  1. `run` at default settings;
  2. `tune --trials N` (TPE sampler and median pruner, both the defaults, seed 0) on the same download;
  3. `run --params best_params.json`, the study's replay.

Both submissions are scored on the held-out labels with the run's metric. The tuned CV is the best of N trials on
the very rows it is scored on, so it reads optimistic; the held-out difference (tuned - default, paired on the same
rows, its standard error from 2000 seeded bootstrap resamples of them) is the honest figure. Run folders, studies
and submissions go to the temporary folder. Results: benchmarks/figures/tabular_tune.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tabular_holdout  # noqa: E402
from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_holdout import HOUSE, TITANIC, Download, Split, aggregate, make_split, score_submission  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

BOOTSTRAP = 2000
# (name, download, extra `new` flags)
VARIANTS: list[tuple[str, Download, list[str]]] = [
    ("Titanic: new", TITANIC, []),
    ("House Prices: new --metric rmsle", HOUSE, ["--metric", "rmsle"]),
]


def paired_se(
    metric: str,
    a: np.ndarray,
    b: np.ndarray,
    seed: int = 0,
    score: Callable[[str, np.ndarray], float] = aggregate,
) -> float:
    """Bootstrap standard error of score(b) - score(a) over the same held-out rows (the first axis of a and b: a
    row's share of the metric, or its truth and prediction side by side when the metric is no mean over rows)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(BOOTSTRAP, len(a)))
    diffs = [score(metric, b[i]) - score(metric, a[i]) for i in idx]
    return float(np.std(diffs, ddof=1))


def scored_run(spec: str, split: Split, d: Download, work: Path, params: str | None = None) -> dict[str, Any]:
    """`run` (default settings, or --params FILE) on the split: CV, final stage and held-out per-row shares."""
    run_dir = run(RunOptions(spec, data=str(split.folder), params=params, quiet=True, runs_root=str(work / "runs")))
    summary = read_record(run_dir, "summary")
    rows, _ = score_submission(run_dir, split, d, summary["metric"])
    return {"cv": float(summary["cv"]), "metric": summary["metric"], "rows": rows}


def one_split(name: str, d: Download, flags: list[str], split: Split, work: Path, trials: int) -> dict[str, Any]:
    comp = f"{d.slug.split('-')[0]}_tune_s{split.seed}"
    spec = str(work / "competitions" / comp)
    if cli(["new", comp, "--data", str(split.folder), *flags, "--into", str(work / "competitions")]) != 0:
        raise SystemExit(f"{name}: `new` failed")
    t0 = time.perf_counter()
    default = scored_run(spec, split, d, work)
    default_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    if cli(["tune", spec, "--data", str(split.folder), "--trials", str(trials), "--quiet"]) != 0:
        raise SystemExit(f"{name}: `tune` failed")
    tune_s = time.perf_counter() - t1
    study = work / "runs" / comp / f"tune-{comp}"
    info = read_record(study, "study") if (study / "study.json").exists() else {}
    tuned = scored_run(spec, split, d, work, params=str(study / "best_params.json"))
    metric = default["metric"]
    held_default, held_tuned = aggregate(metric, default["rows"]), aggregate(metric, tuned["rows"])
    return {
        "seed": split.seed,
        "metric": metric,
        "default_cv": default["cv"],
        "tuned_cv": tuned["cv"],
        "default_holdout": held_default,
        "tuned_holdout": held_tuned,
        "holdout_diff": held_tuned - held_default,
        "holdout_diff_se": paired_se(metric, default["rows"], tuned["rows"], split.seed),
        "holdout_rows": len(default["rows"]),
        "trials": trials,
        "trial_states": info.get("trials", {}),
        "best_params": (info.get("best") or {}).get("params", {}),
        "default_run_s": default_s,
        "tune_s": tune_s,
    }


def print_rows(name: str, runs: list[dict[str, Any]]) -> None:
    print(f"\n{name}")
    header = "split | default CV | tuned CV (best) | default held-out | tuned held-out | tuned - default ± se | tune s"
    print(f"| {header} |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['seed']} | {r['default_cv']:.5f} | {r['tuned_cv']:.5f} | {r['default_holdout']:.5f} | "
            f"{r['tuned_holdout']:.5f} | {r['holdout_diff']:+.5f} ± {r['holdout_diff_se']:.4f} | {r['tune_s']:.0f} |"
        )
    mean, se = tabular_holdout.split_mean([r["holdout_diff"] for r in runs], [r["holdout_diff_se"] for r in runs])
    print(f"mean tuned - default held-out: {mean:+.5f} ± {se:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    ap.add_argument("--trials", type=int, default=15)
    args = ap.parse_args()
    data_dir = Path(args.data_dir).resolve()
    variants = [v for v in VARIANTS if not args.only or args.only in v[0]]
    results: dict[str, dict[str, Any]] = {}
    with scratch_cwd() as work:
        for name, d, flags in variants:
            runs = []
            for seed in range(args.splits):
                split = make_split(data_dir / f"{d.slug}.zip", d, seed, work / f"split{seed}")
                runs.append(one_split(name, d, flags, split, work, args.trials))
                r = runs[-1]
                print(f"{name} split {seed}: held-out {r['default_holdout']:.5f} -> {r['tuned_holdout']:.5f}")
            mean, se = tabular_holdout.split_mean(
                [r["holdout_diff"] for r in runs], [r["holdout_diff_se"] for r in runs]
            )
            results[name] = {"runs": runs, "holdout_diff_mean": mean, "holdout_diff_mean_se": se}
    for name, res in results.items():
        print_rows(name, res["runs"])
    command = tabular_holdout.split_command("tabular_tune.py", args, f" --trials {args.trials}")
    figure = "tabular_tune" + ("_" + args.only.lower().split()[0].strip(":") if args.only else "")
    out = save(figure, command, {"variants": results, **peak_memory()})
    print(f"\n{out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
