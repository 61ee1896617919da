"""`run`: the whole pipeline for one competition."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.contract import ContractError

HELP = "Run the pipeline: data -> folds -> models -> blend -> validated submission."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `run`."""
    p.add_argument("competition", nargs="?", help="competition folder, e.g. competitions/house_prices")
    p.add_argument(
        "--data", help="Kaggle's competition zip as downloaded, or an extracted folder (default data/<slug>/)"
    )
    p.add_argument("--sample", action="store_true", help="use the built-in generated sample data (no download)")
    p.add_argument("--preset", help="a named set of Config overrides the competition defines (e.g. cpu, gpu, fast)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a Config field (repeatable)",
    )
    p.add_argument("--params", help="JSON file of Config overrides (e.g. best params from `tune`)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds and models (default 0)")
    p.add_argument("--folds", type=int, help="number of CV folds (default: the competition's Config)")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="hard wall-clock budget for the whole run")
    p.add_argument("--tag", help="suffix for the run folder name")
    p.add_argument("--models", help="comma-separated subset of the competition's models")
    p.add_argument("--jobs", type=int, help="threads for tabular models (default: all cores)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its folder")
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm); default per rank",
    )
    p.add_argument("--quiet", action="store_true", help="no console output except errors")


def options_from_args(args: argparse.Namespace):  # noqa: ANN201 - returns RunOptions (heavy import kept lazy)
    """RunOptions from parsed arguments; with --resume, the saved options of that run plus any new --set."""
    from pipeline.runner import RunOptions
    from pipeline.vision import distributed

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if args.resume:
        saved = Path(args.resume) / "command.json"
        # under torchrun rank 0 reads it: the other nodes need no copy of the run folder
        options = distributed.from_main(lambda: json.loads(saved.read_text())["options"] if saved.exists() else None)
        if options is None:
            raise ContractError(f"--resume {args.resume}: not a run folder (no command.json).")
        opts = RunOptions(**options)
        opts.sets = list(opts.sets) + list(args.sets)
        opts.resume = str(Path(args.resume))
        opts.time_limit = args.time_limit
        opts.quiet = args.quiet
        opts.sync_bn = opts.sync_bn or args.sync_bn
        if args.jobs:
            opts.jobs = args.jobs
        return opts
    if not args.competition:
        raise ContractError("run: give a competition folder (e.g. competitions/house_prices) or --resume RUN_DIR.")
    return RunOptions(
        competition=args.competition,
        data=args.data,
        sample=args.sample,
        preset=args.preset,
        sets=list(args.sets),
        params=args.params,
        seed=args.seed,
        folds=args.folds,
        time_limit=args.time_limit,
        tag=args.tag,
        models=models,
        jobs=args.jobs,
        quiet=args.quiet,
        sync_bn=args.sync_bn,
    )


def main(args: argparse.Namespace) -> int:
    """Run and print the summary (under torchrun: join the process group first, see docs/distributed.md)."""
    from pipeline.runner import run
    from pipeline.vision import distributed

    distributed.init_from_env()
    run(options_from_args(args))
    return 0
