"""`tune`: Optuna hyperparameter search over a competition's search_space(trial), each trial a full CV run."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

from pipeline.commands.run import add_config_arguments, check_name, check_shared, model_list
from pipeline.contract import ContractError

HELP = "Tune a competition's Config with Optuna: each trial is a CV run folder; best params replay with run --params."
# TuneSpec fields that are the options of the same name as given
SPEC_FROM_ARGS = ("competition", "sample", "folds", "seed", "jobs", "sampler", "pruner", "warmup_folds", "quiet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `tune`: the study's, then run's own."""
    from pipeline.tuning.study import PRUNERS, SAMPLERS

    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument(
        "--trials",
        type=int,
        help="finished trials the study should hold (its total, counted across "
        "resumes and workers; default 20, or unlimited with --timeout)",
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="start no new trial after this many seconds")
    p.add_argument(
        "--study",
        help="study name (default: the competition's name, with -sample for --sample); an existing study is resumed",
    )
    p.add_argument(
        "--storage",
        help="sqlite:///PATH, any SQLAlchemy URL (postgresql://..., mysql://...) or "
        "journal:PATH (default: sqlite under runs/<competition>/optuna.db)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this machine, each running one "
        "trial at a time (0: one per GPU); with several GPUs each worker gets its own",
    )
    p.add_argument(
        "--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler, seeded from --seed (default tpe)"
    )
    p.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="median",
        help="stop poor trials early on their fold (and epoch) scores (default median)",
    )
    p.add_argument(
        "--startup-trials",
        type=int,
        default=5,
        help="trials sampled at random and finished before the pruner judges (default 5)",
    )
    p.add_argument(
        "--warmup-folds",
        type=int,
        default=0,
        help="median pruner: judge a trial only from its N-th finished fold on, counted over the models in order "
        "(default 0: from its first report)",
    )
    add_config_arguments(p, "tune")
    p.add_argument("--folds", type=int, help="number of CV folds (default: the competition's Config)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds, models and the sampler (default 0)")
    p.add_argument("--models", help="comma-separated subset of the competition's models")
    p.add_argument("--jobs", type=int, help="threads per trial (default: the cores shared out between the workers)")
    p.add_argument("--quiet", action="store_true", help="no console output except errors")


def build_spec(args: argparse.Namespace):  # noqa: ANN201 - returns TuneSpec (heavy imports kept lazy)
    """Check the options against the competition (before any trial) and build the workers' spec."""
    from pathlib import Path

    from pipeline.config import parse_set, resolve_config
    from pipeline.contract import competition_name, load_competition
    from pipeline.folds import resolve_folds
    from pipeline.runfolder import runs_root
    from pipeline.tuning.storage import default_storage, normalize
    from pipeline.tuning.study import TuneSpec, study_dir_for
    from pipeline.tuning.workers import cuda_device_count

    module = load_competition(args.competition)
    name = competition_name(module)
    if not callable(getattr(module, "search_space", None)):
        raise ContractError(f"{name} defines no search_space(trial) -> dict of Config overrides; nothing to tune.")
    if args.trials is not None and args.trials < 1:
        raise ContractError(f"--trials must be at least 1, got {args.trials}.")
    if args.workers < 0:
        raise ContractError(f"--workers must be 0 (one per GPU) or more, got {args.workers}.")
    for flag, value in (("--startup-trials", args.startup_trials), ("--warmup-folds", args.warmup_folds)):
        if value < 0:
            raise ContractError(f"{flag} must be 0 or more, got {value}.")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ContractError(f"--timeout must be a number of seconds > 0, got {args.timeout:g}.")
    check_name("--study", args.study, "the study and its folder")
    check_shared(args, "tune")
    params = Path(args.params) if args.params else None
    _, base = resolve_config(module, args.preset, params, [])
    cfg, _ = resolve_config(module, args.preset, params, args.sets)  # fails now on unknown keys or wrong types
    resolve_folds(module, cfg, args.folds)  # and on folds < 2 from --set or --params
    workers = args.workers or max(1, cuda_device_count())
    study = args.study or (f"{name}-sample" if args.sample else name)
    root = runs_root()
    return TuneSpec(
        **{k: getattr(args, k) for k in SPEC_FROM_ARGS},
        study=study,
        storage=normalize(args.storage) if args.storage else default_storage(root / name),
        study_dir=str(study_dir_for(root, name, study).resolve()),
        direction="maximize" if module.METRIC.greater_is_better else "minimize",
        data=str(Path(args.data).resolve()) if args.data else None,
        base={k: list(v) if isinstance(v, tuple) else v for k, v in base.items()},
        fixed=parse_set(args.sets),
        models=model_list(args),
        trials=args.trials if args.trials is not None else (None if args.timeout else 20),
        deadline=time.time() + args.timeout if args.timeout else None,
        startup=args.startup_trials,
        workers=workers,
    ), module


def main(args: argparse.Namespace) -> int:
    """Create or resume the study, run the workers, write and print the results."""
    import optuna

    from pipeline.tuning.results import print_table, write_results
    from pipeline.tuning.storage import open_storage, redact
    from pipeline.tuning.study import claimed, create_or_check, enqueue_start, fail_dead_trials
    from pipeline.tuning.workers import run_workers

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ContractError(
            "tune runs its trials in parallel processes (--workers, one GPU each), not under torchrun: "
            "start it with python -m pipeline tune ... (docs/distributed.md)."
        )
    spec, module = build_spec(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_or_check(spec)
    fail_dead_trials(study)  # left RUNNING by a tune on this machine that was killed
    start = enqueue_start(study, module, spec)
    if not spec.quiet:
        target = f"{spec.trials} trials" if spec.trials else "no trial limit"
        print(
            f"tune {spec.competition}: study '{spec.study}' in {redact(spec.storage)} ({claimed(study)} of {target}"
            f", {spec.workers} worker(s), {spec.sampler} sampler, {spec.pruner} pruner)\nstudy folder {spec.study_dir}",
            flush=True,
        )
        if start:
            shown = ", ".join(f"{k}={v}" for k, v in start.items())
            print(f"trial 0 starts from the current settings: {shown}", flush=True)
    code = 0
    try:
        codes = run_workers(spec)
        if any(codes):
            print(
                f"error: tuning worker(s) exited with {codes}; the study is saved, run again to resume.",
                file=sys.stderr,
            )
            code = 1
    except KeyboardInterrupt:
        print("interrupted: the study is saved; run the same command again to resume it.", file=sys.stderr)
        code = 130
    study = optuna.load_study(study_name=spec.study, storage=open_storage(spec.storage))
    info = write_results(study, spec)
    if not spec.quiet:
        print_table(study, info, module.METRIC.name)
    if code == 0 and info.get("best") is None:  # --timeout passed before any trial finished, or every trial failed
        print(
            "error: no trial finished (a longer --timeout, or the failed trials' run folders, say why); the study is "
            "saved.",
            file=sys.stderr,
        )
        code = 2
    return code
