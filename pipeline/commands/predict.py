"""`python -m pipeline predict RUN_DIR --data PATH`: a new test set through a finished run's saved models, no training.

Each fold's fitted model (models/, pipeline/modelstore.py) predicts the test rows; the folds are merged as the run
merged them; the stages the run fitted after them on its OOF predictions (blend weights, level-2 stack, F1/MCC
threshold or QWK grade cuts, calibration) are applied as the run saved them in stages.json (pipeline/stages.py);
the submission is written and validated with the run's own rules. On the run's own test data the result is the
run's submission: identical for tabular models, equal within float tolerance for deep models predicted on another
device.

Predict reads the new test set only (a folder or zip holding the test file(s) and the sample submission) where the
competition defines `load_test`: every competition of this project and those `new` generates. The training data is
still read, and named when missing, where the test rows depend on the training rows beyond the saved models (a
generated competition's id groups, whose sizes count the training rows; load_test raises TrainingDataNeeded saying
why), and for a run folder without a stages.json it can use (a run made before runs saved it, a folder copied
without it, or one written by another version of the project): its stages are refitted from the saved OOF predictions
against the training targets, exactly as the run fitted them (the refitted weights are checked against blend.json).

An ensemble of saved runs (`ensemble RUN RUN ...`) is predicted through the runs it blends, each with its own Config
and saved models, and its own saved stages (pipeline/ensemble_predict.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import read_json
from pipeline.contract import Data, competition_name
from pipeline.prediction import (
    default_out,
    load_run,
    predict_models,
    read_checked,
    read_summary,
    saved_fits,
    warn_versions,
    write_prediction,
)

HELP = "predict a test set with a finished run's saved models (no training); writes a validated submission"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (runs/<competition>/<run-id>)")
    p.add_argument(
        "--data",
        default=None,
        help="a zip or folder holding the test set to predict (the test file(s) and sample submission suffice; the "
        "training data too where the run says it needs it); default: the built-in sample "
        "for a run made on it, else the Kaggle notebook's mounted competition in a notebook, else data/<slug>/",
    )
    p.add_argument(
        "--out",
        default=None,
        help="folder for the submission (default: the working directory in a Kaggle notebook, "
        "else predictions/<competition>/<run-id>/)",
    )
    p.add_argument("--device", default=None, help="device for deep models (default: CUDA when available, else CPU)")
    p.add_argument("--quiet", action="store_true", help="print errors only")


def main(args: argparse.Namespace) -> int:
    out = predict_run(Path(args.run_dir), args.data, Path(args.out) if args.out else None, args.device, args.quiet)
    if not args.quiet:
        print(f"submission {out}")
    return 0


def predict_run(
    run_dir: Path, data_path: str | None, out: Path | None = None, device: str | None = None, quiet: bool = False
) -> Path:
    """Predict `data_path`'s test set with the run's saved models (an ensemble's: with its runs' saved models,
    pipeline/ensemble_predict.py); return the validated submission file."""
    from pipeline import stages
    from pipeline.runlog import RunLog

    run_dir = Path(run_dir)
    log = RunLog(None, quiet=quiet)
    if "members" in (summary := read_summary(run_dir)):
        from pipeline.ensemble_predict import predict_ensemble

        return predict_ensemble(run_dir, summary, data_path, out, device, log)
    module, cfg, summary = load_run(run_dir)
    name = competition_name(module)
    fits = saved_fits(run_dir, summary)  # every saved model is there before any data is read
    warn_versions(run_dir, log)
    record = stages.read(run_dir, summary)
    refits = stages.unusable(module, run_dir, record)  # "": the saved stages make the submission, no refit
    data, data_dir, sample = read_checked(module, cfg, run_dir, summary, data_path, refits, log)
    source = "built-in sample" if sample else str(data_dir)
    rows = f"{len(data.X_test)} test rows, models {', '.join(fits)}"
    log(f"predict {name} with {run_dir.name}: {rows}  (data: {source})")
    results = predict_models(module, cfg, run_dir, summary, fits, data, device, log)

    def test_of(work: Path) -> np.ndarray:
        if not refits:
            log(f"{stages.describe(record)}: as the run fitted them (stages.json; no refit)")
            return stages.apply(module, cfg, record, results)
        log(f"stages refitted from the run's OOF predictions against the training targets: {refits}")
        return _refitted_test(module, cfg, run_dir, data, np.load(run_dir / "folds.npy"), results, work, log)

    return write_prediction(module, data, out or default_out(run_dir, name), summary, test_of, log)


def _refitted_test(
    module: Any,
    cfg: Any,
    run_dir: Path,
    data: Data,
    folds: np.ndarray,
    results: dict[str, dict[str, Any]],
    work: Path,
    log: Any,
) -> np.ndarray:
    """The submission's test predictions with the blend, and any stack, threshold and calibration, refitted from the
    run's OOF predictions against the training targets, as the run fitted them (their records go to `work`)."""
    from pipeline import stacking, threshold
    from pipeline.finish import blend_results, calibrate_blend
    from pipeline.runlog import RunLog

    y = np.asarray(data.y)
    b = blend_results(module, y, folds, results, cfg)
    saved = read_json(run_dir / "blend.json").get("weights") if (run_dir / "blend.json").is_file() else None
    if isinstance(saved, dict) and set(saved) == set(b["weights"]):
        drift = max(abs(float(saved[m]) - float(b["weights"][m])) for m in saved)
        if drift > 1e-9:
            log.warn(f"blend weights refitted from the saved OOF predictions differ from blend.json by {drift:.2e}")
    b = stacking.apply(module, cfg, data, y, folds, results, b, work, RunLog(None, quiet=True))
    b = threshold.apply(module, cfg, data, y, folds, b, work, RunLog(None, quiet=True), results)
    _, test, _, _ = calibrate_blend(module, y, folds, b, work, RunLog(None, quiet=True), results)
    return test
