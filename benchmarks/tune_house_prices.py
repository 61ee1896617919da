"""Tuning House Prices: the same trial budget with and without pruning, and a trial's overhead over a bare `run`.

    python benchmarks/tune_house_prices.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]

Studies with pruners none, median, median from the 3rd fold on (`median:3`: after the first model's full CV) and
hyperband use the same seeded TPE sampler, models, folds and trial budget, one worker, in one process. They run
interleaved: round r adds trial r to every study (`tune --trials r`, the study resumed), in alternating order
(forward in odd rounds, backward in even ones), so a change of machine load hits every pruner alike; a study's
wall time is the sum of its rounds. Folds fitted counts the fold fits each study actually did. Overhead per trial
is the study's wall time minus the time spent inside the runner's `run()`, divided by the trials: study creation,
sampler, storage writes, result files and plots. A bare `run` of trial 0's config (the same in every study: same sampler
seed) is timed three times against it inside the studies.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def load_avg() -> str:
    """The 1-minute load average (other processes compete for the cores)."""
    return f"{os.getloadavg()[0]:.2f}"


def study_stats(name: str, storage: str) -> dict:
    """Best CV, states and time spent inside run() of a finished study."""
    import optuna

    from pipeline.tuning.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    states = {s: sum(t.state.name.lower() == s for t in trials) for s in ("complete", "pruned", "fail")}
    fitted = sum(max(t.intermediate_values, default=-1) + 1 for t in trials)  # fold fits done (step = fold slot)
    total = len(trials) * max(max(t.intermediate_values, default=0) + 1 for t in trials)
    return {
        "folds_fitted": fitted / total,
        "fold_fits": fitted,
        "best_cv": study.best_value,
        "best_trial": study.best_trial.number,
        **states,
        "run_seconds": sum(t.user_attrs.get("seconds", 0.0) for t in trials),
        "trial0_seconds": trials[0].user_attrs["seconds"],
        "trial0_params": trials[0].user_attrs["params_file"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_zip = ROOT.parent / "shared" / "data" / "house-prices-advanced-regression-techniques.zip"
    ap.add_argument("--data", default=str(default_zip), help="the competition zip as Kaggle ships it")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--models", default="lasso,ridge,lightgbm")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--pruners", default="none,median,median:3,hyperband")
    ap.add_argument("--keep", action="store_true", help="keep the studies' run folders (default: delete them)")
    args = ap.parse_args()
    data = str(Path(args.data).resolve())
    work = Path(tempfile.mkdtemp(prefix="tune-bench-", dir=RESULTS if RESULTS.is_dir() else None))
    os.chdir(work)  # runs/ and data/ of the benchmark live here

    # one-off costs (zip extraction, imports) before any timing, so the first study does not pay them
    import optuna.visualization.matplotlib  # noqa: F401

    from pipeline.cli import main as cli
    from pipeline.contract import load_competition
    from pipeline.datadir import resolve_data
    from pipeline.runner import RunOptions, run

    resolve_data(load_competition("competitions/house_prices"), data, False)
    storage = f"sqlite:///{work / 'bench.db'}"
    common = [
        "competitions/house_prices",
        "--data",
        data,
        "--preset",
        "fast",
        "--models",
        args.models,
        "--folds",
        str(args.folds),
        "--jobs",
        "1",
        "--seed",
        "0",
        "--startup-trials",
        "4",
        "--storage",
        storage,
        "--quiet",
    ]
    entries = args.pruners.split(",")  # PRUNER or PRUNER:WARMUP_FOLDS
    walls = {e: 0.0 for e in entries}
    loads: list[float] = []
    for r in range(1, args.trials + 1):
        for entry in entries if r % 2 else entries[::-1]:
            pruner, _, warmup = entry.partition(":")
            name = f"bench-{pruner}-{warmup or 0}"
            options = ["--study", name, "--pruner", pruner, "--warmup-folds", warmup or "0", "--trials", str(r)]
            t0 = time.perf_counter()
            assert cli(["tune", *common, *options]) == 0
            walls[entry] += time.perf_counter() - t0
            loads.append(os.getloadavg()[0])
    rows = {}
    for entry in entries:
        pruner, _, warmup = entry.partition(":")
        s = study_stats(f"bench-{pruner}-{warmup or 0}", storage)
        rows[entry] = {
            "wall_s": walls[entry],
            **s,
            "overhead_per_trial_s": (walls[entry] - s["run_seconds"]) / args.trials,
        }
    first = next(iter(rows.values()))
    bare = []
    for _ in range(3):  # the load of other processes makes single timings noisy: median of three
        t0 = time.perf_counter()
        run(
            RunOptions(
                competition="competitions/house_prices",
                data=data,
                params=first["trial0_params"],
                seed=0,
                folds=args.folds,
                models=args.models.split(","),
                jobs=1,
                quiet=True,
            )
        )
        bare.append(time.perf_counter() - t0)
    inside = [r["trial0_seconds"] for r in rows.values()]

    lines = [
        f"House Prices tuning ({args.models}, preset fast, {args.folds} folds, {args.trials} trials, "
        f"TPE seed 0, 1 worker, --jobs 1; cores {os.cpu_count()}, shared with other processes)",
        f"{'pruner':<10} {'wall s':>8} {'best CV':>9} {'best #':>6} {'complete':>8} {'pruned':>6} "
        f"{'folds fit':>9} {'fold fits':>9} {'in run() s':>10} {'overhead/trial s':>16}",
    ]
    for p, r in rows.items():
        lines.append(
            f"{p:<10} {r['wall_s']:>8.1f} {r['best_cv']:>9.5f} {r['best_trial']:>6} {r['complete']:>8} "
            f"{r['pruned']:>6} {r['folds_fitted']:>9.0%} {r['fold_fits']:>9} {r['run_seconds']:>10.1f} "
            f"{r['overhead_per_trial_s']:>16.2f}"
        )
    runs = ", ".join(f"{b:.2f}" for b in bare)
    lines.append(
        f"trial 0 config: bare run() median {statistics.median(bare):.2f}s ({runs}) vs inside the studies "
        f"{', '.join(f'{b:.2f}' for b in inside)}s (load now {load_avg()})"
    )
    for p in (p for p in rows if p != "none" and "none" in rows):
        saved = 1 - rows[p]["wall_s"] / rows["none"]["wall_s"]
        lines.append(
            f"{p}: {saved:.0%} less wall time, best CV {rows[p]['best_cv']:.5f} vs "
            f"{rows['none']['best_cv']:.5f} without pruning"
        )
    text = "\n".join(lines)
    print(text)
    lines.append(f"load average during the rounds: min {min(loads):.2f}, max {max(loads):.2f}")
    print(lines[-1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tune_house_prices.txt").write_text("\n".join(lines) + "\n")
    from benchutil import peak_memory, save

    save(
        "tune_house_prices",
        f"python benchmarks/tune_house_prices.py --trials {args.trials} --models {args.models} --folds {args.folds}",
        {
            "interleaved": "round r adds trial r to every study, order alternating each round",
            # the trial's params file, relative to the benchmark's work folder (removed unless --keep)
            "studies": {
                k: {**v, "trial0_params": str((work / v["trial0_params"]).resolve().relative_to(work.resolve()))}
                for k, v in rows.items()
            },
            "bare_run_s": bare,
            "trial0_in_study_s": inside,
            "load_average_min_max": [min(loads), max(loads)],
            "memory": peak_memory(),
        },
    )
    if not args.keep:
        os.chdir(ROOT)
        shutil.rmtree(work)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    main()
