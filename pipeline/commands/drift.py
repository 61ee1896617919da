"""`python -m pipeline drift COMPETITION --data PATH [--against test|original]`: adversarial validation.

Tells whether a tabular competition's test rows (or the original dataset a Playground competition was generated
from) differ from its training rows: the out-of-fold ROC AUC of a classifier telling them apart, its standard
error, a verdict, and the columns the classifier leans on (pipeline/tabular/drift.py). Writes
drift/<competition>/train-vs-<against>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.contract import ContractError

if TYPE_CHECKING:
    from pipeline.tabular.drift import Drift

HELP = "adversarial validation: do the test rows (or an original dataset) differ from the training rows, and where"
SHOWN = 8  # columns printed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("competition", help="a tabular competition folder, e.g. competitions/titanic")
    p.add_argument("--data", help="Kaggle's zip or an extracted folder (default data/<slug>/)")
    p.add_argument("--sample", action="store_true", help="the built-in sample instead of real data")
    p.add_argument(
        "--against",
        choices=("test", "original"),
        default="test",
        help="compare the training rows with the test rows (default) or with the original dataset's rows",
    )
    p.add_argument("--folds", type=int, default=5, help="folds of the classifier (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=200_000, help="compare at most this many rows, a seeded sample")
    p.add_argument("--out", help="the JSON file to write (default drift/<competition>/train-vs-<against>.json)")


def main(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from pipeline import atomic
    from pipeline.contract import competition_name, load_competition
    from pipeline.datadir import competition_arg, resolve_data
    from pipeline.fitting import default_jobs
    from pipeline.tabular.drift import adversarial

    module = load_competition(args.competition)
    name = competition_name(module)
    if args.sample and args.data:
        raise ContractError("drift: give --data or --sample, not both.")
    if args.folds < 2:
        raise ContractError(f"drift: --folds must be at least 2, got {args.folds}.")
    if args.rows < 2 * args.folds:
        raise ContractError(f"drift: --rows must be at least 2 x --folds ({2 * args.folds}), got {args.rows}.")
    if args.out and Path(args.out).is_dir():
        raise ContractError(f"drift: --out {args.out} is a folder; name the JSON file to write.")
    cfg = module.Config()
    if args.against == "original":
        if getattr(module, "ORIGINAL", None) is None:
            raise ContractError(
                f"drift --against original: {name} names no original dataset (ORIGINAL is None); add one with "
                "`python -m pipeline new NAME --data ZIP --original PATH`."
            )
        cfg = dataclasses.replace(cfg, original="add")  # its rows, without the from_original column of "flag"
    again = shlex.join(
        ["drift", competition_arg(module), *(["--against", "original"] if args.against == "original" else [])]
    )
    data_dir, _ = resolve_data(module, args.data, args.sample, command=again)
    data = module.load(cfg, data_dir)
    for warning in (data.info or {}).get("warnings", []):  # what load found amiss in the tables (Data.info)
        print(f"warning: {warning}", file=sys.stderr)
    if not isinstance(data.X, pd.DataFrame) or not isinstance(data.X_test, pd.DataFrame):
        raise ContractError(
            f"drift: {name}'s inputs are not tables ({type(data.X).__name__}); drift checks tabular competitions."
        )
    extra = np.zeros(len(data.X), dtype=bool) if data.train_only is None else np.asarray(data.train_only, dtype=bool)
    own = data.X[~extra]
    other = data.X_test if args.against == "test" else data.X[extra]
    names = ("train", "test" if args.against == "test" else "original")
    try:
        drift = adversarial(own, other, names, args.folds, args.seed, args.rows, default_jobs(own.size + other.size))
    except ValueError as e:
        raise ContractError(f"drift: {e}") from None
    print(report(drift))
    out = Path(args.out) if args.out else Path("drift") / name / f"train-vs-{args.against}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out, dataclasses.asdict(drift) | {"competition": name, "data_dir": str(data_dir)})
    print(f"wrote {out}")
    return 0


def report(d: Drift) -> str:
    """The lines `drift` prints: the AUC, the verdict and the columns the classifier leans on."""
    head = (
        f"drift: {d.first} ({d.rows[0]:,} rows) vs {d.second} ({d.rows[1]:,} rows), {len(d.columns)} columns, "
        f"{len(d.fold_aucs)} folds: adversarial AUC {d.auc:.4f} ± {d.se:.4f}"
    )
    top = ", ".join(f"{c} {v:.3f}" for c, v in list(d.columns.items())[:SHOWN])
    return f"{head}\n  {d.verdict}\n  columns the classifier leans on (importance shares): {top}"
