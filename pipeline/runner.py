"""The runner: load -> folds -> per model, per fold fit -> OOF + test predictions -> blend -> submission.

Three steps: `_prepare` (config, models, weights and data, every check that can refuse them, then the run folder and
its folds: a RunState), `_fit_model` (one model over the folds, one FoldJob per fold, each kept as a part file so a
run resumes fold by fold; then, when Config.refit asks, one more fit on every training row whose test predictions
are the submission's); with Config.pseudo_label, `_fit_students`: each model again, as "<model>+pseudo", on its
folds' training rows plus the test rows its folds' first-round models label (pipeline/pseudo.py); and `finish_run`
(pipeline/finish.py: blend, stack, calibrate, submission, summary).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline import atomic, distributed, importance, pseudo, runfolder, stacking
from pipeline.budget import Budget, call_with_deadline
from pipeline.config import config_dict, field_types, resolve_config
from pipeline.contract import ContractError, Data, FitContext, competition_name, load_competition
from pipeline.datadir import checks_cache, resolve_data
from pipeline.finish import FittedRun, RunInputs, check_settings, finish_run, merge_fold_tests, model_score
from pipeline.fitting import (
    ENGINEERING,
    accepts_context,
    default_jobs,
    derived_seed,
    engineering_from_config_keys,
    fit_fold,
    pick_device,
    predict_outputs,
    split_saved_config,
    take,
)
from pipeline.folds import (
    FoldPlan,
    can_stratify_holdout,
    finite_mean,
    fold_ids,
    fold_score,
    make_folds,
    rarer_than_folds,
    resolve_folds,
    runs_forward,
    training_rows,
)
from pipeline.imagedigests import run_copies, save_training_images
from pipeline.imagefiles import image_paths, verify_images
from pipeline.modelstore import save_fold_model
from pipeline.refit import clone_with, fold_params, refit_params, refit_rows, refits
from pipeline.runfolder import FULL, environment, fit_stem, mark_failed, new_run_dir, run_is_complete
from pipeline.runlog import RunLog, interactive, progress, route_warnings
from pipeline.sample_preset import sample_config
from pipeline.stacked import every_file
from pipeline.weights import prepare_for_run


@dataclass
class RunOptions:
    """Everything `python -m pipeline run` accepts."""

    competition: str
    data: str | None = None
    sample: bool = False
    preset: str | None = None
    sets: list[str] = field(default_factory=list)
    params: str | None = None
    seed: int = 0
    folds: int | None = None
    time_limit: float | None = None
    tag: str | None = None
    models: list[str] | None = None
    jobs: int | None = None
    resume: str | None = None
    # the --params file's overrides as read when the run started (command.json keeps them): a resume uses these, not
    # the file as it is by then (`tune` rewrites best_params.json); None: read `params` (runs saved before)
    params_values: dict[str, Any] | None = None
    runs_root: str | None = None
    submissions_root: str | None = None
    quiet: bool = False
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)
    # Device settings of deep estimators (pipeline.fitting.ENGINEERING), set on every estimator with such a
    # parameter; None: the estimator's own default
    precision: str | None = None  # auto | fp32 | fp16 | bf16 (mixed precision on CUDA)
    num_workers: int | None = None  # DataLoader worker processes
    cache_mb: int | None = None  # decoded images kept in memory up to this many MiB
    # False: no refit on every training row even where Config.refit asks for one (tune's trials, scored by their CV)
    refit: bool = True
    # Called after every finished fold with {"model", "fold", "score", "folds_done", "running_mean"}; an exception
    # it raises (e.g. optuna.TrialPruned) stops the run. Estimators taking a context also get it as
    # context.report, for epoch-level reports (FitContext.report_epoch). Not saved in command.json.
    report: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)
    # time.monotonic() when the process began (the `run` command's: the interpreter's imports count against
    # --time-limit, which bounds the command's whole wall time); None: when run() is called. Not saved in command.json.
    started: float | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Plan:
    """What the options and the competition settle before any data is read: the Config, its folds, the models and
    the device they fit on."""

    opts: RunOptions  # device settings given as Config keys moved to their own fields (_engineering)
    cfg: Any
    folding: FoldPlan
    selected: dict[str, Any]  # model name -> unfitted estimator, in fitting order
    device: str
    # The Config as config.json records it and the parts' key hashes it: config_dict(cfg), plus the device settings
    # a run from before they left the Config saved in it (so a resumed run keeps its saved parts)
    config_json: dict[str, Any]
    overrides: dict[str, Any]  # the user's (--preset, --params, --set)
    sample_overrides: dict[str, Any]  # the --sample preset applied, else {}
    notes: list[str]  # log lines on device settings given the old way
    refit: bool = False  # each model refitted on every training row after its folds (Config.refit, RunOptions.refit)


@dataclass(kw_only=True)
class RunState(FittedRun):
    """What every fit of a run shares, settled by `_prepare` before the first fold; `results` fills as models
    finish, and the state is the FittedRun that finish_run receives."""

    opts: RunOptions
    plan: Plan
    budget: Budget
    jobs: int  # threads for tabular models
    # Config.pseudo_label: each first-round model's test predictions per fold, its students' teachers
    fold_tests: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    @property
    def engineering(self) -> dict[str, Any]:
        """The runner's device settings for fit_fold (None: the estimator's own)."""
        return {k: getattr(self.opts, k) for k in ENGINEERING}

    @property
    def n_classes(self) -> int | None:
        return len(self.data.classes) if self.data.classes is not None else None


@dataclass(frozen=True)
class FoldJob:
    """One model on one fold: its estimator and the part file that keeps its predictions while `key` still matches."""

    model: str
    estimator: Any
    fold: int | str  # the validation fold, or runfolder.FULL: the refit on every training row
    key: str  # _config_hash of config, seed, folds and model: a saved part with another key is fitted again
    part_path: Path
    solo: bool  # under torchrun, a model without DDP support: rank 0 fits, the other ranks receive its predictions
    pseudo: pseudo.PseudoRows | None = None  # a student's fit: the test rows its training rows gain, and their labels


def _config_hash(cfg_json: dict[str, Any], seed: int, k: int, holdout: float, model: str) -> str:
    """The key of a model's saved parts: a part is reused only under the same config, seed, folds and model.

    Saved runs (parts/, models/) carry it: changing what goes in it makes every earlier run refit on --resume.
    """
    blob = json.dumps({"cfg": cfg_json, "seed": seed, "k": k, "holdout": holdout, "model": model}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_data(data: Data, name: str) -> None:
    """Fail early when load() returned inconsistent shapes."""
    if not isinstance(data, Data):
        raise ContractError(f"{name}.load must return pipeline.contract.Data, got {type(data).__name__}.")
    if len(data.X) != len(data.y):
        raise ContractError(f"{name}.load: {len(data.X)} training rows but {len(data.y)} targets.")
    if len(data.X_test) != len(data.test_ids):
        raise ContractError(f"{name}.load: {len(data.X_test)} test rows but {len(data.test_ids)} test ids.")
    if data.train_only is not None:
        mask = np.asarray(data.train_only)
        if mask.dtype != bool or mask.shape != (len(data.y),):
            raise ContractError(
                f"{name}.load: train_only must be a boolean mask of the {len(data.y)} training rows, "
                f"got {mask.dtype} of shape {mask.shape}."
            )
        if mask.all():
            raise ContractError(f"{name}.load: train_only marks every training row; nothing would be scored.")


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
            result = _fit_model(state, model, estimator, bool(state.results), bar, task)
            if result is not None:
                state.results[model] = result
        if rounds > 1 and state.results:
            _fit_students(state, bar, task)
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
    data = _load_checked(module, cfg, data_dir, plan.folding, opts)  # refused here, before the run folder exists
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
    folds = distributed.from_main(lambda: _folds(run_dir, y, plan.folding, opts, data))
    if note := _fold_note(y, plan.folding, data):
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
    selected = _select_models(module, cfg, opts.models)
    if opts.time_limit:
        selected = fitting_order(selected)
    needs_torch = any(accepts_context(e) for e in selected.values())
    device = distributed.local_device(pick_device() if needs_torch else "cpu")
    cfg, added = _added_fields(cfg, _saved_config(opts), overrides)
    config_json = {k: v for k, v in atomic.as_json(config_dict(cfg) | legacy).items() if k not in added}
    refit = opts.refit and refits(module, cfg)
    return Plan(opts, cfg, folding, selected, device, config_json, overrides, sample_overrides, notes, refit)


# Config fields added after runs were saved, with the value that reproduces how a run saved without them behaved
ADDED_FIELDS: dict[str, Any] = {"refit": "off", "fit_min_score": False, "fit_mask_cut": False, "pseudo_label": None}


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


def _select_models(module: ModuleType, cfg: Any, names: list[str] | None) -> dict[str, Any]:
    """The competition's models(cfg), or the ones --models names, in that order; a setting models(cfg) refuses, or
    one a scikit-learn estimator's own checks refuse (a negative alpha), is refused here, before any fit."""
    try:
        selected = module.models(cfg)
    except (ValueError, TypeError) as e:  # the competition's own refusal of a setting (an unknown model name)
        raise ContractError(f"{competition_name(module)}: the settings give no models: {one_line(e)}") from None
    if names:
        unknown = [m for m in names if m not in selected]
        if unknown:
            name = competition_name(module)
            raise ContractError(f"Unknown model(s) {', '.join(unknown)}. Models of {name}: {', '.join(selected)}.")
        selected = {m: selected[m] for m in names}
    for name, estimator in selected.items():
        check_estimator_params(name, estimator)
        if distributed.shares_fit(estimator) and hasattr(estimator, "get_params"):  # under torchrun
            batch = estimator.get_params(deep=False).get("batch_size")
            if isinstance(batch, int):
                distributed.local_batch_size(batch)  # a batch that does not split over the ranks, refused now
    return selected


def one_line(e: BaseException) -> str:
    """An error's message on one line: a library's many-line one (albumentations' pydantic errors) joined, without
    its "For further information" links."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return "; ".join(line for line in lines if not line.startswith("For further information")) or type(e).__name__


def check_estimator_params(name: str, estimator: Any) -> None:
    """scikit-learn's own parameter checks of the model and every estimator inside it (pipelines, wrappers), and an
    estimator's own `check_params()`, run at fit otherwise: a bad --set value would cost the folds before it."""
    from sklearn.base import BaseEstimator
    from sklearn.utils._param_validation import InvalidParameterError

    if not isinstance(estimator, BaseEstimator):
        return
    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if isinstance(v, BaseEstimator))]
    for part in parts:
        try:
            if hasattr(part, "_parameter_constraints"):  # scikit-learn's estimators (LightGBM's and others' have none)
                part._validate_params()
            if callable(getattr(part, "check_params", None)):  # an estimator's own checks (ImageClassifier's TTA)
                part.check_params()
        except (InvalidParameterError, ValueError) as e:
            raise ContractError(f"model {name}: {one_line(e)}") from None


def _load_checked(module: ModuleType, cfg: Any, data_dir: Path, folding: FoldPlan, opts: RunOptions) -> Data:
    """load() with every check the data can fail: shapes, --folds against the rows, unreadable images and images
    not of the competition's IMAGE_SIZE."""
    data = module.load(cfg, data_dir)
    check_data(data, competition_name(module))
    if why := stacking.unsuited(getattr(cfg, "stack", "off") or "off", data.classes is not None):
        raise ContractError(why)
    if why := pseudo.unsuited(cfg, module, data.y):
        raise ContractError(why)
    scored = np.ones(len(data.y), dtype=bool) if data.train_only is None else ~np.asarray(data.train_only)
    groups = None if data.groups is None else np.asarray(data.groups)[scored]
    _check_fold_count(np.asarray(data.y)[scored], folding, groups, data.classes)
    if folding.kind == "time":  # refused here, before the run folder, when the times cannot make the folds
        times = None if data.time is None else np.asarray(data.time)[scored]
        y, window = np.asarray(data.y)[scored], getattr(data, "horizon", None)
        make_folds(y, folding.k, opts.seed, "time", holdout=folding.holdout, times=times, window=window)
    check_images(module, data_dir, (data.X, data.X_test), opts.quiet)
    return data


def check_images(module: ModuleType, data_dir: Path, arrays: tuple[Any, ...], quiet: bool = False) -> None:
    """Decode every image file among `arrays` (a Data's X / X_test; other inputs have none) and check it has the
    competition's IMAGE_SIZE, failing with the files named: the run's check at load, and predict's on a new test set.
    An image of several channel files (pipeline/stacked.py) is checked file by file."""
    paths = every_file(image_paths(*arrays))
    if paths:
        show = interactive() and not quiet and distributed.is_main()
        cache = checks_cache(data_dir)  # the pipeline's own folder, or the data cache for a user's --data folder
        size, name = getattr(module, "IMAGE_SIZE", None), competition_name(module)
        distributed.in_turn(lambda: verify_images(paths, cache, show_progress=show, size=size, owner=name))


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
        f"{'' if share is None else ', ' + pseudo.describe(share, state.data.classes is not None)}, models: "
        f"{', '.join(plan.selected)}, device {plan.device}{world}"
    )


# ---- fit one model: its folds, each resumable ----------------------------------------------------------------------


def _fit_model(
    state: RunState,
    model: str,
    estimator: Any,
    have_complete: bool,
    bar: Any,
    task: Any,
    teaching: dict[int | str, pseudo.PseudoRows] | None = None,
) -> dict[str, Any] | None:
    """One model over every fold (saved parts reused); its results, or None when the time limit drops it. With
    `teaching`, the model is a student (Config.pseudo_label): each fit's training rows gain that fit's test rows."""
    opts, log, fids = state.opts, state.log, fold_ids(state.folds)
    solo = distributed.active() and not distributed.shares_fit(estimator)
    if solo:
        log.warn(f"{model} does not train with DDP: rank 0 fits it alone while the other ranks wait")
    parts: list[dict[str, Any]] = []
    dropped: str | None = None
    for f in fids:
        bar.update(task, description=f"{model} fold {f + 1}/{len(fids)}")
        part, dropped = _part(state, _job(state, model, estimator, f, solo, teaching), have_complete)
        if part is None:
            break
        state.budget.record(model, part["seconds"])
        parts.append(part)
        bar.advance(task)
        shown = f"{part['score']:.5f}" if np.isfinite(part["score"]) else "not defined on its rows alone (one class)"
        added = f", {int(part['pseudo_rows'])} pseudo-labelled test rows" if "pseudo_rows" in part else ""
        log(f"{model} fold {f}: {state.module.METRIC.name} {shown} ({part['seconds']:.1f}s{added})")
        if opts.report is not None:
            done = [p["score"] for p in parts]
            opts.report(
                {
                    "model": model,
                    "fold": f,
                    "score": part["score"],
                    "folds_done": len(done),
                    "running_mean": finite_mean(done)[0],
                }
            )
    if dropped:
        log.warn(f"{model} skipped: {dropped}")
        bar.advance(task, len(fids) - len(parts) + state.plan.refit)
        return None
    if teaching is None and pseudo.setting(state.cfg) is not None:  # a first-round model: its students' teacher
        state.fold_tests[model] = {f: np.asarray(p["test"]) for f, p in zip(fids, parts, strict=True)}
    full = None
    if state.plan.refit:
        bar.update(task, description=f"{model} refit on every row")
        full = _refit(state, _job(state, model, estimator, FULL, solo, teaching), parts)
        bar.advance(task)
    return _model_result(state, model, parts, full)


def _job(
    state: RunState,
    model: str,
    estimator: Any,
    fold: int | str,
    solo: bool,
    teaching: dict[int | str, pseudo.PseudoRows] | None,
) -> FoldJob:
    """One fit of a model: its part file and key (a student's key also covers the test rows it learns from)."""
    folding = state.plan.folding
    key = _config_hash(state.plan.config_json, state.opts.seed, folding.k, folding.holdout, model)
    rows = None if teaching is None else teaching[fold]
    key = key if rows is None else rows.key(key)
    return FoldJob(model, estimator, fold, key, runfolder.part_path(state.run_dir, model, fold), solo, rows)


def _fit_students(state: RunState, bar: Any, task: Any) -> None:
    """The second round (Config.pseudo_label): each first-round model fitted again as its student "<model>+pseudo",
    every fit on its training rows plus the test rows its teachers label (pipeline/pseudo.py); a model the time
    limit dropped has no student. The students join the results, so the blend and stack choose among them all."""
    share = pseudo.setting(state.cfg)
    if share is None:
        return
    fits = len(fold_ids(state.folds)) + state.plan.refit
    teachers = [m for m in state.plan.selected if m in state.results]
    refits = {m: np.asarray(state.results[m]["test"]) for m in teachers} if state.plan.refit else None
    teaching = pseudo.teaching(
        {m: state.fold_tests[m] for m in teachers}, refits, share, state.n_classes, state.opts.seed
    )
    state.log(pseudo.counts(teaching, teachers, len(state.data.X_test)))
    if none := pseudo.none_taught(teaching, share):
        state.log.warn(none)
    for model, estimator in state.plan.selected.items():
        if none or model not in state.results:
            for _ in range(fits):
                state.budget.skip()
            bar.advance(task, fits)
            continue
        name = pseudo.student(model)
        result = _fit_model(state, name, estimator, True, bar, task, teaching)
        if result is not None:
            state.results[name] = result


def _refit(state: RunState, job: FoldJob, parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model refitted on every training row (its saved part reused): its part (test predictions, seconds), or
    None, with a warning, when the time limit refuses or cuts it or it fails: the fold models are a complete result,
    and the submission keeps their merged predictions."""
    params = refit_params(parts, runs_forward(state.module))
    job = dataclasses.replace(job, estimator=clone_with(job.estimator, params))
    try:
        part, why = _part(state, job, True)  # True: the folds are complete, so the time limit may refuse it
    except Exception as e:  # noqa: BLE001  (a refit's failure costs the refit only, not the fitted folds)
        part, why = None, f"it failed: {type(e).__name__}: {e}"
    if part is not None and bool(part.get("cut", False)):
        part, why = None, "the time limit stopped it before its last tree"
    if part is None:
        state.budget.skip()
        state.log.warn(f"{job.model}: no refit on every training row ({why}); its submission is its fold models'")
        return None
    state.budget.record(job.model, part["seconds"])
    grown = [v for k, v in params.items() if k.rsplit("__", 1)[-1] == "n_estimators"]  # a wrapper's nested one too
    trees = f", {grown[0]} trees" if grown else ""
    rows = refit_rows(job.estimator, len(state.data.y))
    added = "" if job.pseudo is None else f", plus {len(job.pseudo.rows)} pseudo-labelled test rows"
    state.log(f"{job.model} refit {rows}{trees}{added} ({part['seconds']:.1f}s)")
    return part


def _part(state: RunState, job: FoldJob, have_complete: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The fold's saved part, or a fresh fit; (None, why) when the time limit refuses or cuts it."""
    part = distributed.from_main(lambda: runfolder.read_part(job.part_path, job.key))
    if part is not None:
        return part, None
    elastic = accepts_context(job.estimator)  # it fits to the deadline it is given
    if job.fold == FULL:
        refusal = state.budget.refuse_refit(job.model, _rows_ratio(state), elastic)
    else:
        refusal = state.budget.refuse(job.model, have_complete, elastic)
    reason = distributed.agree(refusal)  # rank 0's clock decides
    if reason:
        return None, reason
    abandoned = threading.Event()  # set when the runner stops waiting: the fit then writes nothing into the run
    fit: Callable[[], Any] = functools.partial(_fit_part, state, job, abandoned)
    if state.budget.deadline is not None and have_complete and not elastic:
        # Fits without a context cannot be cut short: run them where the runner can stop waiting.
        fit = functools.partial(call_with_deadline, fit, state.budget.remaining())
    # a model the other ranks do not train: rank 0 fits it as one process would (distributed.alone)
    part = distributed.from_main(distributed.alone()(fit)) if job.solo else fit()
    if part is None:
        abandoned.set()
        return None, f"{'it' if job.fold == FULL else 'a fold'} did not finish before the time limit"
    return part, None


def _rows_ratio(state: RunState) -> float:
    """Every training row over a fold's training rows (their mean): how much longer a refit takes than a fold."""
    kind = state.plan.folding.kind
    fold_rows = [len(training_rows(state.folds, f, kind)) for f in fold_ids(state.folds)]
    return len(state.data.y) / max(1.0, float(np.mean(fold_rows)))


def _model_result(
    state: RunState, model: str, parts: list[dict[str, Any]], full: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A model's results from its folds (its test predictions the refit's, `full`, when there is one); its OOF and
    test predictions saved (rank 0)."""
    if full is not None:
        merged = np.asarray(full["test"])
    else:
        merged = merge_fold_tests(state.module, state.cfg, [p["test"] for p in parts])
    r = _collect(parts, len(state.data.y), merged)
    r["refit"] = full is not None
    r["refit_seconds"] = float(full["seconds"]) if full is not None else 0.0
    r["importance"] = importance.fold_mean(parts)  # None unless every fold's model has feature_importances_
    if "pseudo_rows" in parts[0]:  # a student (Config.pseudo_label): the test rows each fold's fit learned from
        r["pseudo_rows"] = [int(p["pseudo_rows"]) for p in parts]
    if getattr(state.module, "CALIBRATE", None):  # calibration applies to each fold model's test predictions
        # a refitting run: one test prediction per model (the refit's, or the folds' merged where it was refused)
        r["fold_tests"] = [merged] if state.plan.refit else [p["test"] for p in parts]
    if distributed.is_main():
        runfolder.write_predictions(state.run_dir, model, r["oof"], r["test"])
    state.log(f"[bold]{model}[/bold]: CV {r['mean']:.5f} ± {r['std']:.5f}")
    return r


def _fold_note(y: np.ndarray, folding: FoldPlan, data: Data) -> str:
    """A log line when stratified folds cannot give every class to every fold: classes rarer than the folds, or a
    holdout too small (or a class too rare) to stratify. Empty otherwise."""
    if folding.kind != "stratified" or data.classes is None or y.ndim != 1:
        return ""
    if data.train_only is not None:  # the rows the folds are made of, as _check_fold_count counts them
        y = y[~np.asarray(data.train_only)]
    if folding.holdout:
        if can_stratify_holdout(y, folding.holdout):
            return ""
        return f"folds: the holdout of {folding.holdout:g} is drawn at random: too few rows to stratify it by class"
    rare, fewest = rarer_than_folds(y, folding.k)
    if not rare:
        return ""
    return (
        f"folds: {rare} class(es) have fewer rows than the {folding.k} folds (the rarest {fewest}); each is validated "
        "in as many folds as it has rows, and predicted there by models that trained on its other rows only"
    )


def _check_fold_count(y: np.ndarray, folding: FoldPlan, groups: Any, classes: Any = None) -> None:
    """--folds against the data: at most one fold per row (per group); stratified, at most the rows of the commonest
    class. A class rarer than the folds is no obstacle (make_folds: it is validated in as many folds as it has rows;
    _fold_note says so). `classes`: the names y's indices stand for, to name the class as the data does."""
    if folding.holdout:
        return
    k, kind, n = folding.k, folding.kind, len(y)
    if k > n:
        raise ContractError(f"--folds {k} is more than the {n} training rows; use --folds 2..{n}.")
    if kind == "stratified" and n:
        labels, counts = np.unique(y, return_counts=True)
        if counts.max() < k:
            common = labels[counts.argmax()]
            if classes is not None and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
                common = list(classes)[int(common)]
            raise ContractError(
                f"--folds {k}: stratified folds need a class with {k} rows; the commonest class ({common}) has "
                f"{counts.max()}. Use --folds {max(2, int(counts.max()))} or fewer."
            )
    if kind in ("group", "stratified_group") and groups is not None:
        n_groups = len(np.unique(np.asarray(groups)))
        if k > n_groups:
            raise ContractError(f"--folds {k} is more than the {n_groups} groups of the data; use fewer --folds.")


def _folds(run_dir: Path, y: np.ndarray, folding: FoldPlan, opts: RunOptions, data: Data) -> np.ndarray:
    """The run's folds: saved ones on resume, else made from the seed (data.train_only rows: -1) and saved."""
    if opts.resume:
        with contextlib.suppress(FileNotFoundError):
            folds = runfolder.read_folds(run_dir)
            if len(folds) != len(y):
                raise ContractError(f"--resume {run_dir}: saved folds cover {len(folds)} rows, the data has {len(y)}.")
            return folds
    folds = make_folds(
        y,
        folding.k,
        opts.seed,
        folding.kind,
        data.groups,
        folding.holdout,
        data.train_only,
        times=data.time,
        window=getattr(data, "horizon", None),
    )
    runfolder.write_folds(run_dir, folds)
    return folds


def _fit_part(state: RunState, job: FoldJob, abandoned: threading.Event | None = None) -> dict[str, Any]:
    """Fit one model on one fold; its OOF and test predictions, score and seconds (saved as a part by rank 0, unless
    the runner stopped waiting for it: `abandoned`). With a refit to come, the part keeps the fold model's
    refit_params for it (JSON, under "refit")."""
    if job.fold == FULL:
        return _fit_full(state, job, abandoned)
    data, f = state.data, int(job.fold)
    tr, va = training_rows(state.folds, f, state.plan.folding.kind), np.flatnonzero(state.folds == f)
    y = np.asarray(data.y)
    X_tr, y_tr, X_va, y_va = take(data.X, tr), take(y, tr), take(data.X, va), take(y, va)
    if job.pseudo is not None:  # a student: the fold's training rows, then the test rows its teachers labelled
        X_tr, y_tr = job.pseudo.added_to(X_tr, y_tr, data.X_test)
    context = _context(state, job, X_va, y_va)
    seed = _fit_seed(state, job)
    est, fit_s = fit_fold(job.estimator, X_tr, y_tr, seed, state.jobs, context, state.engineering)
    t0 = time.perf_counter()
    classification, n_classes = data.classes is not None, state.n_classes
    oof = predict_outputs(est, X_va, classification, n_classes)
    test = predict_outputs(est, data.X_test, classification, n_classes)
    seconds = fit_s + time.perf_counter() - t0
    score = fold_score(model_score(state.module, state.cfg), y_va, oof)
    part = {"valid_idx": va, "oof": oof, "test": test, "score": score, "seconds": seconds, "hash": job.key}
    added = 0 if job.pseudo is None else len(job.pseudo.rows)
    if job.pseudo is not None:
        part["pseudo_rows"] = added
    if state.plan.refit:  # a student's refit learns from about as many test rows as its fold did
        part["refit"] = fold_params(est, len(y) + added)
    if (found := importance.of_estimator(est)) is not None:
        part["features"], part["importance"] = found
    _keep(state, job, est, part, abandoned)
    return part


def _keep(state: RunState, job: FoldJob, est: Any, part: dict[str, Any], abandoned: threading.Event | None) -> None:
    """Rank 0 saves a fit's model (what `predict` needs, pipeline/modelstore.py) and its part, unless the runner
    stopped waiting for the fit (`abandoned`: the run has gone on without it)."""
    if distributed.is_main() and not (abandoned is not None and abandoned.is_set()):
        save_fold_model(state.run_dir, job.model, job.fold, est, job.key)
        runfolder.write_part(job.part_path, part)


def _fit_full(state: RunState, job: FoldJob, abandoned: threading.Event | None = None) -> dict[str, Any]:
    """Refit one model on every training row (train-only rows included) with no validation rows; its test
    predictions, seconds and whether the deadline stopped it ("cut": an estimator's deadline_reached_), saved as
    the part `full` by rank 0 and the model as models/<model>/full.* (unless the runner stopped waiting)."""
    data, X, y = state.data, state.data.X, np.asarray(state.data.y)
    if job.pseudo is not None:  # a student: every training row, then the test rows its teachers labelled
        X, y = job.pseudo.added_to(X, y, data.X_test)
    context = _context(state, job, None, None)
    est, fit_s = fit_fold(job.estimator, X, y, _fit_seed(state, job), state.jobs, context, state.engineering)
    t0 = time.perf_counter()
    test = predict_outputs(est, data.X_test, data.classes is not None, state.n_classes)
    seconds = fit_s + time.perf_counter() - t0
    cut = bool(getattr(est, "deadline_reached_", False))
    part = {"test": test, "score": float("nan"), "seconds": seconds, "hash": job.key, "cut": cut}
    if job.pseudo is not None:
        part["pseudo_rows"] = len(job.pseudo.rows)
    _keep(state, job, est, part, abandoned)
    return part


def _fit_seed(state: RunState, job: FoldJob) -> int:
    """A fit's seed: the run's seed offset by the fold (the refit: by the number of folds, a seed of its own)."""
    return derived_seed(state.opts.seed, _fit_index(state, job))


def _fit_index(state: RunState, job: FoldJob) -> int:
    """The fold of a fit as a number: the refit on every row counts as the fold after the last."""
    return len(fold_ids(state.folds)) if job.fold == FULL else int(job.fold)


def _context(state: RunState, job: FoldJob, X_va: Any, y_va: Any) -> FitContext:
    """The runner's engineering for an estimator whose fit takes `context=` (only rank 0 writes); no validation rows
    (None) for the refit on every training row."""
    main, opts = distributed.is_main(), state.opts
    return FitContext(
        workdir=state.run_dir / "checkpoints" / job.model / fit_stem(job.fold) if main else None,
        seed=_fit_seed(state, job),
        device=state.plan.device,
        deadline=state.budget.fit_deadline(job.model),
        training_deadline=functools.partial(state.budget.training_deadline, job.model),
        eval_set=None if X_va is None else (X_va, y_va),
        score=model_score(state.module, state.cfg),
        metric=state.module.METRIC,
        resume=bool(opts.resume),
        progress=interactive() and not opts.quiet and main,
        log=state.log,
        fold=_fit_index(state, job),
        model=job.model,
        n_classes=state.n_classes,
        predict_rows=(0 if y_va is None else len(y_va)) + len(state.data.X_test),
        sync_bn=opts.sync_bn,
        plots_dir=state.run_dir / "plots" if main else None,
        report=opts.report,
    )


def _collect(parts: list[dict[str, Any]], n: int, test: np.ndarray) -> dict[str, Any]:
    """OOF rows from every fold, with the fold scores and seconds; `test` the folds' merged test predictions."""
    width = parts[0]["oof"].shape[1]
    oof = np.full((n, width), np.nan)
    for p in parts:
        oof[p["valid_idx"]] = p["oof"]
    scores = [p["score"] for p in parts]
    mean, std = finite_mean(scores)  # a fold whose rows hold one class has no ROC AUC of its own
    return {
        "oof": oof,
        "test": test,
        "fold_scores": scores,
        "fold_seconds": [p["seconds"] for p in parts],
        "mean": mean,
        "std": std,
    }
