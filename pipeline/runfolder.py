"""Run folders: `runs/<competition>/<timestamp>[-tag]/` holds everything a run made, for audit, resume and blending.

Layout (every file written atomically):
    summary.json       "status" (complete | failed | interrupted), competition, slug, run id, sample flag, metric,
                       CV per model and blend, submission path; a failed run's error; an ensemble's "members" (the
                       runs it blends: pipeline/ensemble_runs.py, read by predict and package)
    config.json        resolved Config and the overrides that produced it
    command.json       argv and the parsed CLI options (replayed by --resume)
    env.json           git sha and dirty flag, library versions, device, python, platform
    folds.npy          fold index of every training row
    scores.json        per model: per-fold score and seconds, mean, std; blend and equal-weight mean
    blend.json         blend weights fitted on OOF predictions
    train_images.json  each training image's file, size and sha256 (a competition with load_test: predict warns of
                       a test image that is one of them; pipeline/imagedigests.py)
    importance.csv     each input column's share of each model's importance, mean over folds (pipeline/importance.py)
    stack.json, threshold.json, calibration.json   the level-2 stack, the F1/MCC decision threshold and the
                       calibration, when the Config / competition asks
    stages.json        what the stages after the models fitted, as predict applies them without the training data:
                       the blend weights, the stack's meta-model, the threshold or grade cuts, the temperature
                       (pipeline/stages.py)
    oof/<model>.npy    out-of-fold predictions (rows x outputs); test/<model>.npy the test predictions of the
                       submission: the fold models' merged, or the refit's (also _blend, _stack, _threshold,
                       _calibrated: the run-level stages)
    parts/<model>/fold<k>.npz   per-fold OOF rows and test predictions: what --resume keeps; full.npz the refit
                       on every training row (Config.refit), its test predictions
    models/            the fitted fold models and the refit (pipeline/modelstore.py), for `predict`
    checkpoints/       estimator checkpoints (per model and fold) for epoch-level resume
    plots/*.png        residuals, learning curves, confusion matrix ...
    log.txt            the run's log
    submission.*       the validated submission (also copied to submissions/<competition>/<run-id>.<ext>)

This module is the one place that knows these names: the runner, `finish`, `ensemble` and `predict` read and write
a run folder through the functions below.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import read_json, write_json, write_npy, write_text, write_with
from pipeline.config import apply_overrides, field_types
from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.runlog import RunLog

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "torch",
    "torchvision",
    "timm",
    "albumentations",
    "optuna",
    "kaggle",
)


def runs_root() -> Path:
    """Where run folders live: runs/ in the working directory."""
    return Path.cwd() / "runs"


def new_run_dir(competition: str, tag: str | None = None, root: Path | None = None) -> Path:
    """Create a fresh, uniquely named run folder."""
    base = (root or runs_root()) / competition
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{tag}" if tag else stamp
    path, n = base / name, 1
    while path.exists():
        n += 1
        path = base / f"{name}.{n}"
    path.mkdir(parents=True)
    return path


def open_log(run_dir: Path | None, quiet: bool = False) -> RunLog:
    """The run's log: log.txt in the run folder (None: the console only) and the console unless quiet."""
    return RunLog(Path(run_dir) / "log.txt" if run_dir is not None else None, quiet=quiet)


def write_record(run_dir: Path, name: str, record: dict[str, Any]) -> None:
    """One of the run's JSON records (config, command, env, blend, scores, stack, calibration, summary)."""
    write_json(Path(run_dir) / f"{name}.json", record)


STAGES_VERSION = 1  # stages.json's layout: a run folder with another is predicted as one without it (refit)


def write_stages(run_dir: Path, record: dict[str, Any]) -> None:
    """stages.json: what the stages after the models fitted (pipeline/stages.py reads and applies it)."""
    write_record(run_dir, "stages", {"version": STAGES_VERSION} | record)


def read_stages(run_dir: Path) -> dict[str, Any] | None:
    """The run's stages.json, or None when it has none (a run from before it) or another layout."""
    if not (Path(run_dir) / "stages.json").is_file():
        return None
    record = read_record(run_dir, "stages")
    return record if record.get("version") == STAGES_VERSION else None


def read_record(run_dir: Path, name: str) -> Any:
    """A JSON record written by write_record."""
    return read_json(Path(run_dir) / f"{name}.json")


def saved_config(module: Any, run_dir: Path, source: str = "saved config") -> Any:
    """The run's Config from config.json. Device settings that runs from before they left the Config saved there
    (precision, num_workers, cache_mb: now the runner's options) are left out where the Config has no such field."""
    from pipeline.fitting import split_saved_config  # sklearn: imported only when a config is read

    science = split_saved_config(read_record(run_dir, "config")["config"], field_types(module.Config))[0]
    return apply_overrides(module.Config, science, source=source)


def missing_records(run_dir: Path, models: list[str]) -> list[str]:
    """The records every finished run wrote and `predict` reads that this run folder lacks (paths in it): config.json,
    folds.npy and each model's oof/<model>.npy."""
    names = ["config.json", "folds.npy", *(f"oof/{m}.npy" for m in models)]
    return [name for name in names if not (Path(run_dir) / name).is_file()]


def incomplete_run(run_dir: Path, missing: list[str], again: str) -> ContractError:
    """The refusal of a run folder that lacks files its run wrote (a folder copied in part): names the folder and the
    files, and says what to do; `again` is the command that makes the run anew."""
    return ContractError(
        f"{run_dir}: the run folder is incomplete: it lacks {listed(missing, 5)}, which the run wrote (was the folder "
        f"copied in part?); copy the whole run folder, or make the run anew ({again})."
    )


def write_importance(run_dir: Path, csv: str) -> Path:
    """importance.csv: the run's feature importance table (pipeline.importance.table as CSV)."""
    path = Path(run_dir) / "importance.csv"
    write_text(path, csv)
    return path


def write_folds(run_dir: Path, folds: np.ndarray) -> None:
    """folds.npy: the fold index of every training row."""
    write_npy(Path(run_dir) / "folds.npy", folds)


def read_folds(run_dir: Path) -> np.ndarray:
    """The saved folds.npy."""
    return np.load(Path(run_dir) / "folds.npy")


def write_predictions(run_dir: Path, name: str, oof: np.ndarray, test: np.ndarray) -> None:
    """oof/<name>.npy and test/<name>.npy: a model's (or a stage's: _blend, _stack, _calibrated) predictions."""
    write_npy(Path(run_dir) / "oof" / f"{name}.npy", np.asarray(oof))
    write_npy(Path(run_dir) / "test" / f"{name}.npy", np.asarray(test))


def read_predictions(run_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-fold and test predictions of `name` written by write_predictions."""
    return np.load(Path(run_dir) / "oof" / f"{name}.npy"), np.load(Path(run_dir) / "test" / f"{name}.npy")


# The refit of a model on every training row (Config.refit) is kept as this "fold": parts/<model>/full.npz and
# models/<model>/full.*
FULL = "full"


def fit_stem(fold: int | str) -> str:
    """A fit's file name stem: fold<k> for a fold, `full` for the refit on every training row."""
    return fold if isinstance(fold, str) else f"fold{fold}"


def fit_name(fold: int | str) -> str:
    """A fit as messages name it: fold <k>, or the refit on every training row."""
    return f"fold {fold}" if isinstance(fold, int) else "refit on every training row"


def part_path(run_dir: Path, model: str, fold: int | str) -> Path:
    """parts/<model>/fold<k>.npz: one fold's predictions, kept for --resume (full.npz: the refit's)."""
    return Path(run_dir) / "parts" / model / f"{fit_stem(fold)}.npz"


def write_part(path: Path, part: dict[str, Any]) -> None:
    """A fold's part file (arrays, score, seconds and the config hash under "hash"), atomically."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in part.items()})

    write_with(path, save)


def read_part(path: Path, key: str) -> dict[str, Any] | None:
    """A saved part whose hash is `key`, else None (missing, or made under another config)."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["hash"]) != key:
            return None
        return {k: z[k] for k in z.files} | {"score": float(z["score"]), "seconds": float(z["seconds"])}


def git_state() -> dict[str, Any]:
    """Git sha and dirty flag of the project, or nulls outside a checkout."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10).stdout

    try:
        sha = git("rev-parse", "HEAD").strip() or None
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip()) if sha else None
    except (OSError, subprocess.SubprocessError):
        sha, dirty = None, None
    return {"sha": sha, "dirty": dirty}


def environment(device: str = "cpu") -> dict[str, Any]:
    """What produced a run: git state, versions, device, interpreter."""
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = None
    return {
        "git": git_state(),
        "versions": versions,
        "device": device,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def list_runs(competition: str | None = None, root: Path | None = None) -> list[dict[str, Any]]:
    """Summaries of past runs (newest first), optionally of one competition."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    dirs = [root / competition] if competition else [p for p in root.iterdir() if p.is_dir()]
    out = []
    for d in dirs:
        for run in d.glob("*/summary.json") if d.is_dir() else []:
            try:
                s = read_json(run)
            except (OSError, ValueError):
                continue
            s["run_dir"] = str(run.parent)
            out.append(s)
    return sorted(out, key=lambda s: s.get("started", ""), reverse=True)


def latest_run(competition: str, root: Path | None = None) -> Path | None:
    """The newest finished (complete) run folder of a competition."""
    runs = [r for r in list_runs(competition, root) if r.get("status", "complete") == "complete"]
    return Path(runs[0]["run_dir"]) if runs else None


def run_is_complete(run_dir: Path) -> bool:
    """Whether a run folder holds a finished run (a summary.json that is not a failure record)."""
    try:
        summary = read_json(Path(run_dir) / "summary.json")
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("status", "complete") == "complete"


def mark_failed(run_dir: Path, error: BaseException) -> None:
    """Record a failure: the error (and its traceback) in log.txt, "status": "failed" in summary.json.

    Never raises (it runs while another exception is on its way out) and never replaces a complete run's summary.
    """
    import traceback

    try:
        run_dir = Path(run_dir)
        if run_is_complete(run_dir):
            return
        interrupted = isinstance(error, KeyboardInterrupt)
        message = "interrupted" if interrupted else (str(error).strip().splitlines() or [type(error).__name__])[0]
        stamp = dt.datetime.now()
        with open(run_dir / "log.txt", "a") as f:
            f.write(f"{stamp:%H:%M:%S} {'interrupted' if interrupted else 'failed'}: {message}\n")
            if not interrupted:
                f.write("".join(traceback.format_exception(error)))
        command = {}
        with contextlib.suppress(OSError, ValueError, AttributeError):
            command = read_json(run_dir / "command.json").get("options", {})
        started = dt.datetime.fromtimestamp(run_dir.stat().st_ctime)
        write_record(
            run_dir,
            "summary",
            {
                "status": "interrupted" if interrupted else "failed",
                "error": message,
                "error_type": type(error).__name__,
                "competition": run_dir.parent.name,
                "run_id": run_dir.name,
                "run_dir": str(run_dir),
                "sample": bool(command.get("sample")),
                "tag": command.get("tag"),
                "started": started.isoformat(timespec="seconds"),
                "finished": stamp.isoformat(timespec="seconds"),
                "resume": f"python -m pipeline run --resume {run_dir}",
            },
        )
    except Exception:  # noqa: S110 - the original error matters more than its record
        pass


def competition_spec(run_dir: Path, summary: dict[str, Any]) -> str:
    """The competition as the run named it; a relative folder (`new`'s comps/x) is looked for in the run folder first
    (a package's run/ carries its competition, as `package` records it), then as given, then in the project the run
    was made in (runs/<competition>/<run-id> sits in it), so predict works from any directory."""
    spec = str(summary.get("competition_spec") or summary["competition"])
    if "/" in spec and not Path(spec).is_absolute() and (run_dir / spec / "__init__.py").is_file():
        return str(run_dir / spec)
    if "/" not in spec or Path(spec).is_absolute() or Path(spec).is_dir():
        return spec
    for run in (Path(str(summary.get("run_dir") or run_dir)), run_dir.resolve()):
        if len(run.parents) > 2 and (run.parents[2] / spec).is_dir():
            return str(run.parents[2] / spec)
    return spec
