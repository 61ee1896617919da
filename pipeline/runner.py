"""The runner: load -> folds -> per model, per fold fit -> OOF + test predictions -> blend -> submission.

Three steps: `_prepare` (config, models, weights and data, every check that can refuse them, then the run folder and
its folds: a RunState), `_fit_model` (one model over the folds, one FoldJob per fold, each kept as a part file so a
run resumes fold by fold) and `finish_run` (pipeline/finish.py: blend, stack, calibrate, submission, summary).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline import atomic, distributed
from pipeline.budget import Budget, call_with_deadline
from pipeline.config import config_dict, resolve_config
from pipeline.contract import ContractError, Data, FitContext, competition_name, load_competition
from pipeline.datadir import resolve_data
from pipeline.finish import FittedRun, finish_run
from pipeline.fitting import accepts_context, default_jobs, fit_fold, pick_device, predict_outputs, take
from pipeline.folds import FoldPlan, fold_ids, make_folds, resolve_folds
from pipeline.imagefiles import image_paths, verify_images
from pipeline.modelstore import save_fold_model
from pipeline.runfolder import environment, mark_failed, new_run_dir, run_is_complete
from pipeline.runlog import RunLog, interactive, progress
from pipeline.sample_preset import sample_config
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
    runs_root: str | None = None
    submissions_root: str | None = None
    quiet: bool = False
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)
    # Called after every finished fold with {"model", "fold", "score", "folds_done", "running_mean"}; an exception
    # it raises (e.g. optuna.TrialPruned) stops the run. Estimators taking a context also get it as
    # context.report, for epoch-level reports (FitContext.report_epoch). Not saved in command.json.
    report: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)


@dataclass
class RunState:
    """What every fit of a run shares, settled by `_prepare` before the first fold."""

    opts: RunOptions
    module: ModuleType
    cfg: Any
    folding: FoldPlan
    selected: dict[str, Any]  # model name -> unfitted estimator, in fitting order
    data: Data
    data_dir: Path
    is_sample: bool
    run_dir: Path
    log: RunLog
    device: str
    folds: np.ndarray  # fold index per training row (saved as folds.npy)
    budget: Budget
    jobs: int  # threads for tabular models
    t_start: float  # time.monotonic() when the run began

    @property
    def n_classes(self) -> int | None:
        return len(self.data.classes) if self.data.classes is not None else None


@dataclass(frozen=True)
class FoldJob:
    """One model on one fold: its estimator and the part file that keeps its predictions while `key` still matches."""

    model: str
    estimator: Any
    fold: int
    key: str  # _config_hash of config, seed, folds and model: a saved part with another key is fitted again
    part_path: Path
    solo: bool  # under torchrun, a model without DDP support: rank 0 fits, the other ranks receive its predictions


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
        raise


def _run(opts: RunOptions, created: list[Path]) -> Path:
    """The whole pipeline; `created` receives the run folder as soon as it exists.

    Under torchrun (WORLD_SIZE > 1) every rank runs this: models that support DDP are trained by all ranks together,
    any other model by rank 0 alone; only rank 0 writes files, logs and blends (docs/distributed.md).
    """
    t_start = time.monotonic()
    distributed.init_from_env()
    state = _prepare(opts, created, t_start)
    if state is None:
        return Path(str(opts.resume))
    results: dict[str, dict[str, Any]] = {}
    main = distributed.is_main()
    with progress(interactive() and not opts.quiet and main) as bar:
        task = bar.add_task("fitting", total=len(state.selected) * len(fold_ids(state.folds)))
        for model, estimator in state.selected.items():
            result = _fit_model(state, model, estimator, bool(results), bar, task)
            if result is not None:
                results[model] = result
    if not results:
        raise ContractError("No model finished within the time limit; raise --time-limit or use a faster preset.")
    if not main:
        distributed.barrier()  # rank 0 blends and writes the submission
        return state.run_dir
    out = finish_run(_fitted_run(state, results))
    distributed.barrier()
    return out


# ---- prepare: everything before the first fold ---------------------------------------------------------------------


def _same_config(run_dir: Path, cfg: Any) -> bool:
    """Whether a saved run used this config: a complete run resumed with more epochs trains on, else nothing to do."""
    try:
        saved = atomic.read_json(run_dir / "config.json").get("config")
    except (OSError, ValueError, AttributeError):
        return True
    return atomic.as_json(config_dict(cfg)) == saved


def _prepare(opts: RunOptions, created: list[Path], t_start: float) -> RunState | None:
    """Config, models, weights and data with every check that can refuse them, then the run folder and its folds.

    None when --resume names a run that is already complete (nothing to do).
    """
    module = load_competition(opts.competition)
    cfg, overrides, sample_overrides = _resolve_config(module, opts)
    cfg, folding = resolve_folds(module, cfg, opts.folds)
    selected = _select_models(module, cfg, opts.models)
    if opts.resume and run_is_complete(Path(opts.resume)) and _same_config(Path(opts.resume), cfg):
        RunLog(None, quiet=opts.quiet or not distributed.is_main())(
            f"{opts.resume} is already complete; nothing to do (its submission and files are unchanged)."
        )
        return None
    needs = prepare_for_run(opts, selected)  # pretrained weights here (or fetched) before any data is extracted
    data_dir, is_sample = distributed.in_turn(lambda: resolve_data(module, opts.data, opts.sample))
    data = _load_checked(module, cfg, data_dir, folding, opts)  # refused here, before the run folder exists
    run_dir = _run_folder(opts, competition_name(module), is_sample)
    created.append(run_dir)
    needs_torch = any(accepts_context(e) for e in selected.values())
    device = distributed.local_device(pick_device() if needs_torch else "cpu")
    if distributed.is_main():
        weights = [n.record() for n in needs]
        record = {"config": config_dict(cfg), "overrides": overrides, "preset": opts.preset}
        _write_run_files(
            run_dir, opts, record | {"sample_preset": sample_overrides, "weights": weights}, data_dir, device
        )
    log = _open_log(opts, run_dir, competition_name(module), "built-in sample" if is_sample else str(data_dir))
    for need in needs:
        log(f"weights: {need.describe()}")
    y = np.asarray(data.y)
    folds = distributed.from_main(lambda: _folds(run_dir / "folds.npy", y, folding, opts, data.groups))
    deadline = t_start + opts.time_limit if opts.time_limit else None
    state = RunState(
        opts=opts,
        module=module,
        cfg=cfg,
        folding=folding,
        selected=selected,
        data=data,
        data_dir=data_dir,
        is_sample=is_sample,
        run_dir=run_dir,
        log=log,
        device=device,
        folds=folds,
        budget=Budget(deadline, n_models=len(selected), n_folds=len(fold_ids(folds))),
        jobs=opts.jobs or default_jobs(),
        t_start=t_start,
    )
    log(_describe(state))
    return state


def _resolve_config(module: ModuleType, opts: RunOptions) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The run's Config, the user's overrides, and the sample preset applied (--sample; else {})."""
    cfg, overrides = resolve_config(module, opts.preset, Path(opts.params) if opts.params else None, opts.sets)
    if opts.sample:
        cfg, sample_overrides = sample_config(module, overrides)
        return cfg, overrides, sample_overrides
    return cfg, overrides, {}


def _select_models(module: ModuleType, cfg: Any, names: list[str] | None) -> dict[str, Any]:
    """The competition's models(cfg), or the ones --models names, in that order."""
    selected = module.models(cfg)
    if not names:
        return selected
    unknown = [m for m in names if m not in selected]
    if unknown:
        name = competition_name(module)
        raise ContractError(f"Unknown model(s) {', '.join(unknown)}. Models of {name}: {', '.join(selected)}.")
    return {m: selected[m] for m in names}


def _load_checked(module: ModuleType, cfg: Any, data_dir: Path, folding: FoldPlan, opts: RunOptions) -> Data:
    """load() with every check the data can fail: shapes, --folds against the rows, unreadable images."""
    data = module.load(cfg, data_dir)
    check_data(data, competition_name(module))
    _check_fold_count(np.asarray(data.y), folding, data.groups)
    paths = image_paths(data.X, data.X_test)
    if paths:
        show = interactive() and not opts.quiet and distributed.is_main()
        distributed.in_turn(lambda: verify_images(paths, cache_dir=data_dir, show_progress=show))
    return data


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
    log = RunLog(run_dir / "log.txt" if main else None, quiet=opts.quiet or not main)
    log(f"{'resuming' if opts.resume else 'run'} {name} -> {run_dir}  (data: {source})")
    return log


def _write_run_files(run_dir: Path, opts: RunOptions, config_json: dict[str, Any], data_dir: Path, device: str) -> None:
    """config.json, command.json (the options, without the report hook) and env.json."""
    atomic.write_json(run_dir / "config.json", config_json)
    saved = {k: v for k, v in dataclasses.asdict(opts).items() if k != "report"}
    atomic.write_json(run_dir / "command.json", {"options": saved, "resolved_data": str(data_dir)})
    env = environment(device) | ({"distributed": distributed.describe()} if distributed.active() else {})
    atomic.write_json(run_dir / "env.json", env)


def _describe(state: RunState) -> str:
    """The run's one-line plan: rows, folds, models, device (and processes under torchrun)."""
    folding, n_folds = state.folding, len(fold_ids(state.folds))
    world = (
        f", {distributed.world_size()} processes ({distributed.describe()['backend']})" if distributed.active() else ""
    )
    return (
        f"{len(state.data.y)} training rows, {len(state.data.X_test)} test rows, {n_folds} fold(s) ({folding.kind}"
        f"{f', holdout {folding.holdout:g}' if folding.holdout else ''}), models: {', '.join(state.selected)}, "
        f"device {state.device}{world}"
    )


# ---- fit one model: its folds, each resumable ----------------------------------------------------------------------


def _fit_model(
    state: RunState, model: str, estimator: Any, have_complete: bool, bar: Any, task: Any
) -> dict[str, Any] | None:
    """One model over every fold (saved parts reused); its results, or None when the time limit drops it."""
    opts, log, fids = state.opts, state.log, fold_ids(state.folds)
    key = _config_hash(config_dict(state.cfg), opts.seed, state.folding.k, state.folding.holdout, model)
    solo = distributed.active() and not distributed.shares_fit(estimator)
    if solo:
        log.warn(f"{model} does not train with DDP: rank 0 fits it alone while the other ranks wait")
    parts: list[dict[str, Any]] = []
    dropped: str | None = None
    for f in fids:
        bar.update(task, description=f"{model} fold {f + 1}/{len(fids)}")
        job = FoldJob(model, estimator, f, key, state.run_dir / "parts" / model / f"fold{f}.npz", solo)
        part, dropped = _part(state, job, have_complete)
        if part is None:
            break
        state.budget.record(model, part["seconds"])
        parts.append(part)
        bar.advance(task)
        log(f"{model} fold {f}: {state.module.METRIC.name} {part['score']:.5f} ({part['seconds']:.1f}s)")
        if opts.report is not None:
            done = [p["score"] for p in parts]
            opts.report(
                {
                    "model": model,
                    "fold": f,
                    "score": part["score"],
                    "folds_done": len(done),
                    "running_mean": float(np.mean(done)),
                }
            )
    if dropped:
        log.warn(f"{model} skipped: {dropped}")
        bar.advance(task, len(fids) - len(parts))
        return None
    return _model_result(state, model, parts)


def _part(state: RunState, job: FoldJob, have_complete: bool) -> tuple[dict[str, Any] | None, str | None]:
    """The fold's saved part, or a fresh fit; (None, why) when the time limit refuses or cuts it."""
    part = distributed.from_main(lambda: _load_part(job.part_path, job.key))
    if part is not None:
        return part, None
    reason = distributed.agree(state.budget.refuse(job.model, have_complete=have_complete))  # rank 0's clock decides
    if reason:
        return None, reason
    fit: Callable[[], Any] = functools.partial(_fit_part, state, job)
    if state.budget.deadline is not None and have_complete and not accepts_context(job.estimator):
        # Tabular fits cannot be cut short: run them where the runner can stop waiting.
        fit = functools.partial(call_with_deadline, fit, state.budget.remaining())
    part = distributed.from_main(fit) if job.solo else fit()
    if part is None:
        return None, "a fold did not finish before the time limit"
    return part, None


def _model_result(state: RunState, model: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A model's results from its folds; its OOF and test predictions saved (rank 0)."""
    r = _collect(parts, len(state.data.y), getattr(state.module, "merge_folds", None))
    if getattr(state.module, "CALIBRATE", None):  # calibration applies to each fold model's test predictions
        r["fold_tests"] = [p["test"] for p in parts]
    if distributed.is_main():
        atomic.write_npy(state.run_dir / "oof" / f"{model}.npy", r["oof"])
        atomic.write_npy(state.run_dir / "test" / f"{model}.npy", r["test"])
    state.log(f"[bold]{model}[/bold]: CV {r['mean']:.5f} ± {r['std']:.5f}")
    return r


def _fitted_run(state: RunState, results: dict[str, dict[str, Any]]) -> FittedRun:
    """What finish_run needs from this run."""
    opts = state.opts
    return FittedRun(
        module=state.module,
        cfg=state.cfg,
        data=state.data,
        folds=state.folds,
        results=results,
        run_dir=state.run_dir,
        data_dir=state.data_dir,
        is_sample=state.is_sample,
        log=state.log,
        t_start=state.t_start,
        competition_spec=opts.competition,
        tag=opts.tag,
        submissions_root=opts.submissions_root,
        quiet=opts.quiet,
    )


def _check_fold_count(y: np.ndarray, folding: FoldPlan, groups: Any) -> None:
    """--folds against the data: at most one fold per row (per group; per row of the rarest class when stratified)."""
    if folding.holdout:
        return
    k, kind, n = folding.k, folding.kind, len(y)
    if k > n:
        raise ContractError(f"--folds {k} is more than the {n} training rows; use --folds 2..{n}.")
    if kind == "stratified" and n:
        labels, counts = np.unique(y, return_counts=True)
        if counts.min() < k:
            raise ContractError(
                f"--folds {k}: stratified folds need {k} rows of every class; the rarest class "
                f"({labels[counts.argmin()]}) has {counts.min()}. Use --folds {max(2, int(counts.min()))} or fewer."
            )
    if kind == "group" and groups is not None:
        n_groups = len(np.unique(np.asarray(groups)))
        if k > n_groups:
            raise ContractError(f"--folds {k} is more than the {n_groups} groups of the data; use fewer --folds.")


def _folds(path: Path, y: np.ndarray, folding: FoldPlan, opts: RunOptions, groups: Any) -> np.ndarray:
    """The run's folds: saved ones on resume, else made from the seed and saved."""
    if opts.resume and path.exists():
        folds = np.load(path)
        if len(folds) != len(y):
            raise ContractError(f"--resume {path.parent}: saved folds cover {len(folds)} rows, the data has {len(y)}.")
        return folds
    folds = make_folds(y, folding.k, opts.seed, folding.kind, groups, folding.holdout)
    atomic.write_npy(path, folds)
    return folds


def _load_part(path: Path, h: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["hash"]) != h:
            return None
        return {k: z[k] for k in z.files} | {"score": float(z["score"]), "seconds": float(z["seconds"])}


def _fit_part(state: RunState, job: FoldJob) -> dict[str, Any]:
    """Fit one model on one fold; its OOF and test predictions, score and seconds (saved as a part by rank 0)."""
    data, f = state.data, job.fold
    tr, va = np.flatnonzero(state.folds != f), np.flatnonzero(state.folds == f)
    y = np.asarray(data.y)
    X_tr, y_tr, X_va, y_va = take(data.X, tr), take(y, tr), take(data.X, va), take(y, va)
    est, fit_s = fit_fold(job.estimator, X_tr, y_tr, state.opts.seed + f, state.jobs, _context(state, job, X_va, y_va))
    t0 = time.perf_counter()
    classification, n_classes = data.classes is not None, state.n_classes
    oof = predict_outputs(est, X_va, classification, n_classes)
    test = predict_outputs(est, data.X_test, classification, n_classes)
    seconds = fit_s + time.perf_counter() - t0
    score = float(state.module.score(y_va, oof))
    part = {"valid_idx": va, "oof": oof, "test": test, "score": score, "seconds": seconds, "hash": job.key}
    if distributed.is_main():
        save_fold_model(state.run_dir, job.model, f, est, job.key)  # what `predict` needs (pipeline/modelstore.py)
        job.part_path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_with(job.part_path, lambda tmp: _savez(tmp, part))
    return part


def _context(state: RunState, job: FoldJob, X_va: Any, y_va: Any) -> FitContext:
    """The runner's engineering for an estimator whose fit takes `context=` (only rank 0 writes)."""
    main, opts = distributed.is_main(), state.opts
    return FitContext(
        workdir=state.run_dir / "checkpoints" / job.model / f"fold{job.fold}" if main else None,
        seed=opts.seed + job.fold,
        device=state.device,
        deadline=state.budget.fit_deadline(),
        eval_set=(X_va, y_va),
        score=state.module.score,
        metric=state.module.METRIC,
        resume=bool(opts.resume),
        progress=interactive() and not opts.quiet and main,
        log=state.log,
        fold=job.fold,
        model=job.model,
        n_classes=state.n_classes,
        predict_rows=len(y_va) + len(state.data.X_test),
        sync_bn=opts.sync_bn,
        plots_dir=state.run_dir / "plots" if main else None,
        report=opts.report,
    )


def _savez(tmp: Path, part: dict[str, Any]) -> None:
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in part.items()})


def _collect(
    parts: list[dict[str, Any]], n: int, merge: Callable[[list[np.ndarray]], np.ndarray] | None
) -> dict[str, Any]:
    """OOF rows from every fold; test predictions merged over folds (mean, or the competition's merge_folds)."""
    width = parts[0]["oof"].shape[1]
    oof = np.full((n, width), np.nan)
    for p in parts:
        oof[p["valid_idx"]] = p["oof"]
    scores = [p["score"] for p in parts]
    return {
        "oof": oof,
        "test": merge([p["test"] for p in parts]) if merge else np.mean([p["test"] for p in parts], axis=0),
        "fold_scores": scores,
        "fold_seconds": [p["seconds"] for p in parts],
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
    }
