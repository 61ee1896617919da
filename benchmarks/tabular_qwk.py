"""Ordered grades scored by quadratic weighted kappa: fitted as numbers and cut out of fold, against rounding them and
against classifying them, on labels the runs never saw.

    python benchmarks/tabular_qwk.py [--data-dir ../shared/data] [--splits 3] [--only TEXT]

No QWK competition's download is here, so House Prices' two ordinal ratings stand in for one (as a Playground
wine-quality download would be): the target is OverallQual (10 grades) or OverallCond (9 grades, 56% of them 5),
the features are the other 78 columns of train.csv (SalePrice, absent from Kaggle's test.csv, is left out). For each
seeded split 20% of the rows are held out as test.csv (plain random: two grades have under 5 rows), with a sample
submission of one whole grade a row, and three variants run as a user runs them on the same split:

  1. `new --metric qwk`, then `run`: regression on the grades, values cut at points fitted out of fold (default);
  2. the same competition, `run --set threshold=false`: the values rounded to the nearest grade;
  3. `new --task multiclass --metric accuracy`, then `run`: a classifier's likeliest grade.

Each submission is scored by QWK on the held-out grades; differences are paired on the same rows (standard error
from 2000 seeded bootstrap resamples of the held-out rows). Results: benchmarks/figures/tabular_qwk.json.
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
from tabular_holdout import HOUSE, read_member, split_rows  # noqa: E402
from tabular_tune import paired_se  # noqa: E402

from pipeline.cli import main as cli  # noqa: E402
from pipeline.grades import quadratic_kappa  # noqa: E402
from pipeline.runfolder import read_record  # noqa: E402
from pipeline.runner import RunOptions, run  # noqa: E402

TARGETS = ("OverallQual", "OverallCond")
# variant: (flags of `new`, --set of `run`)
VARIANTS: dict[str, tuple[list[str], list[str]]] = {
    "qwk, cut out of fold": (["--metric", "qwk"], []),
    "qwk, rounded": (["--metric", "qwk"], ["threshold=false"]),
    "classifier (accuracy)": (["--task", "multiclass", "--metric", "accuracy"], []),
}


def make_split(zip_path: Path, target: str, seed: int, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """folder/ with train.csv, test.csv (no target) and sample_submission.csv; the held-out ids and grades."""
    full = read_member(zip_path, "train.csv").drop(columns="SalePrice")
    train_rows, held_rows = split_rows(full[target], seed, stratify=False)
    train, held = full.iloc[train_rows], full.iloc[held_rows]
    folder.mkdir(parents=True)
    train.to_csv(folder / "train.csv", index=False)
    held.drop(columns=target).to_csv(folder / "test.csv", index=False)
    sample = pd.DataFrame({"Id": held["Id"], target: int(pd.to_numeric(train[target]).median())})
    sample.to_csv(folder / "sample_submission.csv", index=False)
    return held["Id"].to_numpy(), pd.to_numeric(held[target]).to_numpy(float)


def kappa_rows(_metric: str, rows: np.ndarray) -> float:
    """QWK of rows holding truth and grade side by side (tabular_tune.paired_se's score for a metric of no mean)."""
    return quadratic_kappa(rows[:, 0], rows[:, 1])


def one_split(target: str, seed: int, folder: Path, ids: np.ndarray, truth: np.ndarray, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed}
    grades: dict[str, np.ndarray] = {}
    for label, (flags, sets) in VARIANTS.items():
        comp = f"{target.lower()}_{'cls' if 'multiclass' in flags else 'qwk'}_s{seed}"
        spec = work / "competitions" / comp
        if not spec.exists() and cli(["new", comp, "--data", str(folder), *flags, "--into", str(spec.parent)]) != 0:
            raise SystemExit(f"{target}: `new {' '.join(flags)}` failed")
        t0 = time.perf_counter()
        run_dir = run(RunOptions(str(spec), data=str(folder), sets=sets, quiet=True, runs_root=str(work / "runs")))
        summary = read_record(run_dir, "summary")
        sub = pd.read_csv(run_dir / "submission.csv", dtype={"Id": str}).set_index("Id")
        grades[label] = pd.to_numeric(sub[target].loc[ids.astype(str)]).to_numpy(float)
        out[label] = {
            "cv": float(summary["cv"]),
            "cv_metric": summary["metric"],
            "holdout_qwk": quadratic_kappa(truth, grades[label]),
            "cuts": (summary.get("threshold") or {}).get("cuts"),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    base = "qwk, cut out of fold"
    for label in VARIANTS:
        if label != base:
            out[f"{base} - {label}"] = {
                "diff": out[base]["holdout_qwk"] - out[label]["holdout_qwk"],
                "se": paired_se(
                    "qwk",
                    np.column_stack([truth, grades[label]]),
                    np.column_stack([truth, grades[base]]),
                    seed,
                    kappa_rows,
                ),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    tabular_holdout.split_arguments(ap)
    args = ap.parse_args()
    zip_path = Path(args.data_dir).resolve() / f"{HOUSE.slug}.zip"
    results: dict[str, Any] = {}
    with scratch_cwd() as work:
        for target in [t for t in TARGETS if not args.only or args.only in t]:
            runs = []
            for seed in range(args.splits):
                folder = work / f"{target}_split{seed}"
                ids, truth = make_split(zip_path, target, seed, folder)
                runs.append(one_split(target, seed, folder, ids, truth, work))
                r = runs[-1]
                shown = ", ".join(f"{k} {r[k]['holdout_qwk']:.4f} (CV {r[k]['cv']:.4f})" for k in VARIANTS)
                print(f"{target} split {seed}: held-out QWK {shown}", flush=True)
            summary: dict[str, Any] = {"runs": runs}
            for k in VARIANTS:
                summary[k] = {"holdout_qwk_mean": float(np.mean([r[k]["holdout_qwk"] for r in runs]))}
            for key in [k for k in runs[0] if " - " in k]:
                mean, se = tabular_holdout.split_mean([r[key]["diff"] for r in runs], [r[key]["se"] for r in runs])
                summary[key] = {"mean": mean, "se": se}
                print(f"{target}: {key}: {mean:+.4f} ± {se:.4f}", flush=True)
            results[target] = summary
    command = f"python benchmarks/tabular_qwk.py --splits {args.splits}" + (f" --only {args.only}" if args.only else "")
    figure = "tabular_qwk" + (f"_{args.only.lower()}" if args.only else "")
    print(save(figure, command, {"targets": results, **peak_memory()}).relative_to(ROOT))


if __name__ == "__main__":
    main()
