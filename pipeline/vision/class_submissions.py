"""Class predictions to Kaggle submissions: accuracy and Kaggle's multi-class log loss, the most probable class's
name per row (a label submission), one probability column per class (a probability submission) or the second of two
classes' probability (a positive submission, scored by ROC AUC), and the checks
of a probability submission's header and rows beyond the sample submission's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.calibration import normalise, rescale_rows  # Kaggle's row rescaling (and clipping to 1e-15)
from pipeline.contract import Data
from pipeline.submission import SubmissionError, read_header, validate_submission


def accuracy(y_true: Any, pred: Any) -> float:
    """Accuracy; pred holds class probabilities (rows x classes) or class indices."""
    pred = np.asarray(pred)
    labels = pred.argmax(axis=1) if pred.ndim == 2 else pred
    return float(np.mean(np.asarray(y_true) == labels))


def log_loss(y_true: Any, pred: Any) -> float:
    """Kaggle's multi-class log loss: rows rescaled to sum to 1, clipped to [1e-15, 1 - 1e-15], mean -log p(true)."""
    p = normalise(pred)
    y = np.asarray(y_true, dtype=np.int64)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def positive_auc(y_true: Any, pred: Any) -> float:
    """ROC AUC of the second class's probability (rows x 2, rescaled as the submission writes them), as Kaggle scores
    one probability column (pipeline.tabular.metrics.binary_auc)."""
    from pipeline.tabular.metrics import binary_auc

    return binary_auc(np.asarray(y_true) == 1, rescale_rows(pred)[:, 1])


def write_labels(data: Data, pred: Any, path: Path, columns: tuple[str, str] = ("id", "label")) -> None:
    """The columns (id, label) in the sample submission's order; the label is the most probable class's name."""
    labels = np.asarray(data.classes)[np.asarray(pred).argmax(axis=1)]
    pd.DataFrame({columns[0]: data.test_ids, columns[1]: labels}).to_csv(path, index=False)


def write_probabilities(
    data: Data, pred: Any, path: Path, id_column: str = "id", order: list[str] | None = None
) -> None:
    """id + one probability column per class (rows rescaled to sum to 1; pred's columns follow data.classes), in the
    sample's row order and its column `order` (None: data.classes' order)."""
    p = rescale_rows(pred)
    if p.shape != (len(data.test_ids), len(data.classes)):
        raise SubmissionError(
            f"expected {len(data.test_ids)} x {len(data.classes)} test probabilities, got {p.shape[0]} x {p.shape[1]}."
        )
    frame = pd.DataFrame(p, columns=list(data.classes))[order or list(data.classes)]
    frame.insert(0, id_column, data.test_ids)
    frame.to_csv(path, index=False, float_format="%.7g")


def write_positive(data: Data, pred: Any, path: Path, columns: tuple[str, str] = ("id", "label")) -> None:
    """The columns (id, label) in the sample submission's order; the label column holds the second class's
    probability (rows rescaled to sum to 1 first)."""
    p = rescale_rows(pred)
    if p.shape != (len(data.test_ids), 2):
        raise SubmissionError(f"expected {len(data.test_ids)} x 2 test probabilities, got {p.shape[0]} x {p.shape[1]}.")
    frame = pd.DataFrame({columns[0]: data.test_ids, columns[1]: p[:, 1]})
    frame.to_csv(path, index=False, float_format="%.7g")


def _header_problem(header: list[str], want: list[str]) -> str:
    """The first difference between a header and the one wanted, in words."""
    missing = [c for c in want if c not in header]
    if missing:
        return f"column {missing[0]!r} is missing" + (f" ({len(missing)} in all)" if len(missing) > 1 else "")
    i = next((i for i, (a, b) in enumerate(zip(header, want, strict=False)) if a != b), None)
    if i is not None:
        return f"column {i + 1}: expected {want[i]!r}, got {header[i]!r}"
    return f"unexpected column {header[len(want)]!r}"


def validate_probabilities(
    data: Data, path: Path, id_column: str = "id", noun: str = "class", order: list[str] | None = None
) -> None:
    """Header exactly id + the classes in the sample's `order` (None: alphabetical); the sample's ids in its order;
    probabilities finite, in [0, 1], and no row all zeros (Kaggle cannot rescale it). `noun` names a class in
    messages ("breed")."""
    path = Path(path)
    want = [id_column, *(order or sorted(data.classes or []))]
    header = read_header(path)
    if header != want:
        raise SubmissionError(
            f"{path.name}: columns must be {id_column} followed by the {len(want) - 1} {noun}s in the sample "
            f"submission's order; got {len(header)} columns: {_header_problem(header, want)}."
        )
    sub = validate_submission(path, data.sample_submission, bounds={c: (0.0, 1.0) for c in want[1:]})
    sums = sub[want[1:]].astype(float).sum(axis=1).to_numpy()
    zero = np.flatnonzero(sums <= 0)
    if len(zero):
        raise SubmissionError(f"{path.name}: line {zero[0] + 2} has all probabilities 0; Kaggle cannot rescale it.")
