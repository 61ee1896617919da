"""The runner: load -> folds -> per model, per fold fit -> OOF + test predictions -> blend -> submission.

Three steps: `_prepare` (config, models, weights and data, every check that can refuse them, pipeline/run_checks.py,
then the run folder and its folds, pipeline/run_folds.py: a RunState, pipeline/runstate.py), `fold_fits.fit_model`
(one model over the folds, one FoldJob per fold, each kept as a part file so a run resumes fold by fold; then, when
Config.refit asks, one more fit on every training row whose test predictions are the submission's); with
Config.pseudo_label, `pseudo_round.fit_students`: each model again, as "<model>+pseudo", on its folds' training rows
plus the test rows its folds' first-round models label (pipeline/pseudo.py); and `finish_run` (pipeline/finish.py:
blend, stack, calibrate, submission, summary).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline import atomic, distributed, importance, pseudo, runfolder
from pipeline.budget import Budget
from pipeline.config import config_dict, field_types, resolve_config
from pipeline.contract import ContractError, Data, competition_name, load_competition
from pipeline.datadir import checks_cache, resolve_data
from pipeline.finish import RunInputs, check_settings, finish_run
from pipeline.fitting import (
    accepts_context,
    default_jobs,
    engineering_from_config_keys,
    pick_device,
    split_saved_config,
)
from pipeline.fold_fits import fit_model
from pipeline.folds import fold_ids, resolve_folds
from pipeline.imagedigests import run_copies, save_training_images
from pipeline.imagefiles import image_paths
from pipeline.pseudo_round import fit_students
from pipeline.refit import refits
from pipeline.run_checks import load_checked, select_models
from pipeline.run_folds import fold_note, read_or_make
from pipeline.runfolder import environment, mark_failed, new_run_dir, run_is_complete
from pipeline.runlog import RunLog, interactive, progress, route_warnings
from pipeline.runstate import Plan, RunOptions, RunState
from pipeline.sample_preset import sample_config
from pipeline.weights import prepare_for_run


def run(opts: RunOptions) -> Path:
    """Run the whole pipeline; return the run folder.

    A failure after the run folder exists is recorded in its log.txt and summary.json ("status": "failed"); an
    exception raised by the caller's own `report` hook (a pruned trial) is a deliberate stop and is not.
    """
    created: list[Path] = []
    stops: list[BaseException] = []
    if opts.report is not None:
        hook = opts.report

        def report(info: dict[str, Any]) -> None:
            try:
                hook(info)
            except BaseException as e:
                stops.append(e)
                raise

        opts = dataclasses.replace(opts, report=report)
    try:
        return _run(opts, created)
    except BaseException as e:
        if created and distributed.is_main() and not any(e is s for s in stops):
            mark_failed(created[0], e)
        if created and isinstance(e, KeyboardInterrupt):
            e.run_dir = created[0]  # type: ignore[attr-defined]  # the CLI names it: --resume RUN_DIR
        raise


def _run(opts: RunOptions, created: list[Path]) -> Path:
    """The whole pipeline; `created` receives the run folder as soon as it exists.

    Under torchrun (WORLD_SIZE > 1) every rank runs this: models that support DDP are trained by all ranks together,
    any other model by rank 0 alone; only rank 0 writes files, logs and blends (docs/distributed.md).
    """
    t_start = time.monotonic() if opts.started is None else opts.started
    distributed.init_from_env()
    state = _prepare(opts, created, t_start)
    if state is None:
        return Path(str(opts.resume))
    with route_warnings(state.log):
        return _fit_and_finish(state)


def _fit_and_finish(state: RunState) -> Path:
    """Every model over every fold, then (rank 0) the blend, stack and submission; the run folder."""
    main = distributed.is_main()
    with progress(interactive() and not state.opts.quiet and main) as bar:
        fits = len(fold_ids(state.folds)) + state.plan.refit
        rounds = 1 + (pseudo.setting(state.cfg) is not None)
        task = bar.add_task("fitting", total=len(state.plan.selected) * fits * rounds)
        for model, estimator in state.plan.selected.items():
            result = fit_model(state, model, estimator, bool(state.results), bar, task)
            if result is not None:
                state.results[model] = result
        if rounds > 1 and state.results:
            fit_students(state, bar, task)
    if not state.results:
        raise ContractError("No model finished within the time limit; raise --time-limit or use a faster preset.")
    if not main:
        distributed.barrier()  # rank 0 blends and writes the submission
        return state.run_dir
    if (tbl := importance.table(state.results)) is not None:
        importance.write(state.run_dir, tbl)
        state.log(importance.top_line(tbl))
    out = finish_run(state)
    distributed.barrier()
    return out


# ---- prepare: everything before the first fold ---------------------------------------------------------------------


def _saved_config(opts: RunOptions) -> dict[str, Any] | None:
    """The config.json "config" of the run --resume names (None: a new run, or none readable)."""
    if not opts.resume:
        return None
    try:
        saved = runfolder.read_record(Path(opts.resume), "config").get("config")
    except (OSError, ValueError, AttributeError):
        return None
    return saved if isinstance(saved, dict) else None


def _engineering(module: ModuleType, opts: RunOptions) -> tuple[RunOptions, dict[str, Any], list[str]]:
    """`opts` with the device settings given as Config keys (--set, a resumed run's config.json) moved to its own
    fields (its fields win); those the saved config holds; a log note per source."""
    saved, fields = _saved_config(opts) or {}, field_types(module.Config)
    legacy = split_saved_config(saved, fields)[1]
    sets, values, notes = engineering_from_config_keys(opts.sets, fields, legacy)
    values = {k: v for k, v in values.items() if getattr(opts, k) is None}
    return dataclasses.replace(opts, sets=sets, **values), legacy, notes


def _prepare(opts: RunOptions, created: list[Path], t_start: float) -> RunState | None:
    """Config, models, weights and data with every check that can refuse them, then the run folder and its folds.

    None when --resume names a run that is already complete (nothing to do).
    """
    module = load_competition(opts.competition)
    plan = _plan(module, opts)
    opts, cfg, selected = plan.opts, plan.cfg, plan.selected
    if opts.resume and run_is_complete(Path(opts.resume)) and _saved_config(opts) in (None, plan.config_json):
        RunLog(None, quiet=opts.quiet or not distributed.is_main())(
            f"{opts.resume} is already complete; nothing to do (its submission and files are unchanged)."
        )
        return None
    needs = prepare_for_run(opts, selected)  # pretrained weights here (or fetched) before any data is extracted
    data_dir, is_sample = distributed.in_turn(lambda: resolve_data(module, opts.data, opts.sample))
    data = load_checked(module, cfg, data_dir, plan.folding, opts)  # refused here, before the run folder exists
    run_dir = _run_folder(opts, competition_name(module), is_sample)
    created.append(run_dir)
    copies = ""  # test images that are training images under other names: the warning line
    if distributed.is_main():
        _write_run_files(run_dir, plan, [n.record() for n in needs], data_dir)
        copies = _save_training_images(module, run_dir, data, data_dir)
    log = _open_log(opts, run_dir, competition_name(module), "built-in sample" if is_sample else str(data_dir))
    if plan.folding.replaced_holdout:
        plan.notes.append(f"folds: --folds {plan.folding.k} replaces the holdout of {plan.folding.replaced_holdout:g}")
    for line in [*plan.notes, *(f"weights: {need.describe()}" for need in needs)]:
        log(line)
    if copies:
        log.warn(copies)
    for warning in (data.info or {}).get("warnings", []):  # what load found amiss in the tables (Data.info)
        log.warn(warning)
    y = np.asarray(data.y)
    folds = distributed.from_main(lambda: read_or_make(run_dir, y, plan.folding, opts, data))
    if note := fold_note(y, plan.folding, data):
        log(note)
    deadline = t_start + opts.time_limit if opts.time_limit else None
    rounds = 1 + (pseudo.setting(cfg) is not None)
    state = RunState(
        inputs=RunInputs(module, cfg, data, data_dir, is_sample),
        refit=plan.refit,
        opts=plan.opts,  # the caller's, with device settings given as Config keys moved to their fields
        folds=folds,
        run_dir=run_dir,
        log=log,
        t_start=t_start,
        plan=plan,
        # the second round's students (Config.pseudo_label) share the time limit as models of their own
        budget=Budget(deadline, n_models=len(selected) * rounds, n_folds=len(fold_ids(folds)), refits=plan.refit),
        jobs=opts.jobs or default_jobs(int(np.prod(np.shape(data.X)))),
    )
    log(_describe(state))
    return state


def fitting_order(selected: dict[str, Any]) -> dict[str, Any]:
    """Under --time-limit: models that cannot be cut short first, then those that fit to a deadline (otherwise in
    the competition's order). A model of the second kind fits to its share of what is left, so fitted last they use
    the time the first kind leaves; fitted first, their shares assumed the fixed models needed as much and the run
    ended early (a generated competition's linear model, fitted last, left 70 s of a 600 s budget unused)."""
    return dict(sorted(selected.items(), key=lambda item: accepts_context(item[1])))


def _plan(module: ModuleType, opts: RunOptions) -> Plan:
    """The Config (defaults < sample preset < --preset < --params < --set), its folds, the selected models and their
    device; refused here when any of them is wrong."""
    opts, legacy, notes = _engineering(module, opts)
    cfg, overrides, sample_overrides = _resolve_config(module, opts)
    cfg, folding = resolve_folds(module, cfg, opts.folds)
    check_settings(cfg, module.METRIC.name)
    pseudo.check_setting(cfg)
    selected = select_models(module, cfg, opts.models)
    if opts.time_limit:
        selected = fitting_order(selected)
    needs_torch = any(accepts_context(e) for e in selected.values())
    device = distributed.local_device(pick_device() if needs_torch else "cpu")
    cfg, added = _added_fields(cfg, _saved_config(opts), overrides)
    config_json = {k: v for k, v in atomic.as_json(config_dict(cfg) | legacy).items() if k not in added}
    refit = opts.refit and refits(module, cfg)
    return Plan(opts, cfg, folding, selected, device, config_json, overrides, sample_overrides, notes, refit)


# Config fields added after runs were saved, with the value that reproduces how a run saved without them behaved
ADDED_FIELDS: dict[str, Any] = {
    "refit": "off",
    "fit_min_score": False,
    "fit_mask_cut": False,
    "pseudo_label": None,
    "pseudo_label_balance": False,
}


def _added_fields(cfg: Any, saved: dict[str, Any] | None, overrides: dict[str, Any]) -> tuple[Any, set[str]]:
    """A resumed run saved before a field of ADDED_FIELDS existed: the Config with that field's old behaviour (unless
    the user sets it now), and the fields to leave out of config.json and the parts' hash, so that the run's saved
    folds are kept and a complete run stays complete."""
    if saved is None:
        return cfg, set()
    fields = {f.name for f in dataclasses.fields(cfg)}
    added = {k for k in ADDED_FIELDS if k in fields and k not in saved and k not in overrides}
    return dataclasses.replace(cfg, **{k: ADDED_FIELDS[k] for k in added}), added


def _resolve_config(module: ModuleType, opts: RunOptions) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The run's Config, the user's overrides, and the sample preset applied (--sample; else {})."""
    cfg, overrides = resolve_config(module, opts.preset, params_of(opts), opts.sets, params_file=opts.params)
    if opts.sample:
        cfg, sample_overrides = sample_config(module, overrides)
        return cfg, overrides, sample_overrides
    return cfg, overrides, {}


def params_of(opts: RunOptions) -> dict[str, Any] | Path | None:
    """The run's --params overrides: as read when it started, else (runs saved before them) the file."""
    if opts.params_values is not None:
        return opts.params_values
    return Path(opts.params) if opts.params else None


def _run_folder(opts: RunOptions, name: str, is_sample: bool) -> Path:
    """The --resume folder, or a new one named by rank 0 (time stamp, tag, `sample`)."""
    if opts.resume:
        return Path(opts.resume)
    tag = "-".join(t for t in (opts.tag, "sample" if is_sample else None) if t) or None
    root = Path(opts.runs_root) if opts.runs_root else None
    return distributed.from_main(lambda: new_run_dir(name, tag, root))


def _open_log(opts: RunOptions, run_dir: Path, name: str, source: str) -> RunLog:
    """The run's log (log.txt and the console on rank 0; nothing on the other ranks), opened with its first line."""
    main = distributed.is_main()
    log = runfolder.open_log(run_dir if main else None, quiet=opts.quiet or not main)
    log(f"{'resuming' if opts.resume else 'run'} {name} -> {run_dir}  (data: {source})")
    return log


def _write_run_files(run_dir: Path, plan: Plan, weights: list[dict[str, Any]], data_dir: Path) -> None:
    """config.json (the Config, how it was made, the pretrained weights), command.json (the options, without the
    report hook) and env.json."""
    opts = plan.opts
    record = {"config": plan.config_json, "overrides": plan.overrides, "preset": opts.preset}
    record |= {"sample_preset": plan.sample_overrides, "weights": weights}
    runfolder.write_record(run_dir, "config", record)
    saved = {k: v for k, v in dataclasses.asdict(opts).items() if k not in ("report", "started")}
    runfolder.write_record(run_dir, "command", {"options": saved, "resolved_data": str(data_dir)})
    env = environment(plan.device) | ({"distributed": distributed.describe()} if distributed.active() else {})
    runfolder.write_record(run_dir, "env", env)


def _save_training_images(module: ModuleType, run_dir: Path, data: Data, data_dir: Path) -> str:
    """train_images.json (pipeline/imagedigests.py) for a competition whose test side `predict` can read alone
    (`load_test`): without the training files, the saved digests are what tells it a test image is a training
    image under another name. Returns the run's own warning of such copies in its test set ('' when none). The
    digests are remembered beside the image check's cache: a later run on the same files reads none of them again."""
    paths = image_paths(data.X)
    if not paths or not hasattr(module, "load_test"):
        return ""
    cache = checks_cache(data_dir)
    images = save_training_images(run_dir, paths, data_dir, cache)
    return run_copies(images, image_paths(data.X_test), data_dir, cache)


def _describe(state: RunState) -> str:
    """The run's one-line plan: rows, folds, models, device (and under torchrun the processes, and which models they
    train together, which rank 0 alone)."""
    plan, folding, n_folds = state.plan, state.plan.folding, len(fold_ids(state.folds))
    share = pseudo.setting(plan.cfg)
    second = (
        ""
        if share is None
        else ", " + pseudo.describe(share, state.data.classes is not None, pseudo.balanced(plan.cfg))
    )
    world = ""
    if distributed.active():
        together = [m for m, e in plan.selected.items() if distributed.shares_fit(e)]
        alone = [m for m in plan.selected if m not in together]
        world = f", {distributed.world_size()} processes ({distributed.describe()['backend']})"
        world += f"; trained by every process: {', '.join(together)}" if together else ""
        world += f"; by rank 0 alone: {', '.join(alone)}" if alone else ""
    only = 0 if state.data.train_only is None else int(np.asarray(state.data.train_only).sum())
    rows = f" ({only} of them train-only: in every fold's fit, never scored)" if only else ""
    return (
        f"{len(state.data.y)} training rows{rows}, {len(state.data.X_test)} test rows, {n_folds} fold(s) "
        f"({folding.kind}"
        f"{f', holdout {folding.holdout:g}' if folding.holdout else ''})"
        f"{', then each model refitted on every training row' if plan.refit else ''}"
        f"{second}, models: "
        f"{', '.join(plan.selected)}, device {plan.device}{world}"
    )
