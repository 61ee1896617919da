"""`predict` of an ensemble of saved runs (`python -m pipeline ensemble RUN RUN ...`): each run it blends reads the new
test set with its own Config (its own features), is checked as predict checks a run, and predicts it with its saved
fold models (pipeline/prediction.py, the same functions as for a run); the ensemble's saved stages (stages.json:
blend weights, stack, cut, calibration over the keys "<run_id>/<model>", or "<competition>:<run_id>/<model>" for an
ensemble of several competitions: its summary.json's "members" record them) then make the submission, written with the
rows of the run whose Config the ensemble used. On the ensemble's own test set that is the ensemble's submission.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.contract import ContractError, Data, competition_name


@dataclass(frozen=True)
class Member:
    """One run an ensemble blends, loaded for predict."""

    run_dir: Path
    module: Any  # its competition
    cfg: Any  # its own resolved Config
    summary: dict[str, Any]
    keys: dict[str, str]  # the blend's key of each of its models -> the model
    base: bool  # the run whose Config and test rows the ensemble's stages and submission use
    fits: dict[str, list[int | str]]  # each model's saved fits that predict (prediction.saved_fits)


def load_members(run_dir: Path, summary: dict[str, Any]) -> list[Member]:
    """Every run the ensemble blends, with its competition, Config and saved models, checked before any data is read:
    refusals name the ensemble, the run and what to do."""
    from pipeline.ensemble_runs import base_dir, member_dirs
    from pipeline.prediction import load_run, saved_fits

    base_dir(run_dir, summary)  # refused unless exactly one run is the base
    members = []
    for where, record in member_dirs(run_dir, summary):
        try:
            module, cfg, its = load_run(where)
            if not (where / "models").is_dir():
                raise ContractError(
                    f"{where}: no models/ folder (the run's fitted models); put it back, or run the competition "
                    "again and ensemble the new run"
                )
            fits = saved_fits(where, its)
        except ContractError as e:
            raise ContractError(f"{run_dir} blends run {where.name}, which cannot predict: {e}") from None
        keys = {str(k): str(m) for k, m in record["keys"].items()}
        if missing := [m for m in keys.values() if m not in its["models"]]:
            raise ContractError(
                f"{run_dir} blends {', '.join(missing)} of run {where}, which has no such model now; put the run "
                "the ensemble was made of back, or run ensemble again."
            )
        members.append(Member(where, module, cfg, its, keys, bool(record.get("base")), fits))
    return members


def predict_ensemble(
    run_dir: Path, summary: dict[str, Any], data_path: str | None, out: Path | None, device: str | None, log: Any
) -> Path:
    """Predict `data_path`'s test set with every blended run's saved models and the ensemble's saved stages
    (`summary`: the ensemble's summary.json, prediction.read_summary); return the validated submission file."""
    from pipeline import stages
    from pipeline.prediction import default_out, write_prediction
    from pipeline.runfolder import incomplete_run

    members = load_members(run_dir, summary)
    if not (run_dir / "stages.json").is_file():  # every ensemble that records its runs wrote its stages
        again = shlex.join(["python", "-m", "pipeline", "ensemble", *(str(m.run_dir) for m in members)])
        raise incomplete_run(run_dir, ["stages.json"], again)
    base = next(m for m in members if m.base)
    name = competition_name(base.module)
    record = stages.read(run_dir, summary)
    if why := stages.unusable(base.module, run_dir, record):
        raise ContractError(
            f"{why}, so the ensemble's blend cannot be applied to new predictions; predict refits the "
            "stages of a single run from its OOF predictions, not an ensemble's: predict one of the runs it blends, "
            "or give the competition an apply_blend hook and run ensemble again."
        )
    log(f"predict {name} with ensemble {run_dir.name} of {', '.join(_names(members).values())}")
    results, data = _members_predictions(members, data_path, device, log)
    log(f"{stages.describe(record)}: as the ensemble fitted them (stages.json; no refit)")
    test = stages.apply(base.module, base.cfg, record, results)  # the ensemble's own blend had no fold_tests
    return write_prediction(base.module, data, out or default_out(run_dir, name), summary, lambda _: test, log)


def _members_predictions(
    members: list[Member], data_path: str | None, device: str | None, log: Any
) -> tuple[dict[str, dict[str, Any]], Data]:
    """Each blended model's test predictions under its key in the ensemble's blend ({"test": ...}, as `ensemble`
    blended the runs' saved test predictions), and the base run's test data, which the submission is written with.
    Each run reads the test set with its own Config and is checked against its own training (predict.read_checked);
    runs of different competitions (an image network's and its photo metadata's) must read the same test ids, and a
    run that reads them in another order than the base run has its predictions realigned to the base's rows
    (ensemble_checks.test_order), as `ensemble` realigned them."""
    from pipeline.prediction import predict_models

    read = _members_data(members, data_path, log)
    base = next(m for m in members if m.base)
    data = read[base.run_dir]
    orders = {m.run_dir: _order(base, m, data, read[m.run_dir], log) for m in members}  # checked before predicting
    results: dict[str, dict[str, Any]] = {}
    for m in members:
        predicted = predict_models(m.module, m.cfg, m.run_dir, m.summary, m.fits, read[m.run_dir], device, log)
        for key, model in m.keys.items():
            test, order = predicted[model]["test"], orders[m.run_dir]
            results[key] = {"test": test if order is None else test[order]}
    return results, data


def _members_data(members: list[Member], data_path: str | None, log: Any) -> dict[Path, Data]:
    """Each blended run's reading of the new test set (its own Config, checked against its own training), refused
    when the runs read different numbers of test rows."""
    from pipeline.prediction import read_checked, warn_versions

    read: dict[Path, Data] = {}
    rows: dict[str, int] = {}
    names = _names(members)
    for m in members:
        warn_versions(m.run_dir, log)
        its, data_dir, sample = read_checked(m.module, m.cfg, m.run_dir, m.summary, data_path, "", log)
        source = "built-in sample" if sample else str(data_dir)
        log(f"{names[m.run_dir]}: {len(its.X_test)} test rows, models {', '.join(m.fits)}  (data: {source})")
        rows[names[m.run_dir]] = len(its.X_test)
        if len(set(rows.values())) > 1:
            raise ContractError(
                f"{data_dir}: the runs read different numbers of test rows ("
                + ", ".join(f"{r}: {n}" for r, n in rows.items())
                + "); their predictions cannot be blended row by row."
            )
        read[m.run_dir] = its
    return read


def _names(members: list[Member]) -> dict[Path, str]:
    """Each run's name in the log (ensemble_runs.member_names: its id, "<competition>:<run_id>" when the runs are of
    several competitions, whose runs may share an id)."""
    from pipeline.ensemble_runs import member_names

    return dict(zip((m.run_dir for m in members), member_names([m.summary for m in members]), strict=True))


def _order(base: Member, m: Member, base_data: Data, its: Data, log: Any) -> np.ndarray | None:
    """The order that realigns run m's test predictions to the base run's rows (None: already in them); refused when
    the two read different test ids (ensemble_checks.test_order)."""
    from pipeline.ensemble_checks import realigned_note, test_order

    names = tuple(f"{competition_name(r.module)} (run {r.run_dir.name})" for r in (base, m))
    order = test_order((names[0], names[1]), (base_data.test_ids, its.test_ids))
    if order is not None:
        log(realigned_note(*names))
    return order
