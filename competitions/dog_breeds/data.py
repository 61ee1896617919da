"""Dog breeds: read labels.csv, sample_submission.csv and the JPEGs exactly as shipped; score, write and validate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.imagefiles import check_image_files
from pipeline.submission import SubmissionError, read_header, validate_submission

EPS = 1e-15  # Kaggle clips probabilities to [EPS, 1 - EPS]


def _read_csv(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise ContractError(f"Cannot read {path.name}: {e}") from None
    if columns is not None and list(frame.columns) != columns:
        raise ContractError(f"{path.name}: expected columns {columns}, got {list(frame.columns)}.")
    return frame


def breeds_of(sample_submission: Path) -> list[str]:
    """The breed columns of sample_submission.csv (after `id`), which must be in alphabetical order."""
    header = list(pd.read_csv(sample_submission, nrows=0).columns)
    if len(header) < 3 or header[0] != "id":
        raise ContractError(f"{sample_submission.name}: expected columns id, then the breeds; got {header[:5]}.")
    breeds = header[1:]
    if breeds != sorted(breeds) or len(set(breeds)) != len(breeds):
        raise ContractError(f"{sample_submission.name}: the breed columns must be distinct and in alphabetical order.")
    return breeds


def load(cfg: Any, data_dir: Path) -> Data:
    """Train image paths and breed indices (columns of the sample submission); test paths in the sample's order."""
    data_dir = Path(data_dir)
    labels = _read_csv(data_dir / "labels.csv", ["id", "breed"])
    sample = data_dir / "sample_submission.csv"
    breeds = breeds_of(sample)
    index = {b: i for i, b in enumerate(breeds)}
    unknown = ~labels["breed"].isin(index)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        shown = ", ".join(breeds[:10]) + (f", ... ({len(breeds)} in all)" if len(breeds) > 10 else "")
        raise ContractError(
            f"labels.csv line {row + 2} (id {labels['id'].iloc[row]}): unknown breed {labels['breed'].iloc[row]!r}; "
            f"valid breeds (the columns of sample_submission.csv): {shown}."
        )
    dup = labels["id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise ContractError(f"labels.csv line {row + 2}: duplicate id {labels['id'].iloc[row]}.")
    test_ids = _read_csv(sample)["id"]
    headers = bool(getattr(cfg, "check_images", True))
    X, sizes = check_image_files(data_dir, [f"train/{i}.jpg" for i in labels["id"]], "labels.csv", 2, headers)
    X_test, test_sizes = check_image_files(data_dir, [f"test/{i}.jpg" for i in test_ids], sample.name, 2, headers)
    return Data(
        X=X,
        y=labels["breed"].map(index).to_numpy(dtype=np.int64),
        X_test=X_test,
        test_ids=test_ids.to_numpy(),
        sample_submission=sample,
        classes=breeds,
        data_dir=data_dir,
        info={"train_sizes": sizes, "test_sizes": test_sizes},
    )


def normalise(pred: Any) -> np.ndarray:
    """Rows rescaled to sum to 1 (an all-zero row becomes uniform), as Kaggle rescales before scoring."""
    p = np.asarray(pred, dtype=np.float64)
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)


def score(y_true: Any, pred: Any) -> float:
    """Kaggle's multi-class log loss: rows rescaled to sum to 1, clipped to [1e-15, 1 - 1e-15], mean -log p(true)."""
    p = np.clip(normalise(pred), EPS, 1 - EPS)
    y = np.asarray(y_true, dtype=np.int64)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def write_submission(data: Data, pred: Any, path: Path) -> None:
    """id + one probability column per breed, in the sample submission's row and column order."""
    p = normalise(pred)
    if p.shape != (len(data.test_ids), len(data.classes)):
        raise SubmissionError(
            f"expected {len(data.test_ids)} x {len(data.classes)} test probabilities, got {p.shape[0]} x {p.shape[1]}."
        )
    frame = pd.DataFrame(p, columns=list(data.classes))
    frame.insert(0, "id", data.test_ids)
    frame.to_csv(path, index=False, float_format="%.7g")


def validate(data: Data, path: Path) -> None:
    """Header exactly id + the sorted breeds of the sample; its ids in its order; probabilities finite, in [0, 1]."""
    path = Path(path)
    want = ["id", *sorted(data.classes)]
    header = read_header(path)
    if header != want:
        missing = [c for c in want if c not in header]
        i = next((i for i, (a, b) in enumerate(zip(header, want, strict=False)) if a != b), None)
        if missing:
            where = f"column {missing[0]!r} is missing" + (f" ({len(missing)} in all)" if len(missing) > 1 else "")
        elif i is not None:
            where = f"column {i + 1}: expected {want[i]!r}, got {header[i]!r}"
        else:
            where = f"unexpected column {header[len(want)]!r}"
        raise SubmissionError(
            f"{path.name}: columns must be id followed by the {len(want) - 1} breeds in alphabetical order "
            f"(the sample submission's header); got {len(header)} columns: {where}."
        )
    sub = validate_submission(path, data.sample_submission, bounds={b: (0.0, 1.0) for b in data.classes})
    sums = sub[list(data.classes)].astype(float).sum(axis=1).to_numpy()
    zero = np.flatnonzero(sums <= 0)
    if len(zero):
        raise SubmissionError(f"{path.name}: line {zero[0] + 2} has all probabilities 0; Kaggle cannot rescale it.")
