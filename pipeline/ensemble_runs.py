"""`pipeline ensemble RUN RUN ...`: blend saved runs of one competition, or of competitions of one download that
answer one question (an image network and a model of the photos' metadata: pipeline/ensemble_checks.py); refuses
runs whose folds differ."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import runfolder
from pipeline.archives import sha256
from pipeline.atomic import read_json
from pipeline.contract import ContractError, competition_name, load_competition
from pipeline.ensemble_checks import check_metric, check_target, realigned_note, stage_settings_note, test_order
from pipeline.finish import SCORE_FIELDS, FittedRun, RunInputs, finish_run
from pipeline.run_checks import check_data
from pipeline.runstate import RunOptions


def _summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary, after checking that the folder holds everything a blend reads."""
    if not run_dir.is_dir():
        raise ContractError(f"ensemble: {run_dir}: no such run folder.")
    path = run_dir / "summary.json"
    if not path.exists():
        raise ContractError(f"ensemble: {run_dir}: not a finished run folder (no summary.json).")
    try:
        summary = read_json(path)
    except ValueError as e:
        raise ContractError(f"ensemble: {path}: not valid JSON ({e}).") from None
    status = summary.get("status", "complete") if isinstance(summary, dict) else "unreadable"
    if status != "complete":
        raise ContractError(
            f"ensemble: {run_dir} is a {status} run, not a finished one; resume it first "
            f"(python -m pipeline run --resume {run_dir})."
        )
    needed = ["folds.npy", "scores.json", "config.json"]
    needed += [f"{kind}/{m}.npy" for m in summary.get("models", {}) for kind in ("oof", "test")]
    missing = [n for n in needed if not (run_dir / n).is_file()]
    if missing:
        raise ContractError(
            f"ensemble: {run_dir} lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; "
            "its out-of-fold predictions cannot be blended."
        )
    return summary


def ensemble_runs(
    run_dirs: list[Path],
    tag: str | None = None,
    runs_root: Path | None = None,
    quiet: bool = False,
    submissions_root: str | None = None,
) -> Path:
    """Blend the models of several finished runs into a new run folder with its own submission."""
    t_start = time.monotonic()
    if len(run_dirs) < 1:
        raise ContractError("ensemble: give at least one run folder.")
    summaries, folds, base = _check_runs(run_dirs)
    spec = runfolder.competition_spec(run_dirs[base], summaries[base])  # also from another directory
    opts = RunOptions(competition=spec, tag=tag, submissions_root=submissions_root, quiet=quiet)
    loaded, orders = _loaded(run_dirs, summaries, base, len(folds))
    inputs = loaded[summaries[base]["competition"]]
    results: dict[str, dict[str, Any]] = {}
    for d, s, name in zip(run_dirs, summaries, member_names(summaries), strict=True):
        scores, its = runfolder.read_record(d, "scores"), loaded[s["competition"]]
        for model in s["models"]:
            oof, test = runfolder.read_predictions(d, model)
            if len(test) != len(its.data.X_test):
                raise ContractError(
                    f"ensemble: {d} predicted {len(test)} test rows ({model}), but {its.data_dir} now holds "
                    f"{len(its.data.X_test)}: its data changed since the run. Run again on this data."
                )
            key = blend_key(name, model, len(run_dirs))
            oof = oof[: len(folds)]  # rows past the base run's: train-only rows (an original dataset), never predicted
            if (order := orders.get(s["competition"])) is not None:
                test = test[order]  # its test rows in the base run's order (ensemble_checks.test_order)
            results[key] = {"oof": oof, "test": test} | {k: scores[model][k] for k in SCORE_FIELDS}
    _check_shapes(results)
    suffix = "-".join(t for t in ("ensemble", tag, "sample" if inputs.is_sample else None) if t)
    run_dir = runfolder.new_run_dir(summaries[base]["competition"], suffix, runs_root)
    log = runfolder.open_log(run_dir, quiet=quiet)
    log(f"ensemble of {', '.join(str(d) for d in run_dirs)} -> {run_dir}")
    for name in orders:
        log(realigned_note(summaries[base]["competition"], name))
    if note := _stage_settings(run_dirs, summaries, base):
        log.warn(note)
    runfolder.write_folds(run_dir, folds)
    more = {"members": members_record(run_dir, run_dirs, summaries, base)}  # what predict and package find them by
    return finish_run(
        FittedRun(
            inputs=inputs, folds=folds, run_dir=run_dir, log=log, t_start=t_start, opts=opts, results=results, more=more
        )
    )


def _stage_settings(run_dirs: list[Path], summaries: list[dict[str, Any]], base: int) -> str | None:
    """ensemble_checks.stage_settings_note of the runs of the base run's competition (their saved Configs)."""
    ours = [i for i, s in enumerate(summaries) if s["competition"] == summaries[base]["competition"]]
    configs = [(runfolder.read_record(run_dirs[i], "config") or {}).get("config") or {} for i in ours]
    names = [str(summaries[i].get("run_id") or run_dirs[i].name) for i in ours]
    return stage_settings_note(names, configs, ours.index(base))


def _loaded(
    run_dirs: list[Path], summaries: list[dict[str, Any]], base: int, rows: int
) -> tuple[dict[str, RunInputs], dict[str, np.ndarray]]:
    """Each competition of the runs (by name) with the saved Config of its first run (the base run's for the base's
    competition) and the data it was trained on, loaded again; runs of a competition other than the base's are
    checked to answer its question (ensemble_checks: metric, target on the `rows` scored rows, test ids). With them,
    for each competition that lists the base's test ids in another order, the order that realigns its test
    predictions to the base's rows."""
    loaded: dict[str, RunInputs] = {}
    orders: dict[str, np.ndarray] = {}
    ours = summaries[base]["competition"]
    for i in [base, *range(len(run_dirs))]:
        name = summaries[i]["competition"]
        if name in loaded:
            continue
        if name != ours:  # before its data is read
            check_metric((ours, name), (summaries[base], summaries[i]))
        spec = runfolder.competition_spec(run_dirs[i], summaries[i])
        data_dir, sample = Path(summaries[i]["data_dir"]), bool(summaries[i].get("sample"))
        its = loaded[name] = _inputs(spec, run_dirs[i], data_dir, sample)
        if name != ours:
            b = loaded[ours]
            check_target((ours, name), (b.module, its.module), (b.data, its.data), rows)
            if (order := test_order((ours, name), (b.data.test_ids, its.data.test_ids))) is not None:
                orders[name] = order
    return loaded, orders


def _check_shapes(results: dict[str, dict[str, Any]]) -> None:
    """Every blended model's predictions of one shape a row (values, or a probability per class): refused naming two
    that differ, as runs of different competitions may predict otherwise."""
    shapes = {key: np.shape(r["oof"])[1:] for key, r in results.items()}
    first = next(iter(shapes))
    for key, shape in shapes.items():
        if shape != shapes[first]:
            raise ContractError(
                f"ensemble: {first} predicts {shape_text(shapes[first])} a row and {key} {shape_text(shape)}; "
                "predictions of different shapes cannot be blended."
            )


def shape_text(shape: tuple[int, ...]) -> str:
    """A prediction row's shape in words: "1 value", "2 values"."""
    n = int(np.prod(shape)) if shape else 1
    return f"{n} value{'s' * (n != 1)}"


def member_names(summaries: list[dict[str, Any]]) -> list[str]:
    """Each blended run's name in the blend, which its models' keys begin with (blend_key): its run id (the time stamp
    its folder was named by) when the runs are of one competition, "<competition>:<run_id>" for every run once they
    span several. Runs of one competition never share an id in one runs/ folder (runfolder.new_run_dir numbers a
    second run begun in the same second), but runs of two competitions, in runs/<a>/ and runs/<b>/, begun in one
    second do: the competition tells them apart. Every run is so named, not only those that share an id: the keys of
    an ensemble of several competitions name each model's competition whenever its runs began, and a key is never
    one run's plain id in one ensemble and prefixed in another. An ensemble of one competition keeps the plain ids,
    the keys of every ensemble made before; predict and package read an ensemble's keys from its summary.json
    ("members"), never from this rule, so ensembles made before it predict as they did."""
    several = len({s["competition"] for s in summaries}) > 1
    return [f"{s['competition']}:{s['run_id']}" if several else str(s["run_id"]) for s in summaries]


def blend_key(member: str, model: str, n_runs: int) -> str:
    """The name a run's model has in the ensemble's blend (and its stages.json): "<member>/<model>", `member` the
    run's name in the blend (member_names: "<run_id>", or "<competition>:<run_id>" when the ensemble spans several
    competitions), or the model's own name when the ensemble blends one run."""
    return f"{member}/{model}" if n_runs > 1 else model


def members_record(
    run_dir: Path, run_dirs: list[Path], summaries: list[dict[str, Any]], base: int
) -> list[dict[str, Any]]:
    """summary.json's "members": each blended run's id and competition, its folder ("path": relative to the
    ensemble's folder when both are in one runs root, so a moved runs/ tree still finds it; else absolute), the blend
    keys of its models (key -> model) and whether it is the run whose Config and test rows the ensemble's stages and
    submission use."""
    here = run_dir.resolve()
    root = here.parents[1]  # runs/<competition>/<ensemble>: the runs root
    record = []
    names = member_names(summaries)
    for i, (d, s) in enumerate(zip(run_dirs, summaries, strict=True)):
        where = Path(d).resolve()
        path = os.path.relpath(where, here) if where.is_relative_to(root) else str(where)
        keys = {blend_key(names[i], m, len(run_dirs)): m for m in s["models"]}
        its = {"run_id": s["run_id"], "competition": s["competition"], "path": path, "keys": keys}
        record.append(its | {"base": i == base})
    return record


def is_ensemble(run_dir: Path, summary: dict[str, Any]) -> bool:
    """Whether the folder is an `ensemble` of saved runs, which has no Config of its own (no config.json): its
    summary names the runs it blends ("members"), or, made before it did, its folder is named <stamp>-ensemble..."""
    return not (run_dir / "config.json").is_file() and ("members" in summary or "-ensemble" in run_dir.name)


def member_dirs(run_dir: Path, summary: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """The folder of each run an ensemble blends (summary.json's "members": its recorded path, else a folder of its
    name beside the ensemble's) with its record. Refused, naming the folder and what to do, for an ensemble made
    before the runs were recorded, and for a run that is no longer where it was."""
    return [(_member_dir(run_dir, member), member) for member in _members(run_dir, summary)]


def base_dir(run_dir: Path, summary: dict[str, Any]) -> Path:
    """The folder of the run whose Config and test rows an ensemble's stages and submission use (its "base"
    member), refused as member_dirs refuses a run that moved; the other runs it blends need not be there."""
    base = [m for m in _members(run_dir, summary) if m.get("base")]
    if len(base) != 1:
        raise ContractError(f'{run_dir}/summary.json: its "members" name no run (or several) as the base.')
    return _member_dir(run_dir, base[0])


def _members(run_dir: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """summary.json's "members", refused for an ensemble made before ensembles recorded them."""
    members = summary.get("members")
    if not isinstance(members, list) or not members:
        runs = sorted({str(k).split("/")[0] for k in summary.get("models", {}) if "/" in str(k)})
        named = f" ({', '.join(runs)})" if runs else ""
        raise ContractError(
            f"{run_dir}: an ensemble made before ensembles recorded the runs they blend (its summary.json has no "
            f'"members"); run `python -m pipeline ensemble` again on its runs{named} and use the new ensemble.'
        )
    return members


def _member_dir(run_dir: Path, member: dict[str, Any]) -> Path:
    """Where one blended run is now: its recorded path, else a folder of its name beside the ensemble's; either only
    when it is a run of the member's competition (where recorded: a run of another competition, begun in the same
    second, may be a folder of that name beside the ensemble's)."""
    recorded = Path(os.path.normpath(run_dir / member["path"]))
    found = (d for d in (recorded, run_dir.parent / recorded.name) if _holds(d, member.get("competition")))
    if (where := next(found, None)) is None:
        raise ContractError(
            f"{run_dir}: the run it blends, {member['run_id']}, is not at {recorded} (moved or removed); put "
            "the run folder back there (or beside the ensemble's folder) and run the command again."
        )
    return where


def _holds(folder: Path, competition: str | None) -> bool:
    """Whether the folder holds a run (a summary.json) of the competition (None: of any). An unreadable summary counts:
    loading the run names what is wrong with it."""
    if not (folder / "summary.json").is_file():
        return False
    if competition is None:
        return True
    try:
        summary = read_json(folder / "summary.json")
    except ValueError:
        return True
    return not isinstance(summary, dict) or summary.get("competition", competition) == competition


def _check_runs(run_dirs: list[Path]) -> tuple[list[dict[str, Any]], np.ndarray, int]:
    """The runs' summaries, their common folds and the run whose rows they are (the one with fewest rows); refused
    when they are of different competitions, mix the sample with real data, or used different folds. A run may have
    more rows than another when they are all train-only and follow the other's (a run with an original dataset's
    rows against one without): the scored rows and their folds are the same."""
    summaries = [_summary(d) for d in run_dirs]
    _check_names(run_dirs, summaries)
    comps = {s["competition"] for s in summaries}
    data_dirs = sorted({str(Path(s["data_dir"]).resolve()) for s in summaries if s.get("data_dir")})
    one_download = len(data_dirs) <= 1 or len({_tables_digest(Path(d)) for d in data_dirs}) == 1
    if len(comps) > 1 and not (one_download and all(s.get("data_dir") for s in summaries)):
        # competitions of one download that answer one question blend (ensemble_checks, once their data is loaded)
        raise ContractError(
            f"ensemble: runs belong to different competitions: {', '.join(sorted(comps))}; runs of different "
            f"competitions blend only when they were made on one download (their data: {', '.join(data_dirs)})."
        )
    if len({bool(s.get("sample")) for s in summaries}) > 1:
        raise ContractError("ensemble: cannot mix runs on the built-in sample with runs on real data.")
    if not one_download:
        # another zip of the competition (data/<slug>@<sha>/): another test set, maybe; the same files in two
        # folders (the zip's extraction and a folder of it the user made) are one download
        raise ContractError(
            f"ensemble: the runs were made on different data ({', '.join(data_dirs)}); their test "
            "predictions may be of different test rows. Blend runs of one download."
        )
    all_folds = [runfolder.read_folds(d) for d in run_dirs]
    base = min(range(len(run_dirs)), key=lambda i: len(all_folds[i]))
    folds = all_folds[base]
    for d, other in zip(run_dirs, all_folds, strict=True):
        n = len(folds)
        if not np.array_equal(other[:n], folds) or (other[n:] != -1).any():
            raise ContractError(
                f"ensemble: {d} used different folds from {run_dirs[base]} (seed, --folds or data differ); "
                "OOF predictions of different folds cannot be blended fairly. Re-run with the same --seed/--folds."
            )
    return summaries, folds, base


def _check_names(run_dirs: list[Path], summaries: list[dict[str, Any]]) -> None:
    """Refused: a run named twice (its models would count twice), and two folders of one competition whose runs share
    a run id (member_names: their models' keys would be one). The latter needs two runs/ folders (runfolder.new_run_dir
    numbers a second run begun in one second in one), e.g. a run and a copy of it, or runs of two working directories;
    the id is the one summary.json recorded when the run was made, so renaming a folder does not change it. Runs of
    two competitions sharing an id are named by their competitions and blend."""
    seen: dict[str, int] = {}
    for i, (d, name) in enumerate(zip(run_dirs, member_names(summaries), strict=True)):
        if (first := seen.setdefault(name, i)) == i:
            continue
        s, other = summaries[i], run_dirs[first]
        if other.resolve() == d.resolve():
            why = "are one run; each run may be blended once (its models would count twice): name it once."
        else:
            why = (
                f"share the run id {s['run_id']} of {s['competition']} (their summary.json's run_id, which names each "
                "run's models in the blend): one is a copy of the other, or they were made in one second under two "
                "runs/ folders; blend one of them, or run the competition again for a run of another id."
            )
        raise ContractError(f"ensemble: {other} and {d} {why}")


def _tables_digest(folder: Path) -> tuple[tuple[str, str], ...]:
    """(name, sha256) of the folder's top-level tables (.csv, .json; hidden files aside): what says which rows a
    competition's train and test sets are. Empty when the folder is gone."""
    if not folder.is_dir():
        return ()
    tables = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".csv", ".json") and p.name[0] != ".")
    return tuple((p.name, sha256(p)) for p in tables)


def _inputs(spec: str, run_dir: Path, data_dir: Path, is_sample: bool) -> RunInputs:
    """The competition, the saved Config of `run_dir` and the data it was trained on, loaded again."""
    module = load_competition(spec)
    cfg = runfolder.saved_config(module, run_dir)
    data = module.load(cfg, data_dir)
    check_data(data, competition_name(module))
    return RunInputs(module, cfg, data, data_dir, is_sample)
