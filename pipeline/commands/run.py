"""`run`: the whole pipeline for one competition."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any, NoReturn

from pipeline.config import read_params_file
from pipeline.contract import ContractError

HELP = "Run the pipeline: data -> folds -> models -> blend -> validated submission."
# Config keys --resume may change (with --set, --preset or --params): they change how long models train, not what
# the saved folds and predictions mean. Deep models continue from their last epoch checkpoint.
RESUMABLE_KEYS = ("epochs",)
SEED_LIMIT = 2**32
# help of --data, --preset, --set and --params: the options run and tune share, said per command
CONFIG_HELP = {
    "run": (
        "Kaggle's competition zip as downloaded, or an extracted folder (default data/<slug>/)",
        "a named set of Config overrides the competition defines (e.g. cpu, gpu, fast)",
        "override a Config field (repeatable)",
        "JSON file of Config overrides (e.g. best params from `tune`)",
    ),
    "tune": (
        "Kaggle's competition zip as downloaded, or an extracted folder",
        "a named set of Config overrides the search space starts from",
        "fixed Config override, not tuned (repeatable)",
        "JSON file of Config overrides the search space starts from",
    ),
}


def add_config_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """--data, --sample, --preset, --set and --params, shared by run and tune (help from CONFIG_HELP[command])."""
    data, preset, sets, params = CONFIG_HELP[command]
    p.add_argument("--data", help=data)
    p.add_argument("--sample", action="store_true", help="use the built-in generated sample data (no download)")
    p.add_argument("--preset", help=preset)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=sets)
    p.add_argument("--params", help=params)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `run`."""
    p.add_argument("competition", nargs="?", help="competition folder, e.g. competitions/house_prices")
    add_config_arguments(p, "run")
    p.add_argument("--seed", type=int, help="seed for folds and models, 0..2**32-1 (default 0)")
    p.add_argument("--folds", type=int, help="number of CV folds (default: the competition's Config)")
    p.add_argument("--time-limit", type=float, metavar="SECONDS", help="hard wall-clock budget for the whole run")
    p.add_argument("--tag", help="suffix for the run folder name")
    p.add_argument("--models", help="comma-separated subset of the competition's models")
    p.add_argument(
        "--jobs",
        type=int,
        help="threads for tabular models (default: 1 below 2M training cells, else the cores the process may use)",
    )
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "fp16", "bf16"],
        help="deep models: mixed precision on CUDA (default auto: bf16 where supported, else fp16; the CPU stays fp32)",
    )
    p.add_argument("--num-workers", type=int, metavar="N", help="deep models: DataLoader worker processes")
    p.add_argument(
        "--cache-mb",
        type=int,
        metavar="MIB",
        help="decoded images kept in memory up to this size (a k-fold image run decodes each once)",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its folder")
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm); default per rank",
    )
    p.add_argument("--quiet", action="store_true", help="no console output except errors")


def check_shared(args: argparse.Namespace, command: str) -> None:
    """Refuse values of the options run and tune share that cannot be right, before any data is read or any run
    folder exists."""
    if args.sample and args.data:
        raise ContractError(f"{command}: give --data or --sample, not both.")
    if args.seed is not None and not 0 <= args.seed < SEED_LIMIT:
        raise ContractError(f"--seed must be an integer in 0..{SEED_LIMIT - 1}, got {args.seed}.")
    if args.folds is not None and args.folds < 2:
        raise ContractError(f"--folds must be at least 2 (and at most the number of training rows), got {args.folds}.")
    if args.jobs is not None and args.jobs < 1:
        raise ContractError(f"--jobs must be at least 1, got {args.jobs}.")
    if args.models is not None and not [m for m in args.models.split(",") if m.strip()]:
        raise ContractError(f"--models {args.models!r} names no model; give a comma-separated list such as ridge,lgbm.")
    if args.params is not None:
        read_params_file(args.params)


def check_values(args: argparse.Namespace) -> None:
    """Refuse option values that cannot be right, before any data is read or any run folder exists."""
    check_shared(args, "run")
    if args.time_limit is not None and not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise ContractError(f"--time-limit must be a number of seconds > 0, got {args.time_limit:g}.")
    for flag, value in (("--num-workers", args.num_workers), ("--cache-mb", args.cache_mb)):
        if value is not None and value < 0:
            raise ContractError(f"{flag} must be 0 or more, got {value}.")
    check_name("--tag", args.tag, "the run folder and the submission")


def check_name(flag: str, value: str | None, names: str) -> None:
    """A value that names folders and files (--tag, --study): letters, digits, '.', '_' and '-' (a / nested the run
    folder, a ../ put it outside runs/)."""
    if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
        raise ContractError(f"{flag} {value!r}: use letters, digits, '.', '_' and '-' (it names {names}).")


def model_list(args: argparse.Namespace) -> list[str] | None:
    """The model names of --models (run, tune), or None for all."""
    return [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None


def _saved_run(args: argparse.Namespace) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """RunOptions, command.json and config.json of the run folder --resume names (read by rank 0 under torchrun)."""
    from pipeline import distributed
    from pipeline.runner import RunOptions

    run_dir = Path(args.resume)

    def read() -> tuple[dict[str, Any], dict[str, Any]] | None:
        try:
            command = json.loads((run_dir / "command.json").read_text())
        except (OSError, ValueError):
            return None
        try:
            config = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            config = {}
        return command, config

    # under torchrun rank 0 reads them: the other nodes need no copy of the run folder
    found = distributed.from_main(read)
    if found is None or not isinstance(found[0].get("options"), dict):
        raise ContractError(f"--resume {args.resume}: not a run folder (no readable command.json).")
    command, config = found
    return RunOptions(**command["options"]), command, config


def _refuse(args: argparse.Namespace, option: str, saved: Any, given: Any) -> NoReturn:
    raise ContractError(
        f"--resume {args.resume}: {option} {given} differs from the run's {saved}; resuming would mix predictions of "
        "different runs. Start a new run instead (without --resume)."
    )


def _check_same_run(args: argparse.Namespace, opts: Any, command: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse a competition, data, seed, folds or models other than the saved run's."""
    from pipeline.contract import resolve_competition_path

    saved_name = resolve_competition_path(opts.competition)[0]
    if args.competition and resolve_competition_path(args.competition)[0] != saved_name:
        raise ContractError(
            f"--resume {args.resume}: that run is of {saved_name.rsplit('.', 1)[-1]}, not "
            f"{resolve_competition_path(args.competition)[0].rsplit('.', 1)[-1]}; name its competition or none."
        )
    if args.sample and not opts.sample:
        _refuse(args, "--sample", "data " + str(command.get("resolved_data")), "(the built-in sample)")
    if args.data is not None:
        saved_data = opts.data or command.get("resolved_data")
        if opts.sample or saved_data is None or Path(args.data).expanduser().resolve() != Path(saved_data).resolve():
            _refuse(args, "--data", "built-in sample" if opts.sample else saved_data, args.data)
    if args.seed is not None and args.seed != opts.seed:
        _refuse(args, "--seed", opts.seed, args.seed)
    saved_folds = opts.folds or (config.get("config") or {}).get("folds")
    if args.folds is not None and args.folds != saved_folds:
        _refuse(args, "--folds", saved_folds, args.folds)
    models = model_list(args)
    if models and [m for m in models if opts.models and m not in opts.models]:
        _refuse(args, "--models", ",".join(opts.models or []), ",".join(models))


def _check_config_changes(args: argparse.Namespace, opts: Any, saved: dict[str, Any]) -> None:
    """Refuse new --preset/--params/--set values that change a saved Config key other than RESUMABLE_KEYS."""
    from pipeline.config import config_dict, field_types, resolve_config
    from pipeline.contract import load_competition
    from pipeline.fitting import engineering_from_config_keys
    from pipeline.folds import resolve_folds

    module = load_competition(opts.competition)
    from pipeline.runner import params_of

    params = params_of(opts)
    # device settings a run from before saved as --set keys are runner options now, not Config keys
    sets = engineering_from_config_keys(opts.sets, field_types(module.Config), {})[0]
    cfg, overrides = resolve_config(module, opts.preset, params, sets)
    new = config_dict(resolve_folds(module, cfg, opts.folds)[0])  # --folds replaces a holdout, as the run saved it
    # only keys the options name: settings the runner derived itself (e.g. for --sample) are not the user's
    changed = [k for k in overrides if k in saved and new[k] != saved[k]]
    fixed = [k for k in changed if k not in RESUMABLE_KEYS]
    if fixed:
        k = fixed[0]
        raise ContractError(
            f"--resume {args.resume}: the new options change {k} ({saved[k]!r} -> {new[k]!r}); on resume only "
            f"{', '.join(RESUMABLE_KEYS)} may change (and --time-limit, --jobs, the device settings, --models within "
            "the run's). "
            "Start a new run instead."
        )


def _resume_options(args: argparse.Namespace):  # noqa: ANN202 - RunOptions (heavy import kept lazy)
    """The saved options of the run to resume, with what may change; anything that would change the meaning of the
    saved folds and predictions is refused, naming the option and both values."""
    opts, command, config = _saved_run(args)
    _check_same_run(args, opts, command, config)
    opts.models = model_list(args) or opts.models
    opts.preset = args.preset or opts.preset
    if args.params:  # new values, checked against the saved config below
        opts.params, opts.params_values = args.params, read_params_file(args.params)
    opts.sets = list(opts.sets) + list(args.sets)
    if "config" in config and (args.preset or args.params or args.sets):
        _check_config_changes(args, opts, config["config"])
    opts.resume = str(Path(args.resume).resolve())  # summary.json names the folder as a new run's does
    if args.time_limit is not None:
        opts.time_limit = args.time_limit  # else the saved limit holds
    opts.quiet = args.quiet
    opts.sync_bn = opts.sync_bn or args.sync_bn
    from pipeline.fitting import ENGINEERING  # the device settings: --precision, --num-workers, --cache-mb

    for option in ("jobs", *ENGINEERING):  # engineering: may change on resume
        if getattr(args, option) is not None:
            setattr(opts, option, getattr(args, option))
    return opts


def options_from_args(args: argparse.Namespace):  # noqa: ANN201 - returns RunOptions (heavy import kept lazy)
    """RunOptions from parsed arguments; with --resume, the saved options of that run plus what may change."""
    from pipeline.fitting import ENGINEERING  # the device settings: --precision, --num-workers, --cache-mb
    from pipeline.runner import RunOptions

    check_values(args)
    if args.resume:
        return _resume_options(args)
    if not args.competition:
        raise ContractError("run: give a competition folder (e.g. competitions/house_prices) or --resume RUN_DIR.")
    return RunOptions(
        competition=args.competition,
        data=args.data,
        sample=args.sample,
        preset=args.preset,
        sets=list(args.sets),
        params=args.params,
        params_values=read_params_file(args.params) if args.params else None,
        seed=args.seed if args.seed is not None else 0,
        folds=args.folds,
        time_limit=args.time_limit,
        tag=args.tag,
        models=model_list(args),
        jobs=args.jobs,
        quiet=args.quiet,
        sync_bn=args.sync_bn,
        **{option: getattr(args, option) for option in ENGINEERING},
    )


def main(args: argparse.Namespace) -> int:
    """Run and print the summary (under torchrun: join the process group first, see docs/distributed.md)."""
    import dataclasses

    import pipeline
    from pipeline import distributed
    from pipeline.runner import run

    distributed.init_from_env()
    run(dataclasses.replace(options_from_args(args), started=pipeline.PROCESS_STARTED))  # --time-limit counts from it
    return 0
