"""Classify Leaves: read train.csv, test.csv, sample_submission.csv and images/ exactly as shipped; score, write and
validate the submission (species names)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competitions.leaves.species import SPECIES
from pipeline.contract import ContractError, Data
from pipeline.imagefiles import check_image_files
from pipeline.submission import validate_submission


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise ContractError(f"Cannot read {path.name}: {e}") from None
    if list(frame.columns) != columns:
        raise ContractError(f"{path.name}: expected columns {columns}, got {list(frame.columns)}.")
    dup = frame["image"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise ContractError(f"{path.name} line {row + 2}: image {frame['image'].iloc[row]} is listed twice.")
    return frame


def _check_labels(labels: pd.Series, images: pd.Series) -> None:
    unknown = ~labels.isin(SPECIES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        value = labels.iloc[row]
        close = difflib.get_close_matches(str(value).lower().replace(" ", "_"), SPECIES, n=3)
        hint = f" Closest valid labels: {', '.join(close)}." if close else ""
        raise ContractError(
            f"train.csv line {row + 2} ({images.iloc[row]}): unknown label {value!r}.{hint} Valid labels are the "
            f"{len(SPECIES)} species names of competitions/leaves/species.py ({', '.join(SPECIES[:4])}, ...)."
        )


def load(cfg: Any, data_dir: Path) -> Data:
    """Train image paths and species indices; test paths in the sample submission's order."""
    data_dir = Path(data_dir)
    train = _read_csv(data_dir / "train.csv", ["image", "label"])
    _check_labels(train["label"], train["image"])
    sample = data_dir / "sample_submission.csv"
    sub = _read_csv(sample, ["image", "label"])
    listed = set(_read_csv(data_dir / "test.csv", ["image"])["image"])
    if listed != set(sub["image"]):
        odd = sorted(listed ^ set(sub["image"]))[0]
        where = "test.csv" if odd in listed else sample.name
        raise ContractError(
            f"test.csv and {sample.name} list different images: {odd} is only in {where}; they must match."
        )
    classes = sorted(set(train["label"]))  # the 176 species on the real data
    headers = bool(getattr(cfg, "check_images", True))
    X, _ = check_image_files(data_dir, list(train["image"]), "train.csv", 2, headers)
    X_test, _ = check_image_files(data_dir, list(sub["image"]), sample.name, 2, headers)
    return Data(
        X=X,
        y=train["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64),
        X_test=X_test,
        test_ids=sub["image"].to_numpy(),
        sample_submission=sample,
        classes=classes,
        data_dir=data_dir,
    )


def score(y_true: Any, pred: Any) -> float:
    """Accuracy; pred holds class probabilities (rows x classes) or class indices."""
    pred = np.asarray(pred)
    labels = pred.argmax(axis=1) if pred.ndim == 2 else pred
    return float(np.mean(np.asarray(y_true) == labels))


def write_submission(data: Data, pred: Any, path: Path) -> None:
    """image,label in the sample submission's order; the label is the most probable species' name."""
    labels = np.asarray(data.classes)[np.asarray(pred).argmax(axis=1)]
    frame = pd.DataFrame({"image": data.test_ids, "label": labels})
    frame.to_csv(path, index=False)


def validate(data: Data, path: Path) -> None:
    """The sample's images in its order, and every label one of the species trained on (all known species)."""
    allowed = [c for c in data.classes if c in SPECIES]
    validate_submission(path, data.sample_submission, allowed={"label": allowed})
