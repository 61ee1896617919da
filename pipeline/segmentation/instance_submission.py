"""Kaggle's submission of instances (Airbus Ship Detection's `ImageId,EncodedPixels`): one row per predicted object,
so an image is on as many rows as it has objects, and an image with none on one row of an empty cell (or the sample's
token for none). The sample lists each image once; the submission keeps its columns and its images' order, each
image's rows together. Written from each test image's object cells, then validated before anything reaches
submissions/: every image of the sample there and no other, each cell a run-length string inside its image, and no
two objects of one image sharing a pixel (Kaggle refuses overlapping masks).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.segmentation.rle import RleError, is_empty, runs
from pipeline.segmentation.rle_submission import SampleLayout, read_sample, write_rows
from pipeline.submission import SubmissionError, read_submission_csv


def write(
    path: Path, sample: Path, layout: SampleLayout, objects_of: Callable[[int], list[str]], empty: str = ""
) -> None:
    """The submission: each sample row (its other cells as written) repeated once per object cell of
    `objects_of(image index)`, or once with `empty` where the image has none; streamed, atomically."""
    frame, _, rows = read_sample(sample, layout)
    cells = (objects_of(int(image)) or [empty] for image, _ in rows)
    write_rows(path, frame, layout.prediction_column, cells)


def validate(
    path: Path,
    sample: Path,
    layout: SampleLayout,
    sizes: dict[str, tuple[int, int]],
    empty: str = "",
    encoding: str = "absolute",
) -> int:
    """Check a submission of instances against the sample (the module docstring; `sizes`: each test image's (width,
    height)). Returns the number of objects."""
    path = Path(path)
    want, _, _ = read_sample(sample, layout)
    sub = read_submission_csv(path).fillna("")
    if list(sub.columns) != list(want.columns):
        raise SubmissionError(f"{path.name}: header {list(sub.columns)}; the sample's is {list(want.columns)}.")
    ids = sub[layout.id_column].astype(str).str.strip()
    _check_images(path.name, ids, [str(k).strip() for k in want[layout.id_column]], layout.id_column)
    taken: dict[str, np.ndarray] = {}
    objects = 0
    for i, (key, cell) in enumerate(zip(ids, sub[layout.prediction_column], strict=True)):
        if is_empty(cell) or str(cell).strip() == empty:
            continue
        w, h = sizes[key]
        where = f"{path.name} line {i + 2} ({layout.id_column} {key}), column {layout.prediction_column}"
        try:
            starts, lengths = runs(cell, int(w) * int(h), encoding)
        except RleError as e:
            raise SubmissionError(f"{where}: {e}.") from None
        seen = taken.setdefault(key, np.zeros(int(w) * int(h), bool))
        pixels = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)])
        if seen[pixels].any():
            raise SubmissionError(f"{where}: this object overlaps another of the image's; objects may not overlap.")
        seen[pixels] = True
        objects += 1
    return objects


def _check_images(name: str, ids: pd.Series, sample_ids: list[str], column: str) -> None:
    """Every image of the sample on some row, no other image, each image's rows together in the sample's order."""
    if ids.empty:
        raise SubmissionError(f"{name}: no rows (only a header); the sample submission has {len(sample_ids)}.")
    known = set(sample_ids)
    if stray := [(i + 2, k) for i, k in enumerate(ids) if k not in known]:
        raise SubmissionError(f"{name} line {stray[0][0]}: {column} {stray[0][1]} is not in the sample submission.")
    present = set(ids)
    if missing := [k for k in sample_ids if k not in present]:
        raise SubmissionError(f"{name}: {len(missing)} images of the sample have no row, {column} {missing[0]} first.")
    order = [k for i, k in enumerate(ids) if i == 0 or ids.iloc[i - 1] != k]
    if order != sample_ids:
        i = next((j for j, (a, b) in enumerate(zip(order, sample_ids, strict=False)) if a != b), len(sample_ids))
        raise SubmissionError(
            f"{name}: images out of the sample's order or split apart: {column} {order[i]} where the sample has "
            f"{sample_ids[i] if i < len(sample_ids) else 'no more images'} (each image's rows together, in the "
            "sample's order)."
        )
