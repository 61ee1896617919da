"""Does `new --original` pay on labels the run never saw? The same competition with the original's rows left out
(`--set original=off`), added (the default), and added with a from_original column (`--set original=flag`).

    python benchmarks/tabular_original.py [--data-dir ../shared/data] [--splits 3] [--only TEXT]

No Playground competition and its source dataset are here, so each is stood in for by a real download. For each
seeded split of benchmarks/tabular_holdout.py (20% of Kaggle's train.csv held out as test.csv, scored on its labels),
the other 80% is halved at random (seeded): one half is the competition's train.csv, the other the "original" CSV
(without the Kaggle id, target and columns as downloaded), given to `new --original`. Two scenarios:

  - same: the competition's rows are real rows, like the original's, so the original is simply more data;
  - generated: as Kaggle's generators leave their mark, in the competition's train and test rows (not the
    original's) 15% of each feature column's values are swapped at random between rows; the target is kept. The
    original is then cleaner than the rows scored, and the flag lets the models tell them apart.

Each `run` is scored on the held-out labels with the run's metric (accuracy; RMSLE for House Prices `new --metric
rmsle`). The runs of a split share their folds on the competition's rows, so CVs compare directly; held-out
differences to `off` are paired on the same rows, their standard error from 2000 seeded bootstrap resamples.
Results: benchmarks/figures/tabular_original.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import tabular_holdout  # noqa: E402
from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from tabular_holdout import HOUSE, TITANIC, Download, Split, aggregate, make_split, score_submission  # noqa: E402
from tabular_tune import paired_se  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

MODES = ("off", "add", "flag")
SCENARIOS = ("same", "generated")
SWAP = 0.15
# (name, download, extra `new` flags)
DOWNLOADS: list[tuple[str, Download, list[str]]] = [
    ("Titanic", TITANIC, []),
    ("House Prices (rmsle)", HOUSE, ["--metric", "rmsle"]),
]


def swap_values(frame: pd.DataFrame, columns: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """SWAP of each column's values exchanged between random rows (a generator's noise; marginals unchanged)."""
    out = frame.copy()
    for c in columns:
        rows = np.flatnonzero(rng.random(len(out)) < SWAP)
        out.iloc[rows, out.columns.get_loc(c)] = out[c].to_numpy()[rng.permutation(rows)]
    return out


def stand_in(split: Split, d: Download, scenario: str) -> Path:
    """Halve the split's train.csv into the competition's train.csv and original.csv (beside the folder); in the
    generated scenario, swap values in the competition's train and test rows."""
    rng = np.random.default_rng(1000 + split.seed)
    train = pd.read_csv(split.folder / "train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(split.folder / "test.csv", dtype=str, keep_default_na=False)
    rows = rng.permutation(len(train))
    own, original = train.iloc[np.sort(rows[: len(rows) // 2])], train.iloc[np.sort(rows[len(rows) // 2 :])]
    if scenario == "generated":
        features = [c for c in test.columns if c != d.id_col]
        own, test = swap_values(own, features, rng), swap_values(test, features, rng)
    own.to_csv(split.folder / "train.csv", index=False)
    test.to_csv(split.folder / "test.csv", index=False)
    path = split.folder.parent / "original.csv"
    original.drop(columns=[d.id_col]).to_csv(path, index=False)
    return path


def one_split(name: str, d: Download, flags: list[str], scenario: str, split: Split, work: Path) -> dict[str, Any]:
    """`new --original` once, then `run` with each mode; CVs, held-out scores and paired differences to off."""
    original = stand_in(split, d, scenario)
    comp = f"{d.slug.split('-')[0]}_{scenario}_s{split.seed}"
    spec = str(work / "competitions" / comp)
    argv = ["new", comp, "--data", str(split.folder), *flags, "--into", str(work / "competitions")]
    if cli([*argv, "--original", str(original), "--original-slug", comp.replace("_", "-")]) != 0:
        raise SystemExit(f"{name} {scenario}: `new` failed")
    out: dict[str, Any] = {"seed": split.seed, "rows": {}}
    for mode in MODES:
        t0 = time.perf_counter()
        opts = RunOptions(
            spec, data=str(split.folder), sets=[f"original={mode}"], quiet=True, runs_root=str(work / "runs")
        )
        run_dir = run(opts)
        summary = read_record(run_dir, "summary")
        rows, _ = score_submission(run_dir, split, d, summary["metric"])
        out["metric"] = summary["metric"]
        out["rows"][mode] = rows
        out[mode] = {
            "cv": float(summary["cv"]),
            "holdout": aggregate(summary["metric"], rows),
            "train_rows": int(summary.get("cv_rows", 0)),
            "wall_s": time.perf_counter() - t0,
        }
    for mode in MODES[1:]:
        a, b = out["rows"]["off"], out["rows"][mode]
        out[mode]["holdout_vs_off"] = aggregate(out["metric"], b) - aggregate(out["metric"], a)
        out[mode]["holdout_vs_off_se"] = paired_se(out["metric"], a, b, split.seed)
    out.pop("rows")
    return out


def print_rows(title: str, runs: list[dict[str, Any]]) -> None:
    print(f"\n{title} ({runs[0]['metric']})")
    print("| split | CV off / add / flag | held-out off / add / flag | add - off ± se | flag - off ± se |")
    print("|---|---|---|---|---|")
    for r in runs:
        cv = " / ".join(f"{r[m]['cv']:.5f}" for m in MODES)
        held = " / ".join(f"{r[m]['holdout']:.5f}" for m in MODES)
        gains = [f"{r[m]['holdout_vs_off']:+.5f} ± {r[m]['holdout_vs_off_se']:.4f}" for m in MODES[1:]]
        print(f"| {r['seed']} | {cv} | {held} | {' | '.join(gains)} |")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over splits; a difference's standard error from the splits' own (taken as independent)."""
    out: dict[str, Any] = {"runs": runs}
    for m in MODES:
        out[f"{m}_cv_mean"] = float(np.mean([r[m]["cv"] for r in runs]))
        out[f"{m}_holdout_mean"] = float(np.mean([r[m]["holdout"] for r in runs]))
    for m in MODES[1:]:
        out[f"{m}_vs_off_mean"], out[f"{m}_vs_off_mean_se"] = tabular_holdout.split_mean(
            [r[m]["holdout_vs_off"] for r in runs], [r[m]["holdout_vs_off_se"] for r in runs]
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    args = ap.parse_args()
    data_dir = Path(args.data_dir).resolve()
    downloads = [v for v in DOWNLOADS if not args.only or args.only in v[0]]
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for name, d, flags in downloads:
            for scenario in SCENARIOS:
                runs = []
                for seed in range(args.splits):
                    split = make_split(data_dir / f"{d.slug}.zip", d, seed, work / f"{scenario}{seed}")
                    runs.append(one_split(name, d, flags, scenario, split, work))
                    r = runs[-1]
                    print(
                        f"{name} {scenario} split {seed}: held-out "
                        + ", ".join(f"{m} {r[m]['holdout']:.5f}" for m in MODES)
                    )
                results[f"{name}: {scenario}"] = summarise(runs)
    for title, res in results.items():
        print_rows(title, res["runs"])
        gains = ", ".join(
            f"{m} - off {res[f'{m}_vs_off_mean']:+.5f} ± {res[f'{m}_vs_off_mean_se']:.4f}" for m in MODES[1:]
        )
        print(f"mean held-out: {gains}")
    command = tabular_holdout.split_command("tabular_original.py", args)
    figure = "tabular_original" + ("_" + args.only.lower().split()[0] if args.only else "")
    out = save(figure, command, {"swap": SWAP, "variants": results, **peak_memory()})
    print(f"\n{out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
