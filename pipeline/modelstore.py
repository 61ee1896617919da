"""Fitted fold models kept in the run folder, so `predict` can predict new test data without training.

Layout: models/<model>/fold<k>.joblib (scikit-learn-style estimators, LightGBM/XGBoost/CatBoost included; zlib
compressed) or
fold<k>.pt (estimators with save_fitted/load_fitted: the image classifier and the detector, saved on the CPU and
loaded onto any device), each beside fold<k>.json: the format, the estimator's class, the sha256 of the file and the
key of the fold's predictions (parts/<model>/fold<k>.npz), so a model and the predictions it made stay paired. A
model refitted on every training row (Config.refit) is kept the same way as full.* (fold `runfolder.FULL`).
What the stages after the models fitted (the blend's weights, the level-2 stack's meta-model, the F1/MCC threshold
or QWK grade cuts, the calibration's temperature) is saved beside them in stages.json, and `predict` applies it as
saved, reading no training row (pipeline/stages.py). It refits those stages from the saved OOF predictions only for
a run folder without a stages.json it can read (none, or one of another layout), or where the competition's blend
hook has no apply_blend (pipeline/commands/predict.py).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pipeline import atomic
from pipeline.archives import sha256
from pipeline.contract import ContractError
from pipeline.runfolder import fit_name, fit_stem

FOLDER = "models"
# zlib level 1 on joblib files: a forest of deep trees (extratrees: 35 MB a fold on 2,400 rows) shrinks 4.4 times for
# 0.4 s; joblib.load reads compressed and uncompressed files alike, so earlier runs' models still load
COMPRESS = 1


def _meta_path(run_dir: Path, model: str, fold: int | str) -> Path:
    return Path(run_dir) / FOLDER / model / f"{fit_stem(fold)}.json"


def save_fold_model(run_dir: Path, model: str, fold: int | str, estimator: Any, key: str) -> Path:
    """Keep one fold's fitted estimator in the run folder (atomically); return the model file."""
    folder = Path(run_dir) / FOLDER / model
    if hasattr(estimator, "save_fitted") and hasattr(type(estimator), "load_fitted"):
        kind, path = "torch", folder / f"{fit_stem(fold)}.pt"
        atomic.write_with(path, estimator.save_fitted)
    else:
        import joblib

        kind, path = "joblib", folder / f"{fit_stem(fold)}.joblib"

        def dump(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                joblib.dump(estimator, fh, compress=COMPRESS)

        atomic.write_with(path, dump)
    cls = type(estimator)
    meta = {"format": kind, "class": f"{cls.__module__}:{cls.__qualname__}", "file": path.name, "key": key}
    atomic.write_json(_meta_path(run_dir, model, fold), meta | {"sha256": sha256(path)})
    return path


def fold_model_info(run_dir: Path, model: str, fold: int | str) -> dict[str, Any]:
    """The saved model's record (fold<k>.json); an error naming the run when the run kept none."""
    meta_path = _meta_path(run_dir, model, fold)
    try:
        return atomic.read_json(meta_path)
    except (OSError, ValueError):
        raise ContractError(
            f"{run_dir}: no saved model for {model} {fit_name(fold)} ({meta_path.relative_to(run_dir)} is missing); "
            "runs made before fitted models were kept cannot predict: run the competition again."
        ) from None


def missing_model_files(run_dir: Path, fits: dict[str, list[int | str]]) -> list[str]:
    """The saved models' files (paths in the run folder) that `fits` (each model's fits, prediction.saved_fits) need
    and the folder lacks: a fit's record fold<k>.json, or the model file it names."""
    missing = []
    for model, its in fits.items():
        for fold in its:
            meta_path = _meta_path(run_dir, model, fold)
            name = str(atomic.read_json(meta_path)["file"]) if meta_path.is_file() else meta_path.name
            if not (meta_path.parent / name).is_file():
                missing.append(f"{FOLDER}/{model}/{name}")
    return missing


def model_class(meta: dict[str, Any]) -> Any:
    """The class a saved model's record (fold<k>.json) names, imported."""
    module_name, _, qualname = meta["class"].partition(":")
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls


def load_fold_model(run_dir: Path, model: str, fold: int | str, device: str | None = None, verify: bool = True) -> Any:
    """One fold's fitted estimator, checked against its recorded sha256; deep ones onto `device`."""
    meta = fold_model_info(run_dir, model, fold)
    path = Path(run_dir) / FOLDER / model / meta["file"]
    if not path.is_file():
        raise ContractError(f"{path}: the saved model file is missing.")
    if verify and sha256(path) != meta.get("sha256"):
        raise ContractError(f"{path}: the saved model file is damaged (its sha256 differs from the one recorded).")
    if meta["format"] == "torch":
        return model_class(meta).load_fitted(path, device=device)
    import joblib

    return joblib.load(path)


def saved_files(run_dir: Path) -> list[Path]:
    """Every file of the run's kept models (for packaging)."""
    root = Path(run_dir) / FOLDER
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
