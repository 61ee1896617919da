"""`pipeline ensemble RUN RUN ...`: blend saved runs of one competition; refuses runs whose folds differ."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import read_json, write_npy
from pipeline.config import apply_overrides
from pipeline.contract import ContractError, load_competition
from pipeline.finish import FittedRun, finish_run
from pipeline.runfolder import new_run_dir
from pipeline.runlog import RunLog


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
    summaries = [_summary(d) for d in run_dirs]
    comps = {s["competition"] for s in summaries}
    if len(comps) > 1:
        raise ContractError(f"ensemble: runs belong to different competitions: {', '.join(sorted(comps))}.")
    samples = {bool(s.get("sample")) for s in summaries}
    if len(samples) > 1:
        raise ContractError("ensemble: cannot mix runs on the built-in sample with runs on real data.")
    folds = np.load(run_dirs[0] / "folds.npy")
    for d in run_dirs[1:]:
        other = np.load(d / "folds.npy")
        if other.shape != folds.shape or not np.array_equal(other, folds):
            raise ContractError(
                f"ensemble: {d} used different folds from {run_dirs[0]} (seed, --folds or data differ); "
                "OOF predictions of different folds cannot be blended fairly. Re-run with the same --seed/--folds."
            )
    spec = summaries[0].get("competition_spec") or summaries[0]["competition"]
    module = load_competition(spec)
    cfg = apply_overrides(module.Config, read_json(run_dirs[0] / "config.json")["config"], source="saved config")
    data_dir = Path(summaries[0]["data_dir"])
    data = module.load(cfg, data_dir)
    results: dict[str, dict[str, Any]] = {}
    for d, s in zip(run_dirs, summaries, strict=True):
        scores = read_json(d / "scores.json")
        for model in s["models"]:
            key = f"{s['run_id']}/{model}" if len(run_dirs) > 1 else model
            results[key] = {
                "oof": np.load(d / "oof" / f"{model}.npy"),
                "test": np.load(d / "test" / f"{model}.npy"),
                **{k: scores[model][k] for k in ("fold_scores", "fold_seconds", "mean", "std")},
            }
    run_dir = new_run_dir(summaries[0]["competition"], "-".join(t for t in ("ensemble", tag) if t), runs_root)
    log = RunLog(run_dir / "log.txt", quiet=quiet)
    log(f"ensemble of {', '.join(str(d) for d in run_dirs)} -> {run_dir}")
    write_npy(run_dir / "folds.npy", folds)
    run = FittedRun(
        module=module,
        cfg=cfg,
        data=data,
        folds=folds,
        results=results,
        run_dir=run_dir,
        data_dir=data_dir,
        is_sample=samples.pop(),
        log=log,
        t_start=t_start,
        competition_spec=spec,
        tag=tag,
        submissions_root=submissions_root,
        quiet=quiet,
    )
    return finish_run(run)
