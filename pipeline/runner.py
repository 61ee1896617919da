"""The runner: load -> folds -> per model, per fold fit -> OOF + test predictions -> blend -> submission."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import atomic, plan
from pipeline.config import config_dict, resolve_config
from pipeline.contract import ContractError, Data, FitContext, competition_name, load_competition
from pipeline.datasets import resolve_data
from pipeline.fitting import accepts_context, default_jobs, fit_fold, pick_device, predict_outputs, take
from pipeline.folds import fold_ids, make_folds
from pipeline.imagefiles import image_paths, verify_images
from pipeline.modelstore import save_fold_model
from pipeline.runfolder import environment, mark_failed, new_run_dir, run_is_complete
from pipeline.runlog import RunLog, interactive, progress
from pipeline.sample_preset import sample_config
from pipeline.stages import finish_run
from pipeline.vision import distributed
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
    # context.extra["report"] for epoch-level reports. Not saved in command.json.
    report: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)


def _config_hash(cfg_json: dict[str, Any], seed: int, k: int, holdout: float, model: str) -> str:
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
    main = distributed.is_main()
    module = load_competition(opts.competition)
    name = competition_name(module)
    cfg, overrides = resolve_config(module, opts.preset, Path(opts.params) if opts.params else None, opts.sets)
    cfg, sample_overrides = sample_config(module, overrides) if opts.sample else (cfg, {})
    if opts.folds is not None and "folds" in {f.name for f in dataclasses.fields(cfg)}:
        cfg = dataclasses.replace(cfg, folds=opts.folds)
    k = opts.folds or getattr(cfg, "folds", 5)
    holdout = float(getattr(cfg, "holdout", 0.0) or 0.0)
    deadline = t_start + opts.time_limit if opts.time_limit else None
    selected = module.models(cfg)
    if opts.models:
        unknown = [m for m in opts.models if m not in selected]
        if unknown:
            raise ContractError(f"Unknown model(s) {', '.join(unknown)}. Models of {name}: {', '.join(selected)}.")
        selected = {m: selected[m] for m in opts.models}
    if opts.resume and run_is_complete(Path(opts.resume)):
        RunLog(None, quiet=opts.quiet or not main)(
            f"{opts.resume} is already complete; nothing to do (its submission and files are unchanged)."
        )
        return Path(opts.resume)
    needs = prepare_for_run(opts, selected)  # pretrained weights here (or fetched) before any data is extracted
    data_dir, is_sample = distributed.in_turn(lambda: resolve_data(module, opts.data, opts.sample))
    # Everything that can be refused from the data is checked before the run folder exists.
    data = module.load(cfg, data_dir)
    check_data(data, name)
    y = np.asarray(data.y)
    kind = getattr(module, "FOLDS", "kfold")
    _check_fold_count(y, k, kind, data.groups, holdout)
    paths = image_paths(data.X, data.X_test)
    if paths:
        show = interactive() and not opts.quiet and main
        distributed.in_turn(lambda: verify_images(paths, cache_dir=data_dir, show_progress=show))

    root = Path(opts.runs_root) if opts.runs_root else None
    if opts.resume:
        run_dir = Path(opts.resume)
    else:
        tag = "-".join(t for t in (opts.tag, "sample" if is_sample else None) if t) or None
        run_dir = distributed.from_main(lambda: new_run_dir(name, tag, root))
    created.append(run_dir)
    log = RunLog(run_dir / "log.txt" if main else None, quiet=opts.quiet or not main)
    needs_torch = any(accepts_context(e) for e in selected.values())
    device = distributed.local_device(pick_device() if needs_torch else "cpu")
    cfg_json = config_dict(cfg)
    if main:
        config_json = {"config": cfg_json, "overrides": overrides, "preset": opts.preset}
        config_json |= {"sample_preset": sample_overrides, "weights": [n.record() for n in needs]}
        atomic.write_json(run_dir / "config.json", config_json)
        saved = {k: v for k, v in dataclasses.asdict(opts).items() if k != "report"}
        atomic.write_json(run_dir / "command.json", {"options": saved, "resolved_data": str(data_dir)})
        env = environment(device) | ({"distributed": distributed.describe()} if distributed.active() else {})
        atomic.write_json(run_dir / "env.json", env)
    source = "built-in sample" if is_sample else data_dir
    log(f"{'resuming' if opts.resume else 'run'} {name} -> {run_dir}  (data: {source})")
    for need in needs:
        log(f"weights: {need.describe()}")

    folds = distributed.from_main(lambda: _folds(run_dir / "folds.npy", y, k, opts, kind, data.groups, holdout))
    classification = data.classes is not None
    fids = fold_ids(folds)
    jobs = opts.jobs or default_jobs()
    budget = plan.Budget(deadline, n_models=len(selected), n_folds=len(fids))
    world = (
        f", {distributed.world_size()} processes ({distributed.describe()['backend']})" if distributed.active() else ""
    )
    log(
        f"{len(y)} training rows, {len(data.X_test)} test rows, {len(fids)} fold(s) ({kind}"
        f"{f', holdout {holdout:g}' if holdout else ''}), models: {', '.join(selected)}, device {device}{world}"
    )

    results: dict[str, dict[str, Any]] = {}
    with progress(interactive() and not opts.quiet and main) as bar:
        task = bar.add_task("fitting", total=len(selected) * len(fids))
        for model_name, estimator in selected.items():
            h = _config_hash(cfg_json, opts.seed, k, holdout, model_name)
            parts, dropped = [], None
            solo = distributed.active() and not distributed.shares_fit(estimator)
            if solo:
                log.warn(f"{model_name} does not train with DDP: rank 0 fits it alone while the other ranks wait")
            for f in fids:
                bar.update(task, description=f"{model_name} fold {f + 1}/{len(fids)}")
                part_path = run_dir / "parts" / model_name / f"fold{f}.npz"
                part = distributed.from_main(lambda: _load_part(part_path, h))  # noqa: B023 (called at once)
                if part is None:
                    # clocks differ between ranks: rank 0 decides
                    reason = distributed.agree(budget.refuse(model_name, have_complete=bool(results)))
                    if reason:
                        dropped = reason
                        break
                    fit = functools.partial(
                        _fit_part,
                        module,
                        estimator,
                        data,
                        folds,
                        f,
                        opts.seed,
                        jobs,
                        device,
                        run_dir,
                        model_name,
                        classification,
                        budget,
                        log,
                        opts,
                        part_path,
                        h,
                    )
                    if budget.deadline is not None and results and not accepts_context(estimator):
                        # Tabular fits cannot be cut short: run them where the runner can stop waiting.
                        fit = functools.partial(plan.call_with_deadline, fit, budget.remaining())
                    # a model without DDP support: rank 0 fits, the other ranks receive its predictions
                    part = distributed.from_main(fit) if solo else fit()
                    if part is None:
                        dropped = "a fold did not finish before the time limit"
                        break
                budget.record(model_name, part["seconds"])
                parts.append(part)
                bar.advance(task)
                log(f"{model_name} fold {f}: {module.METRIC.name} {part['score']:.5f} ({part['seconds']:.1f}s)")
                if opts.report is not None:
                    done = [p["score"] for p in parts]
                    opts.report(
                        {
                            "model": model_name,
                            "fold": f,
                            "score": part["score"],
                            "folds_done": len(done),
                            "running_mean": float(np.mean(done)),
                        }
                    )
            if dropped:
                log.warn(f"{model_name} skipped: {dropped}")
                bar.advance(task, len(fids) - len(parts))
                continue
            results[model_name] = _collect(parts, len(y), getattr(module, "merge_folds", None))
            r = results[model_name]
            if getattr(module, "CALIBRATE", None):  # calibration applies to each fold model's test predictions
                r["fold_tests"] = [p["test"] for p in parts]
            if main:
                atomic.write_npy(run_dir / "oof" / f"{model_name}.npy", r["oof"])
                atomic.write_npy(run_dir / "test" / f"{model_name}.npy", r["test"])
            log(f"[bold]{model_name}[/bold]: CV {r['mean']:.5f} ± {r['std']:.5f}")
    if not results:
        raise ContractError("No model finished within the time limit; raise --time-limit or use a faster preset.")
    if not main:
        distributed.barrier()  # rank 0 blends and writes the submission
        return run_dir
    out = finish_run(module, cfg, data, y, folds, results, run_dir, data_dir, is_sample, opts, log, t_start)
    distributed.barrier()
    return out


def _check_fold_count(y: np.ndarray, k: int, kind: str, groups: Any, holdout: float) -> None:
    """--folds against the data: at most one fold per row (per group; per row of the rarest class when stratified)."""
    if holdout:
        return
    n = len(y)
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


def _folds(path: Path, y: np.ndarray, k: int, opts: RunOptions, kind: str, groups: Any, holdout: float) -> np.ndarray:
    """The run's folds: saved ones on resume, else made from the seed and saved."""
    if opts.resume and path.exists():
        folds = np.load(path)
        if len(folds) != len(y):
            raise ContractError(f"--resume {path.parent}: saved folds cover {len(folds)} rows, the data has {len(y)}.")
        return folds
    folds = make_folds(y, k, opts.seed, kind, groups, holdout)
    atomic.write_npy(path, folds)
    return folds


def _load_part(path: Path, h: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["hash"]) != h:
            return None
        return {k: z[k] for k in z.files} | {"score": float(z["score"]), "seconds": float(z["seconds"])}


def _fit_part(
    module: Any,
    estimator: Any,
    data: Data,
    folds: np.ndarray,
    f: int,
    seed: int,
    jobs: int,
    device: str,
    run_dir: Path,
    model_name: str,
    classification: bool,
    budget: plan.Budget,
    log: RunLog,
    opts: RunOptions,
    part_path: Path,
    h: str,
) -> dict[str, Any]:
    tr, va = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
    X_tr, y_tr = take(data.X, tr), take(np.asarray(data.y), tr)
    X_va, y_va = take(data.X, va), take(np.asarray(data.y), va)
    main = distributed.is_main()
    context = FitContext(
        workdir=run_dir / "checkpoints" / model_name / f"fold{f}" if main else None,  # only rank 0 writes
        seed=seed + f,
        device=device,
        deadline=budget.fit_deadline(model_name),
        eval_set=(X_va, y_va),
        score=module.score,
        metric=module.METRIC,
        resume=bool(opts.resume),
        progress=interactive() and not opts.quiet and main,
        log=log,
        extra={
            "predict_rows": len(va) + len(data.X_test),
            "fold": f,
            "model": model_name,
            "n_classes": len(data.classes) if data.classes is not None else None,
            "report": opts.report,
            "sync_bn": opts.sync_bn,
        },
    )
    est, fit_s = fit_fold(estimator, X_tr, y_tr, seed + f, jobs, context)
    t0 = time.perf_counter()
    n_classes = len(data.classes) if classification else None
    oof = predict_outputs(est, X_va, classification, n_classes)
    test = predict_outputs(est, data.X_test, classification, n_classes)
    seconds = fit_s + time.perf_counter() - t0
    score = float(module.score(y_va, oof))
    part = {"valid_idx": va, "oof": oof, "test": test, "score": score, "seconds": seconds, "hash": h}
    if main:
        save_fold_model(run_dir, model_name, f, est, h)  # what `predict` needs (pipeline/modelstore.py)
        part_path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_with(part_path, lambda tmp: _savez(tmp, part))
    return part


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
