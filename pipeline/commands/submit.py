"""`submit`: upload a run's submission to Kaggle after validating it again, and record it in the run folder."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
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
    p.add_argument(
        "--wait", action="store_true", help="wait until Kaggle has scored it; print the score beside the run's CV"
    )
    p.add_argument(
        "--timeout", type=float, default=900.0, metavar="S", help="with --wait: give up waiting after S seconds (900)"
    )


def resolve_run(name: str, given: str | None, where: str | None = None) -> Path:
    """The run folder to submit: the one given (path or run id) or the competition's latest finished run; `where`
    names the competition in the commands a refusal suggests (datadir.competition_arg; default competitions/<name>)."""
    from pipeline.runfolder import latest_run, runs_root

    where = where or f"competitions/{name}"
    if given is None:
        run_dir = latest_run(name)
        if run_dir is None:
            raise SubmitError(
                f"No finished run of {name} in runs/{name}/. Make one first: python -m pipeline run {where}"
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
        f"{given}: no such run folder (nor runs/{name}/{given}). See the runs: python -m pipeline runs {where}"
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


def data_folder(module: ModuleType, run_dir: Path, summary: dict[str, Any]) -> Path:
    """The data the run used: its recorded folder, or data/<slug>/ when that folder has moved."""
    from pipeline.datadir import competition_arg, default_data_dir

    recorded = Path(str(summary.get("data_dir") or ""))
    fallback = default_data_dir(module.KAGGLE_SLUG)
    for candidate in (recorded, fallback):
        if str(candidate) not in ("", ".") and candidate.is_dir():
            if candidate != recorded:
                print(f"Data folder {recorded} has moved; re-validating against {candidate}.", file=sys.stderr)
            return candidate
    raise SubmitError(
        f"Cannot re-validate run {run_dir.name}: its data folder {recorded} is gone and data/{module.KAGGLE_SLUG}/ "
        f"does not exist. Get the data again: python -m pipeline download {competition_arg(module)}"
    )


def _sample_submission(data_dir: Path) -> Path | None:
    found = sorted(p for p in data_dir.glob("*.csv") if "samplesubmission" in p.stem.lower().replace("_", ""))
    return found[0] if found else None


def _has_text_columns(sample: Path) -> bool:
    import pandas as pd

    frame = pd.read_csv(sample, nrows=1000)
    return any(not pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns[1:])


def revalidate(
    module: ModuleType, run_dir: Path, summary: dict[str, Any], path: Path, what: str = "the submission"
) -> None:
    """Check the file again as the runner did: against the sample submission (and the classes or custom validate).
    `what` names the file in a refusal (push: the notebook's output)."""
    from pipeline.submission import SubmissionError, validate_submission

    data_dir = data_folder(module, run_dir, summary)
    sample = _sample_submission(data_dir)
    try:
        if sample is not None and not hasattr(module, "validate") and not _has_text_columns(sample):
            validate_submission(path, sample)
            return
        from pipeline.finish import validate_for

        validate_for(module, module.load(run_config(module, run_dir, summary), data_dir), path)
    except SubmissionError as e:
        run_id = summary.get("run_id") or run_dir.name  # a package's run/ folder is named by its summary
        raise SubmissionError(f"Not submitted: {what} of run {run_id} does not validate: {e}") from None


def run_config(module: ModuleType, run_dir: Path, summary: dict[str, Any]) -> Any:
    """The Config the run loaded its data with (runfolder.saved_config: also for runs whose config.json holds old
    device settings), or the defaults when config.json is missing or unreadable. An ensemble has none of its own:
    it is its base run's (the run whose Config and test rows its submission was written with), read from that run's
    folder; refused, naming the ensemble and the run, when that run has moved (ensemble_runs.base_dir)."""
    from pipeline.ensemble_runs import base_dir, is_ensemble
    from pipeline.runfolder import saved_config

    where = base_dir(run_dir, summary) if is_ensemble(run_dir, summary) else run_dir
    try:
        return saved_config(module, where)
    except (OSError, KeyError, ValueError, TypeError):
        return module.Config()


def main(args: argparse.Namespace) -> int:
    """Re-validate, upload, record."""
    from pipeline import contract
    from pipeline.atomic import read_json
    from pipeline.datadir import competition_arg
    from pipeline.kaggle.io import submit_file
    from pipeline.kaggle.records import RECORD_FILE, add_record

    module = contract.load_competition(args.competition)
    name, slug, where = contract.competition_name(module), module.KAGGLE_SLUG, competition_arg(module)
    closed = getattr(module, "SUBMIT_CLOSED", None)
    if closed:
        try:
            run_dir = resolve_run(name, args.run_dir, where)
            answer = submission_file(run_dir, read_json(run_dir / "summary.json"))
            where = f"\nThe answer file of run {run_dir.name}: {answer}"
        except (SubmitError, OSError, ValueError):
            where = ""
        raise SubmitError(f"{closed}{where}")
    if args.wait and not 0 < args.timeout <= 86400:
        raise SubmitError(f"--timeout {args.timeout:g}: the seconds to wait for the score, above 0 and at most 86400.")
    run_dir = resolve_run(name, args.run_dir, where)
    summary = read_json(run_dir / "summary.json")
    run_id = str(summary.get("run_id") or run_dir.name)
    if summary.get("competition") not in (None, name):
        raise SubmitError(f"Run {run_id} belongs to {summary['competition']}, not {name}.")
    if summary.get("sample"):
        raise SubmitError(
            f"Run {run_id} was made on the built-in sample data, whose ids are not Kaggle's test set; "
            f"Kaggle would reject or mis-score it. Run on the real data first: "
            f"python -m pipeline run {where}"
        )
    path = submission_file(run_dir, summary)
    message = args.message or default_message(summary, run_id)
    with tempfile.TemporaryDirectory(prefix="pipeline-submit-") as tmp:
        # Kaggle lists the uploaded file's name: name it after the run. The copy is what is validated and sent.
        staged = Path(tmp) / f"{run_id}{''.join(path.suffixes) or '.csv'}"
        shutil.copyfile(path, staged)
        revalidate(module, run_dir, summary, staged)
        result = submit_file(slug, staged, message, check=f"python -m pipeline submissions {where}")
    record = result["record"]
    add_record(run_dir, record)
    print(f"Submitted {path.name} of run {run_id} to {slug} as {staged.name}: {result['kaggle_message'] or 'ok'}")
    print(f"Message: {message}")
    print(_left_line(result))
    if not result["confirmed"]:
        warn_unconfirmed(where)
    print(f"Recorded in {run_dir.name}/{RECORD_FILE}.")
    if not args.wait or record["ref"] is None:
        print(f"Scores: python -m pipeline submissions {where}")
        return 0
    return _wait(args, slug, where, run_dir, summary, record)


def warn_unconfirmed(where: str) -> None:
    """Kaggle took the upload but gave no submission id: say how to check before a second slot is spent (`where`:
    the competition as a command names it, datadir.competition_arg)."""
    print(
        f"warning: Kaggle accepted the upload but returned no submission id; check it with "
        f"python -m pipeline submissions {where} before submitting again.",
        file=sys.stderr,
    )


def _left_line(result: dict[str, Any]) -> str:
    limits = result["limits"]
    if limits is None:
        return "Submissions left today: unknown (Kaggle did not say)."
    if not limits["known"]:
        return (
            "Submissions left today: unknown (Kaggle reports no submissions and no allowance for you yet, "
            "as it does before you are on a team)."
        )
    return f"{result['left']} submissions left today."


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _wait(args: argparse.Namespace, slug: str, where: str, run_dir: Path, summary: dict[str, Any], record: dict) -> int:
    """Poll until scored; print LB beside CV; record the result so `runs` shows it (`where`: the competition as a
    command names it)."""
    from pipeline.kaggle.io import wait_for_score
    from pipeline.kaggle.records import update_record

    sub = wait_for_score(slug, int(record["ref"]), args.timeout)
    if sub is None:
        print(
            f"Not scored yet after {args.timeout:g} s (still pending); the submission stands. "
            f"See its score later: python -m pipeline submissions {where}"
        )
        return 0
    update_record(run_dir, sub)
    metric = summary.get("metric")
    metric = metric.get("name") if isinstance(metric, dict) else metric or "score"
    if sub["status"] == "ERROR":
        raise SubmitError(
            f"Kaggle could not score submission {sub['ref']} of run {run_dir.name}: {sub.get('error') or 'no reason'}"
            " (recorded in the run folder). The daily slot is spent; fix the file before submitting again."
        )
    private = f"  private {_fmt(sub['private_score'])}" if sub.get("private_score") is not None else ""
    print(f"Scored: CV {metric} {_fmt(summary.get('cv'))}  |  LB public {_fmt(sub['public_score'])}{private}")
    return 0
