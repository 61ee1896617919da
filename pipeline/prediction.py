"""Predicting a finished run's test set with its saved models, no training: the pieces `predict` uses for a run
(pipeline/commands/predict.py) and for each run an ensemble blends (pipeline/ensemble_predict.py). A run's summary
and Config are loaded (load_run), its saved fits checked (saved_fits), the new test set read and checked against what
the run was trained on (read_checked: classes, features, images), every model predicted with its fits and merged as
the run merged them (predict_models), and the submission written and validated (write_prediction).
"""

from __future__ import annotations

import importlib.metadata
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import read_json
from pipeline.contract import ContractError, Data, TrainingDataNeeded, competition_name, load_competition
from pipeline.listing import listed


def version_differences(recorded: dict[str, str | None]) -> list[str]:
    """'lib: trained with A, here B' for every library whose installed version differs from `recorded`."""
    lines = []
    for lib, version in sorted(recorded.items()):
        try:
            here: str | None = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            here = None
        if version is not None and here != version:
            lines.append(f"{lib}: trained with {version}, here {here or 'not installed'}")
    return lines


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The summary.json of a complete run (or ensemble) folder; refusals name the folder and what to do."""
    if not (run_dir / "summary.json").is_file():
        raise ContractError(f"{run_dir}: not a run folder (no summary.json).")
    summary = read_json(run_dir / "summary.json")
    if summary.get("status", "complete") != "complete":
        raise ContractError(
            f"{run_dir}: the run is not complete (status {summary.get('status')}); finish it first "
            f"(python -m pipeline run --resume {shlex.quote(str(run_dir))})."
        )
    return summary


def load_run(run_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The competition module, the run's resolved Config and its summary; errors name what is missing."""
    from pipeline.ensemble_runs import is_ensemble, member_dirs
    from pipeline.runfolder import competition_spec, incomplete_run, missing_records, saved_config

    summary = read_summary(run_dir)
    if is_ensemble(run_dir, summary):
        member_dirs(run_dir, summary)  # an ensemble from before its runs were recorded is refused there
        raise ContractError(f"{run_dir}: an ensemble of saved runs has no Config of its own; read each run it blends.")
    if missing := missing_records(run_dir, list(summary.get("models") or {})):
        raise incomplete_run(run_dir, missing, rerun_command(summary))
    module = load_competition(competition_spec(run_dir, summary))
    cfg = saved_config(module, run_dir, source="config.json")  # device settings of older runs left out
    return module, cfg, summary


def warn_versions(run_dir: Path, log: Any) -> None:
    """Warn of every library whose version differs from the one the run was trained with (its env.json)."""
    trained = read_json(run_dir / "env.json").get("versions", {}) if (run_dir / "env.json").is_file() else {}
    for line in version_differences(trained):
        log.warn(f"version differs from training: {line}")


def default_out(run_dir: Path, competition: str) -> Path:
    """Where the submission goes when --out is not given."""
    from pipeline.datadir import in_kaggle_notebook

    return Path.cwd() if in_kaggle_notebook() else Path.cwd() / "predictions" / competition / run_dir.name


def model_fits(folds: np.ndarray, refit: bool) -> list[int | str]:
    """The saved fits of a model that predict the test rows: its refit on every training row (summary.json's
    "refit"), else every fold's."""
    from pipeline.folds import fold_ids
    from pipeline.runfolder import FULL

    return [FULL] if refit else list(fold_ids(folds))


def fold_predictions(
    run_dir: Path, model: str, fits: list[int | str], data: Data, device: str | None
) -> list[np.ndarray]:
    """Each of the model's saved fits (model_fits) on the test rows, as the runner predicted them (rows x outputs)."""
    from pipeline.fitting import predict_outputs
    from pipeline.machine import cap_threads
    from pipeline.modelstore import fold_model_info, load_fold_model
    from pipeline.runfolder import fit_name, part_path

    classification = data.classes is not None
    n_classes = len(data.classes) if classification else None
    preds = []
    for f in fits:
        part = part_path(run_dir, model, f)
        if part.is_file():
            with np.load(part, allow_pickle=False) as z:
                if str(z["hash"]) != fold_model_info(run_dir, model, f)["key"]:
                    raise ContractError(
                        f"{run_dir}: the saved model of {model} {fit_name(f)} did not make the run's predictions of "
                        f"that fit ({part.name} has another key); the run folder was changed after training."
                    )
        est = load_fold_model(run_dir, model, f, device=device)
        cap_threads()  # a deep model's load brings torch, whose CPU threads see the host's cores
        preds.append(predict_outputs(est, data.X_test, classification, n_classes))
    return preds


def saved_fits(run_dir: Path, summary: dict[str, Any]) -> dict[str, list[int | str]]:
    """Each of the run's models' saved fits that predict the test rows (model_fits), every one checked to be there
    before any data is read."""
    from pipeline.modelstore import fold_model_info, missing_model_files
    from pipeline.runfolder import incomplete_run

    folds = np.load(run_dir / "folds.npy")
    fits = {m: model_fits(folds, bool(summary["models"][m].get("refit"))) for m in summary["models"]}
    if not (run_dir / "models").is_dir():  # a run from before fitted models were kept, named as such
        for model, its in fits.items():
            for f in its:
                fold_model_info(run_dir, model, f)
    elif missing := missing_model_files(run_dir, fits):
        raise incomplete_run(run_dir, missing, rerun_command(summary))
    return fits


def rerun_command(summary: dict[str, Any]) -> str:
    """The command that runs the competition of a run's summary again."""
    spec = str(summary.get("competition_spec") or summary.get("competition") or "COMPETITION")
    return f"python -m pipeline run {shlex.quote(spec)}"


def read_checked(
    module: Any, cfg: Any, run_dir: Path, summary: dict[str, Any], data_path: str | None, refits: str, log: Any
) -> tuple[Data, Path, bool]:
    """The test set predict reads for the run (_load_data), checked against what the run was trained on: its
    classes, its features (X_test becomes the run's columns, in its order) and its images; with the data's folder
    and whether it is the built-in sample."""
    from pipeline.run_checks import check_images

    sample = data_path is None and bool(summary.get("sample"))  # no data but the sample holds a sample run's rows
    n_rows = len(np.load(run_dir / "folds.npy", mmap_mode="r"))
    data, data_dir = _load_data(module, cfg, run_dir, data_path, sample, (n_rows, summary), refits)
    for warning in (data.info or {}).get("warnings", []):  # what load found amiss in the tables (Data.info)
        log.warn(warning)
    _check_header(run_dir, summary, data)
    _check_classes(run_dir, summary, list(summary["models"]), data)
    _check_features(run_dir, summary, data, data_dir)
    check_images(module, data_dir, (data.X_test,), log.quiet)  # the run's check, on the images predict reads
    _check_training_images(module, run_dir, data, data_dir, log)
    return data, data_dir, sample


def predict_models(
    module: Any,
    cfg: Any,
    run_dir: Path,
    summary: dict[str, Any],
    fits: dict[str, list[int | str]],
    data: Data,
    device: str | None,
    log: Any,
) -> dict[str, dict[str, Any]]:
    """Each of the run's models on the test rows through its saved fits (saved_fits), merged as the run merged them:
    per model its saved "oof", its "test" predictions and, where the competition calibrates, its "fold_tests" as the
    runner kept them (one per model when the run refitted)."""
    from pipeline.finish import merge_fold_tests

    results: dict[str, dict[str, Any]] = {}
    refitting = bool(summary.get("refit"))  # the run planned refits: one test prediction per model, as it did
    for model, its in fits.items():
        parts = fold_predictions(run_dir, model, its, data, device)
        refit = bool(summary["models"][model].get("refit"))  # its refit predicts, not its folds
        test = parts[0] if refit else merge_fold_tests(module, cfg, parts)
        results[model] = {"oof": np.load(run_dir / "oof" / f"{model}.npy"), "test": test}
        if getattr(module, "CALIBRATE", None):
            results[model]["fold_tests"] = [test] if refitting else parts
        log(f"{model}: {'its refit on every training row' if refit else f'{len(parts)} fold model(s)'} predicted")
    return results


def write_prediction(
    module: Any, data: Data, out: Path, summary: dict[str, Any], test_of: Callable[[Path], np.ndarray], log: Any
) -> Path:
    """The submission of the test predictions `test_of(work)` gives (work: a scratch folder for the records of any
    stage it refits), validated with the competition's rules and written to `out`; one log line on how it compares
    with the run's own submission (`summary`'s)."""
    from pipeline.finish import write_validated_submission

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".predict-", dir=out) as scratch:
        work = Path(scratch)
        final = write_validated_submission(module, data, test_of(work), work, rejected_to=out)
        target = out / final.name
        final.replace(target)
    compared = _compare_with_run(summary, target)
    if compared:
        log(compared)
    return target


def read_test(module: Any, cfg: Any, data_dir: Path, trained: dict[str, Any] | None) -> Data:
    """The competition's test side alone (its load_test hook), given what the run recorded of its training rows
    (summary.json's "trained") when the hook takes `trained`; TrainingDataNeeded when it cannot do without them."""
    import inspect

    hook = module.load_test
    try:
        takes = "trained" in inspect.signature(hook).parameters
    except (TypeError, ValueError):
        takes = False
    data = hook(cfg, data_dir, trained=trained) if takes else hook(cfg, data_dir)
    if not isinstance(data, Data) or len(data.X_test) != len(data.test_ids):
        raise ContractError(f"{competition_name(module)}.load_test must return Data with one test id per test row.")
    return data


def _load_data(
    module: Any,
    cfg: Any,
    run_dir: Path,
    data_path: str | None,
    sample: bool,
    run: tuple[int, dict[str, Any]],
    refits: str,
) -> tuple[Data, Path]:
    """The data predict reads and its folder: the test side alone where the run's saved stages make the submission
    (`refits` "") and the competition reads a test set alone (load_test), else the whole download, whose training
    rows must be the run's (`run`: their count and summary.json). `refits`: why the stages are refitted from the OOF
    predictions against the training targets."""
    from pipeline.archives import MissingFiles
    from pipeline.datadir import resolve_data
    from pipeline.run_checks import check_data

    name = competition_name(module)
    n_rows, summary = run
    again = f"predict {shlex.quote(str(run_dir))}"  # no --sample: only a sample run predicts the sample
    why = f"predict refits the blend and the stages after it: {refits}" if refits else ""
    if not refits and not hasattr(module, "load_test"):
        why = f"{name} defines no load_test, which reads a test set alone"
    if not why:  # the test set's files only (load_test names what it lacks)
        data_dir, _ = resolve_data(module, data_path, sample, [], command=again, sample_option=False)
        try:
            return read_test(module, cfg, data_dir, summary.get("trained")), data_dir
        except TrainingDataNeeded as e:
            why = f"{name}'s test rows need them: {e}"
    try:
        data_dir, _ = resolve_data(module, data_path, sample, None, command=again, sample_option=False)
    except MissingFiles as e:
        raise MissingFiles(
            f"{e} predict needs run {run_dir.name}'s training data beside the new test set (only the test set may "
            f"differ): {why}.",
            e.missing,
        ) from None
    data = module.load(cfg, data_dir)
    check_data(data, name)
    if n_rows != len(data.y):
        raise ContractError(
            f"{data_dir}: {len(data.y)} training rows, the run was trained on {n_rows}; predict needs the run's own "
            f"training data (only the test set may differ): {why}."
        )
    return data, data_dir


def _check_training_images(module: Any, run_dir: Path, data: Data, data_dir: Path, log: Any) -> None:
    """For a competition whose test side predict can read alone (`load_test`), warn of test images that are, byte for
    byte, one of the run's training images (its train_images.json), whatever their names, naming them: without the
    training files this is how predict tells (pipeline/imagedigests.py). A run folder from before the digests were
    saved gets a one-line warning and no check. The test images' digests are remembered as the run's are."""
    from pipeline.datadir import checks_cache
    from pipeline.imagedigests import check_test_images
    from pipeline.imagefiles import image_paths

    paths = image_paths(data.X_test)
    if not paths or not hasattr(module, "load_test"):
        return
    listing = Path(data.sample_submission)
    warning = check_test_images(run_dir, paths, list(data.test_ids), listing, data_dir, checks_cache(data_dir))
    if warning:
        log.warn(warning)


def _check_features(run_dir: Path, summary: dict[str, Any], data: Data, data_dir: Path) -> None:
    """The new test rows hold every column the run's models predict from (summary.json's "features"; runs before it:
    no check), and X_test becomes those columns in the run's order. A missing column would reach the models as
    missing on every row, and the submission be quietly worse; an extra column, or another column order, is fine."""
    saved, now = summary.get("features"), getattr(data.X_test, "columns", None)
    if not isinstance(saved, list) or now is None:
        return
    present = {str(c) for c in now}
    if missing := [c for c in saved if c not in present]:
        raise ContractError(
            f"{data_dir}: the test rows lack {len(missing)} column(s) run {run_dir.name} was trained on: "
            f"{listed(missing)}; predict needs every one (put them back in the test file)."
        )
    by_name = {str(c): c for c in now}
    data.X_test = data.X_test[[by_name[c] for c in saved]]


def _check_header(run_dir: Path, summary: dict[str, Any], data: Data) -> None:
    """The data's sample submission has the columns of the run's own submission (both CSVs), checked before any model
    predicts: a sample of another competition (other class columns, another target) cannot take the run's
    predictions. A run folder without its submission is not checked."""
    from pipeline.submission import read_header, short_columns

    own = run_dir / Path(str(summary.get("submission") or "submission.csv")).name
    sample = Path(data.sample_submission)
    if own.suffix != ".csv" or sample.suffix != ".csv" or not own.is_file() or not sample.is_file():
        return
    want, got = read_header(own), read_header(sample)
    if got != want:
        raise ContractError(
            f"{sample}: columns {short_columns(got)}, but run {run_dir.name} writes {short_columns(want)}; predict "
            f"needs the sample submission of the run's competition ({summary.get('competition')})."
        )


def _check_classes(run_dir: Path, summary: dict[str, Any], models: list[str], data: Data) -> None:
    """The data's classes are the run's (a sample submission with other class columns cannot take its probabilities),
    checked before any model predicts: the classes the run recorded, or (runs before) their count in its OOF rows."""
    if data.classes is None:
        return
    now = [str(c) for c in data.classes]
    saved = summary.get("classes")
    if isinstance(saved, list) and saved != now:
        missing, extra = [c for c in saved if c not in now], [c for c in now if c not in saved]
        said = "; ".join(
            part
            for part in (
                f"the data lacks {listed(missing, 5)}" if missing else "",
                f"the run never saw {listed(extra, 5)}" if extra else "",
            )
            if part
        )
        raise ContractError(
            f"{data.sample_submission}: its classes differ from those run {run_dir.name} was trained on "
            f"({said or 'another order'}); predict needs the run's classes."
        )
    width = np.load(run_dir / "oof" / f"{models[0]}.npy", mmap_mode="r").shape[-1]
    if saved is None and width > 1 and width != len(now):  # one column: a binary model's positive class
        raise ContractError(
            f"{data.sample_submission}: {len(now)} classes, but run {run_dir.name} predicts {width}; predict needs "
            "the run's classes."
        )


def _compare_with_run(summary: dict[str, Any], path: Path) -> str | None:
    """One line on how the new submission compares with the run's, when both are CSVs of the same rows."""
    import pandas as pd

    theirs = Path(summary.get("submission") or "")
    if path.suffix != ".csv" or not theirs.is_file():
        return None
    try:
        a, b = pd.read_csv(path), pd.read_csv(theirs)
    except Exception:
        return None
    if a.shape != b.shape or list(a.columns) != list(b.columns) or not a.iloc[:, 0].equals(b.iloc[:, 0]):
        return None
    if a.equals(b):
        return "identical to the run's own submission"
    num = a.select_dtypes(include="number").columns
    diff = float(np.max(np.abs(a[num].to_numpy(float) - b[num].to_numpy(float)))) if len(num) else float("nan")
    same = float(np.mean((a == b).all(axis=1)))
    return (
        f"compared with the run's own submission: {same:.2%} of rows identical, largest numeric difference {diff:.3g}"
    )
