"""`submit`: upload a run's submission to Kaggle after validating it again, and record it in the run folder."""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.contract import ContractError

HELP = "Submit a run's submission to Kaggle (the latest run by default), re-validated first; recorded in the run."


class SubmitError(ContractError):
    """This run cannot be submitted (sample data, no run, closed competition, invalid file)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `submit`."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument("run_dir", nargs="?", help="run folder or run id (default: the latest run of the competition)")
    p.add_argument("-m", "--message", help="submission description (default: the run id and its CV score)")


def resolve_run(name: str, given: str | None) -> Path:
    """The run folder to submit: the one given (path or run id) or the competition's latest finished run."""
    from pipeline.runfolder import latest_run, runs_root

    if given is None:
        run_dir = latest_run(name)
        if run_dir is None:
            raise SubmitError(
                f"No finished run of {name} in runs/{name}/. Make one first: python -m pipeline run competitions/{name}"
            )
        return run_dir
    for candidate in (Path(given), runs_root() / name / given):
        if candidate.is_dir():
            if not (candidate / "summary.json").is_file():
                raise SubmitError(
                    f"{given}: not a finished run folder (no summary.json). Resume it with "
                    f"python -m pipeline run --resume {given}"
                )
            return candidate
    raise SubmitError(
        f"{given}: no such run folder (nor runs/{name}/{given}). "
        f"See the runs: python -m pipeline runs competitions/{name}"
    )


def submission_file(run_dir: Path, summary: dict[str, Any]) -> Path:
    """The validated submission inside the run folder (found by name if the folder was moved)."""
    recorded = Path(str(summary.get("submission") or "submission.csv"))
    for candidate in (run_dir / recorded.name, recorded):
        if candidate.is_file():
            return candidate
    raise SubmitError(f"Run {run_dir.name} has no submission file ({recorded.name} is missing from {run_dir}).")


def default_message(summary: dict[str, Any], run_id: str) -> str:
    """The run id and its CV score, so `submissions` can match Kaggle's list back to the run."""
    cv = summary.get("cv")
    score = f"{cv:.6g}" if isinstance(cv, int | float) and math.isfinite(cv) else "n/a"
    metric = summary.get("metric")
    metric = metric.get("name") if isinstance(metric, dict) else metric
    return f"run {run_id} | CV {metric or 'score'} {score}"


def _sample_submission(data_dir: Path) -> Path | None:
    found = sorted(p for p in data_dir.glob("*.csv") if "samplesubmission" in p.stem.lower().replace("_", ""))
    return found[0] if found else None


def _has_text_columns(sample: Path) -> bool:
    import pandas as pd

    frame = pd.read_csv(sample, nrows=1000)
    return any(not pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns[1:])


def revalidate(module: ModuleType, run_dir: Path, summary: dict[str, Any], path: Path) -> None:
    """Check the file again as the runner did: against the sample submission (and the classes or custom validate)."""
    from pipeline.submission import SubmissionError, validate_submission

    name = module.__name__.rsplit(".", 1)[-1]
    data_dir = Path(str(summary.get("data_dir") or ""))
    if not data_dir.is_dir():
        raise SubmitError(
            f"Cannot re-validate run {run_dir.name}: its data folder {data_dir} is gone. Get the data "
            f"again (python -m pipeline download competitions/{name})."
        )
    sample = _sample_submission(data_dir)
    try:
        if sample is not None and not hasattr(module, "validate") and not _has_text_columns(sample):
            validate_submission(path, sample)
            return
        from pipeline.stages import validate_for

        validate_for(module, module.load(_saved_config(module, run_dir), data_dir), path)
    except SubmissionError as e:
        raise SubmissionError(f"Not submitted: the submission of run {run_dir.name} does not validate: {e}") from None


def _saved_config(module: ModuleType, run_dir: Path) -> Any:
    from pipeline.atomic import read_json
    from pipeline.config import apply_overrides

    try:
        return apply_overrides(module.Config, read_json(run_dir / "config.json")["config"], source="saved config")
    except (OSError, KeyError, ValueError, TypeError):
        return module.Config()


def main(args: argparse.Namespace) -> int:
    """Re-validate, upload, record."""
    from pipeline import contract
    from pipeline.atomic import read_json
    from pipeline.kaggle_io import submit_file
    from pipeline.kaggle_records import RECORD_FILE, add_record

    module = contract.load_competition(args.competition)
    name, slug = contract.competition_name(module), module.KAGGLE_SLUG
    closed = getattr(module, "SUBMIT_CLOSED", None)
    if closed:
        try:
            run_dir = resolve_run(name, args.run_dir)
            answer = submission_file(run_dir, read_json(run_dir / "summary.json"))
            where = f"\nThe answer file of run {run_dir.name}: {answer}"
        except (SubmitError, OSError, ValueError):
            where = ""
        raise SubmitError(f"{closed}{where}")
    run_dir = resolve_run(name, args.run_dir)
    summary = read_json(run_dir / "summary.json")
    run_id = str(summary.get("run_id") or run_dir.name)
    if summary.get("competition") not in (None, name):
        raise SubmitError(f"Run {run_id} belongs to {summary['competition']}, not {name}.")
    if summary.get("sample"):
        raise SubmitError(
            f"Run {run_id} was made on the built-in sample data, whose ids are not Kaggle's test set; "
            f"Kaggle would reject or mis-score it. Run on the real data first: "
            f"python -m pipeline run competitions/{name}"
        )
    path = submission_file(run_dir, summary)
    message = args.message or default_message(summary, run_id)
    with tempfile.TemporaryDirectory(prefix="pipeline-submit-") as tmp:
        # Kaggle lists the uploaded file's name: name it after the run. The copy is what is validated and sent.
        staged = Path(tmp) / f"{run_id}{''.join(path.suffixes) or '.csv'}"
        shutil.copyfile(path, staged)
        revalidate(module, run_dir, summary, staged)
        result = submit_file(slug, staged, message)
    add_record(run_dir, result["record"])
    print(f"Submitted {path.name} of run {run_id} to {slug} as {staged.name}: {result['kaggle_message'] or 'ok'}")
    print(f"Message: {message}")
    if result["left"] is not None:
        print(f"{result['left']} submissions left today.")
    print(f"Recorded in {run_dir.name}/{RECORD_FILE}. Scores: python -m pipeline submissions competitions/{name}")
    return 0
