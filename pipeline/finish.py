"""The runner's last stages: blend on OOF, write and validate the submission, plots, summary."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import atomic, stacking, threshold
from pipeline.blend import BLEND_WEIGHTS, blend, fit_weights, nested_blend
from pipeline.contract import ContractError, Data, competition_hook, competition_name
from pipeline.folds import fold_ids, fold_score, runs_forward, scored_rows
from pipeline.refit import CHOICES as refit_choices
from pipeline.report import print_summary
from pipeline.runfolder import write_predictions, write_record, write_stages
from pipeline.runlog import RunLog
from pipeline.submission import SubmissionError, validate_submission


def submissions_root(opts: Any = None) -> Path:
    """submissions/ in the working directory (or the option given)."""
    given = getattr(opts, "submissions_root", None)
    return Path(given) if given else Path.cwd() / "submissions"


def model_score(module: Any, cfg: Any) -> Callable[[Any, Any], float]:
    """How the runner scores one model's predictions (each fold's, and each epoch's validation through the
    FitContext): the competition's `score`, given the run's Config as `cfg=` when it takes one (a detection
    competition that fits its confidence cut scores a detector's boxes at min_score: pipeline/detection/csv_boxes.py).
    The stages after the models score their predictions with `stage_score`."""
    return competition_hook(module, "score", cfg) or module.score


def stage_score(module: Any, cfg: Any) -> Callable[[Any, Any], float]:
    """How the stages after the models score the blend's predictions (the blend weights' fit, the CV, each fold's
    score that `tune` compares): as a model's are, where the competition has no blend hook, so that its blend's
    predictions are of its models' kind: a segmentation run's probabilities, which its submission cuts at the
    Config's mask_threshold and min_area, are scored at that cut (pipeline/segmentation/csv_masks.py), not at its
    defaults. A blend hook's predictions are scored with `score` alone: a detection blend's boxes are already cut,
    at min_score or at the cut fitted out of fold after it, which the Config's min_score would cut again."""
    return module.score if hasattr(module, "blend") else model_score(module, cfg)


def merge_fold_tests(module: Any, cfg: Any, tests: list[np.ndarray]) -> np.ndarray:
    """The fold models' test predictions merged: the competition's merge_folds hook, else their mean; for folds
    forward in time (FOLDS = "time") the last fold's, whose model learned from the most and the latest rows (the
    first fold's saw one period only). A model refitted on every training row (Config.refit) predicts the test rows
    itself instead; this is what a refit the time limit refused leaves."""
    merge = competition_hook(module, "merge_folds", cfg)
    if merge is not None:
        return merge(tests)
    return np.asarray(tests[-1]) if runs_forward(module) else np.mean(tests, axis=0)


def _fit_blend(
    module: Any,
    cfg: Any,
    oofs: dict[str, np.ndarray],
    tests: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
) -> dict[str, Any]:
    """The competition's blend hook, or non-negative weights fitted on the scored OOF rows, applied to `tests`."""
    hook = competition_hook(module, "blend", cfg)
    if hook is not None:
        return hook(oofs, tests, y, folds)
    greedy = getattr(cfg, "blend_weights", "auto") == "greedy"
    weights = fit_weights(oofs, y, stage_score(module, cfg), module.METRIC, scored_rows(folds), greedy=greedy)
    w = np.array([weights[n] for n in oofs])
    return {"weights": weights, "oof": blend(list(oofs.values()), w), "test": blend(list(tests.values()), w)}


def apply_weights(module: Any, cfg: Any, weights: dict[str, float], tests: dict[str, np.ndarray]) -> np.ndarray:
    """The blend's test predictions from weights fitted before (blend.json's): the competition's apply_blend hook (a
    blend hook's own use of the weights it chose), else their weighted average."""
    hook = competition_hook(module, "apply_blend", cfg)
    if hook is not None:
        return hook(weights, tests)
    if hasattr(module, "blend"):
        raise ContractError("the competition's blend hook has no apply_blend: its saved weights cannot be applied.")
    return blend([tests[m] for m in weights], np.array([float(w) for w in weights.values()]))


def blend_results(
    module: Any, y: np.ndarray, folds: np.ndarray, results: dict[str, dict[str, Any]], cfg: Any = None
) -> dict[str, Any]:
    """Blend weights on OOF rows; scores of the blend, the equal-weight mean and the best single model.

    "score" and "oof" are out of fold: each fold's rows blended with weights fitted on the other folds' OOF rows
    (pipeline.blend.nested_blend); "in_sample_score" is the blend with the final weights scored on the very rows
    they were fitted on (optimistic, kept for comparison). "weights" and "test" use weights fitted on all OOF rows.
    """
    mask, score = scored_rows(folds), stage_score(module, cfg)
    oofs = {m: r["oof"] for m, r in results.items()}
    tests = {m: r["test"] for m, r in results.items()}
    b = _fit_blend(module, cfg, oofs, tests, y, folds)
    equal = None
    if not hasattr(module, "blend"):
        names = list(oofs)
        equal = blend(list(oofs.values()), np.full(len(names), 1 / len(names)))  # every row: _weights_choice's too
        single = {n: float(score(y[mask], oofs[n][mask])) for n in names}
        best = (max if module.METRIC.greater_is_better else min)(single, key=single.get)
        b |= {
            "score": float(score(y[mask], b["oof"][mask])),
            "equal_score": float(score(y[mask], equal[mask])),
            "best_single": best,
            "best_single_score": single[best],
            "oof_scores": single,
        }
    fit = functools.partial(_fit_blend, module, cfg)
    nested_oof, parts = nested_blend(fit, oofs, y, folds, b["oof"], runs_forward(module))  # time: earlier folds only
    b["in_sample_score"] = b["score"]
    b["out_of_fold"] = bool(parts)
    b["nested"] = parts
    if parts:
        b["oof"] = nested_oof
        b["score"] = float(score(y[mask], nested_oof[mask]))
    if equal is not None and len(oofs) > 1:
        b = _weights_choice(module, cfg, b, equal, tests)
    return b


def check_settings(cfg: Any, metric: str | None = None) -> None:
    """Refuse a Config value the stages after the fold models read (Config.stack, Config.blend_weights, Config.refit,
    and with the competition's `metric` Config.threshold) before any model is fitted: found only at the blend, it
    cost the whole run."""
    stack = getattr(cfg, "stack", "off") or "off"
    if stack not in stacking.METHODS:
        raise ContractError(f"Config.stack must be one of {', '.join(stacking.METHODS)}, got {stack!r}.")
    choice = getattr(cfg, "blend_weights", "auto")
    if choice not in BLEND_WEIGHTS:
        raise ContractError(f"Config.blend_weights must be one of {', '.join(BLEND_WEIGHTS)}, got {choice!r}.")
    refit = getattr(cfg, "refit", "auto") or "auto"
    if refit not in refit_choices:
        raise ContractError(f"Config.refit must be one of {', '.join(refit_choices)}, got {refit!r}.")
    if metric is not None:
        threshold.check_setting(cfg, metric)


def _weights_choice(
    module: Any, cfg: Any, b: dict[str, Any], equal_oof: np.ndarray, tests: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The blend with equal weights instead of fitted ones when Config.blend_weights says "equal", or says "auto"
    (the default) and the equal-weight mean scores better out of fold than the fitted weights do (each fold blended
    with weights fitted on the other folds). Fitted weights chase the rows they are fitted on: on House Prices a
    linear model that fails on one fold's huge houses got 0.35 of the weight fitted on the other folds, and that
    fold's blend lost 0.05 RMSLE. Equal weights fit nothing, so their out-of-fold score is honest as it is."""
    if cfg is not None:
        check_settings(cfg, module.METRIC.name)  # the runner checked it before the folds; ensemble and predict read
        # a saved Config
    choice = getattr(cfg, "blend_weights", "auto") if cfg is not None else "auto"
    if choice in ("fitted", "greedy") or (choice == "auto" and not module.METRIC.better(b["equal_score"], b["score"])):
        return b
    weights = dict.fromkeys(tests, 1.0 / len(tests))
    parts = [p | {"fit_pred": equal_oof[p["fit"]], "weights": weights} for p in b["nested"]]
    return b | {
        "fitted_weights": b["weights"],
        "fitted_score": b["score"],
        "weights": weights,
        "oof": equal_oof,
        "test": blend(list(tests.values()), np.array(list(weights.values()))),
        "score": b["equal_score"],  # nothing fitted: the equal-weight mean's score is its out-of-fold score
        "in_sample_score": b["equal_score"],
        "equal_weights": True,
        "nested": parts,
    }


def fold_blends(module: Any, b: dict[str, Any], results: dict[str, Any] | None) -> list[np.ndarray] | None:
    """The blend's test predictions per fold (sum over models of weight x that fold's model), when they exist."""
    if not results or hasattr(module, "blend") or hasattr(module, "merge_folds"):
        return None
    parts = [r.get("fold_tests") for r in results.values()]
    if any(p is None for p in parts) or len({len(p) for p in parts}) != 1:
        return None  # e.g. `pipeline ensemble`, which has the fold-averaged test predictions only
    w = b["weights"]
    return [sum(w[m] * np.asarray(r["fold_tests"][f]) for m, r in results.items()) for f in range(len(parts[0]))]


def calibrate_blend(
    module: Any,
    y: np.ndarray,
    folds: np.ndarray,
    b: dict[str, Any],
    run_dir: Path,
    log: RunLog,
    results: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, float, dict[str, Any] | None]:
    """The competition's CALIBRATE (if any) fitted on the blended OOF rows: (oof, test, cv, info).

    Applied only when it improves the out-of-fold score (each fold's rows calibrated with parameters fitted on the
    other folds), to each fold's blended test predictions before they are averaged when `results` holds them; the
    calibrated arrays go to oof|test/_calibrated.npy and the fitted parameters with the scores before and after to
    calibration.json.
    """
    oof, test, cv = np.asarray(b["oof"]), np.asarray(b["test"]), float(b["score"])
    method = getattr(module, "CALIBRATE", None)
    if not method:
        return oof, test, cv, None
    from pipeline.calibration import calibrate

    mask = scored_rows(folds)
    oof, test, info = calibrate(
        method, oof, test, y, mask, module.score, module.METRIC, fold_blends(module, b, results), b.get("nested")
    )
    write_record(run_dir, "calibration", info)
    if info["applied"]:
        write_predictions(run_dir, "_calibrated", oof, test)
        cv = info["score_after"]
        log(
            f"calibration: temperature {info['temperature']:.4f}, out-of-fold {module.METRIC.name} "
            f"{info['score_before']:.5f} -> {info['score_after']:.5f}"
        )
    elif "temperature" in info:
        log(
            f"calibration not applied: temperature {info['temperature']:.4f} gives out-of-fold {module.METRIC.name} "
            f"{info['score_after']:.5f} vs {info['score_before']:.5f} without"
        )
    else:
        log.warn(f"calibration skipped: {info['reason']}")
    return oof, test, cv, info


def stages_record(b: dict[str, Any], calibration: dict[str, Any] | None) -> dict[str, Any]:
    """stages.json's stages: the blend's weights, then what each later stage that changed the predictions fitted (the
    stack's and the cut's parts in b["stages"], the calibration's temperature from its info), for pipeline.stages."""
    record: dict[str, Any] = {"blend": {"weights": dict(b["weights"])}} | b.get("stages", {})
    if calibration and calibration.get("applied"):
        record["calibration"] = {k: calibration[k] for k in ("method", "temperature", "test_per_fold")}
    return record


def validate_for(module: Any, data: Data, path: Path) -> None:
    """The competition's own validate(data, path), or the CSV check against its sample submission."""
    if hasattr(module, "validate"):
        module.validate(data, path)
        return
    allowed = None
    if data.classes is not None:
        import pandas as pd

        cols = list(pd.read_csv(data.sample_submission, nrows=0).columns)
        allowed = {c: data.classes for c in cols[1:]}
    validate_submission(path, data.sample_submission, allowed=allowed)


def write_validated_submission(
    module: Any, data: Data, pred: np.ndarray, run_dir: Path, rejected_to: Path | None = None
) -> Path:
    """Write the competition's submission into the run folder, atomically, only if it validates; a rejected one is
    kept as rejected-<name> in `rejected_to` (predict's --out, whose scratch folder goes), else in the run folder."""
    name = getattr(module, "SUBMISSION_FILE", "submission.csv")
    final = run_dir / name
    tmp = run_dir / f".{name}.pending"
    tmp.unlink(missing_ok=True)
    try:
        module.write_submission(data, pred, tmp)
        validate_for(module, data, tmp)
    except SubmissionError as e:
        rejected = (rejected_to or run_dir) / f"rejected-{name}"
        if tmp.exists():
            tmp.replace(rejected)
        message = str(e).replace(tmp.name, name)  # name the file as the user will know it
        written = "nothing was written to submissions/" if rejected_to is None else f"no {name} was written"
        raise SubmissionError(f"{message} (the rejected file is kept at {rejected}; {written})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)  # no .pending left behind by any other failure
        raise
    tmp.replace(final)
    return final


def publish(final: Path, competition: str, run_id: str, opts: Any = None) -> Path:
    """Copy an accepted submission to submissions/<competition>/<run-id>.<ext>, atomically."""
    dest = submissions_root(opts) / competition / f"{run_id}{''.join(final.suffixes) or '.csv'}"
    atomic.write_with(dest, lambda tmp: shutil.copyfile(final, tmp))
    return dest


@dataclass(frozen=True)
class RunInputs:
    """What a run reads: the competition, its resolved Config and the data loaded from `data_dir`."""

    module: Any  # the competition
    cfg: Any  # its resolved Config
    data: Data
    data_dir: Path
    is_sample: bool  # the competition's built-in sample, not real data


@dataclass(kw_only=True)
class FittedRun:
    """What `finish_run` needs once every model has its out-of-fold and test predictions."""

    inputs: RunInputs
    folds: np.ndarray  # fold index per training row (-1: training-only rows of a holdout)
    run_dir: Path
    log: RunLog
    t_start: float  # time.monotonic() when the run began
    # The run's options (a runner.RunOptions): competition as given on the command line (recorded for `ensemble`
    # and `submit`), tag, submissions_root (default: submissions/ in the working directory), quiet (no summary table)
    opts: Any
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # per model: oof, test, fold_scores,
    # fold_seconds, mean, std (fold_tests, refit, refit_seconds)
    refit: bool = False  # the run refits each model on every training row (Config.refit): summary.json says so
    more: dict[str, Any] = field(default_factory=dict)  # more for summary.json (an ensemble's: the runs it blends)

    @property
    def module(self) -> Any:
        return self.inputs.module

    @property
    def cfg(self) -> Any:
        return self.inputs.cfg

    @property
    def data(self) -> Data:
        return self.inputs.data

    @property
    def y(self) -> np.ndarray:
        return np.asarray(self.data.y)


def finish_run(run: FittedRun) -> Path:
    """Blend, write + validate + publish the submission, draw plots and write summary.json; return the run folder."""
    module, run_dir, y = run.module, run.run_dir, run.y
    b = blend_results(module, y, run.folds, run.results, run.cfg)
    _write_blend(b, run.results, run_dir)
    b = stacking.apply(module, run.cfg, run.data, y, run.folds, run.results, b, run_dir, run.log)  # Config.stack
    b = threshold.apply(module, run.cfg, run.data, y, run.folds, b, run_dir, run.log, run.results)  # Config.threshold
    oof, test, cv, calibration = calibrate_blend(module, y, run.folds, b, run_dir, run.log, run.results)
    write_stages(run_dir, stages_record(b, calibration))  # what predict applies to a new test set (pipeline/stages.py)
    final = write_validated_submission(module, run.data, test, run_dir)
    published = publish(final, competition_name(module), run_dir.name, run.opts)
    try:
        from pipeline.plots import run_plots

        run_plots(module, run.data, y, run.folds, oof, run_dir)
    except Exception as e:  # a plot must never cost a finished run
        run.log.warn(f"plots failed: {type(e).__name__}: {e}")
    summary = _summary(run, b, cv, calibration, final, published) | {
        "cv_folds": fold_scores(module, y, run.folds, oof, run.cfg),
        "class_scores": class_scores(module, run.cfg, y, run.folds, oof, run.log),
    }
    summary |= run.more
    write_record(run_dir, "summary", summary)
    run.log(f"submission {published} (validated against {Path(run.data.sample_submission).name})")
    if not run.opts.quiet:
        print_summary(summary)
    return run_dir


def fold_scores(module: Any, y: np.ndarray, folds: np.ndarray, oof: np.ndarray, cfg: Any = None) -> list[float] | None:
    """The final stage's score on each fold's rows (what `tune` compares trials on, fold by fold; scored as the CV
    is, `stage_score`): NaN for a fold whose rows alone do not define it (folds.fold_score: ROC AUC of a fold holding
    one class), None where the competition's score cannot take a fold's rows alone."""
    score = stage_score(module, cfg)
    try:
        return [fold_score(score, y[folds == f], np.asarray(oof)[folds == f]) for f in fold_ids(folds)]
    except Exception:  # e.g. a score that needs every image of the data
        return None


def class_scores(
    module: Any, cfg: Any, y: np.ndarray, folds: np.ndarray, oof: np.ndarray, log: RunLog
) -> dict[str, float] | None:
    """The final stage's score of each class on the scored rows, out of fold as the CV (the competition's optional
    `class_scores` hook: a segmentation competition's Dice per class, CsvMasks.class_scores), logged in one line;
    None without the hook, or where it fails (a report must never cost a finished run)."""
    hook = competition_hook(module, "class_scores", cfg)
    if hook is None:
        return None
    mask = scored_rows(folds)
    try:
        scores = {str(k): float(v) for k, v in hook(y[mask], np.asarray(oof)[mask]).items()}
    except Exception as e:
        log.warn(f"class scores failed: {type(e).__name__}: {e}")
        return None
    log(f"{module.METRIC.name} per class (out of fold): " + ", ".join(f"{k} {v:.5f}" for k, v in scores.items()))
    return scores


# What scores.json records of each model (and `ensemble` reads back)
SCORE_FIELDS = ("fold_scores", "fold_seconds", "mean", "std")
# What blend.json records of a blend; summary.json's "blend" adds the best single model's score.
BLEND_FIELDS = (
    "weights",
    "score",
    "out_of_fold",
    "in_sample_score",
    "equal_score",
    "best_single",
    "equal_weights",
    "fitted_weights",
    "fitted_score",
    "oof_scores",
)


def _write_blend(b: dict[str, Any], results: dict[str, dict[str, Any]], run_dir: Path) -> None:
    """blend.json, the blend's OOF and test predictions, and scores.json (per model and the blend)."""
    write_record(run_dir, "blend", {k: b.get(k) for k in BLEND_FIELDS})
    write_predictions(run_dir, "_blend", b["oof"], b["test"])
    scores = {m: {k: r[k] for k in SCORE_FIELDS} for m, r in results.items()}
    keys = ("score", "out_of_fold", "in_sample_score", "equal_score", "best_single", "best_single_score", "weights")
    scores["_blend"] = {k: b.get(k) for k in keys}
    write_record(run_dir, "scores", scores)


def _columns(X: Any) -> list[str] | None:
    """A frame's column names (None for other inputs, such as a list of image files)."""
    return [str(c) for c in X.columns] if isinstance(getattr(X, "columns", None), pd.Index) else None


def _summary(
    run: FittedRun, b: dict[str, Any], cv: float, calibration: dict[str, Any] | None, final: Path, published: Path
) -> dict[str, Any]:
    """summary.json of a complete run."""
    name, module, t_start = competition_name(run.module), run.module, run.t_start
    return {
        "status": "complete",
        "competition": name,
        "competition_spec": run.opts.competition or name,
        "slug": module.KAGGLE_SLUG,
        "run_id": run.run_dir.name,
        "run_dir": str(run.run_dir),
        "sample": run.inputs.is_sample,
        "data_dir": str(run.inputs.data_dir),
        "metric": module.METRIC.name,
        "greater_is_better": module.METRIC.greater_is_better,
        "cv": cv,
        "cv_rows": int(scored_rows(run.folds).sum()),
        "n_rows": len(run.y),
        "classes": None if run.data.classes is None else [str(c) for c in run.data.classes],  # predict checks them
        "features": _columns(run.data.X_test),  # the columns the models predict from (predict checks them too)
        # what the competition's load_test needs of the training rows to read a test set alone (Data.info["trained"])
        "trained": (run.data.info or {}).get("trained"),
        "models": {
            m: {
                "mean": r["mean"],
                "std": r["std"],
                "seconds": float(np.sum(r["fold_seconds"])) + float(r.get("refit_seconds", 0.0)),
                "refit": bool(r.get("refit")),  # its test predictions are its refit's on every row (predict reads it)
                # a student of Config.pseudo_label: the test rows each fold's fit learned from
                **({"pseudo_rows": r["pseudo_rows"]} if "pseudo_rows" in r else {}),
            }
            for m, r in run.results.items()
        },
        "blend": {
            **{k: b.get(k) for k in BLEND_FIELDS},
            "best_single_score": b.get("best_single_score"),
        },
        "refit": run.refit,  # each model was to be refitted on every row: one test prediction per model (predict)
        "calibration": calibration,
        "stack": b.get("stack"),
        "threshold": b.get("threshold"),
        "submission": str(final),
        "published": str(published),
        "seconds": time.monotonic() - t_start,
        "started": dt.datetime.fromtimestamp(time.time() - (time.monotonic() - t_start)).isoformat(timespec="seconds"),
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "tag": run.opts.tag,
    }
