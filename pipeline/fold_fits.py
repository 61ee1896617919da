"""One model over the run's folds: each fold's fit a FoldJob kept as a part file (so a run resumes fold by fold),
then, when Config.refit asks, the refit on every training row; the model's results from its parts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline import distributed, importance, pseudo, runfolder
from pipeline.budget import call_with_deadline
from pipeline.contract import FitContext
from pipeline.finish import merge_fold_tests, model_score
from pipeline.fitting import accepts_context, derived_seed, fit_fold, predict_outputs, take
from pipeline.folds import finite_mean, fold_ids, fold_score, runs_forward, training_rows
from pipeline.modelstore import save_fold_model
from pipeline.refit import clone_with, fold_params, refit_params, refit_rows
from pipeline.runfolder import FULL, fit_stem
from pipeline.runlog import interactive
from pipeline.runstate import FoldJob, RunState


def fit_model(
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


def _config_hash(cfg_json: dict[str, Any], seed: int, k: int, holdout: float, model: str) -> str:
    """The key of a model's saved parts: a part is reused only under the same config, seed, folds and model.

    Saved runs (parts/, models/) carry it: changing what goes in it makes every earlier run refit on --resume.
    """
    blob = json.dumps({"cfg": cfg_json, "seed": seed, "k": k, "holdout": holdout, "model": model}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
    # found by rank 0, read by every rank that sees the file (sent to the others): a part can hold large predictions
    saved = lambda: job.part_path if job.part_path.exists() else None  # noqa: E731
    part = distributed.load_from_main(saved, lambda path: runfolder.read_part(path, job.key))
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
