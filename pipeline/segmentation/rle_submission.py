"""Kaggle's submission of run-length masks: the sample submission's rows, ids, columns and order, its mask column
holding each (image, class) pair's mask ("start length ...", in the competition's pixel order and encoding; empty, or
the sample's token for none, where there is no mask: SIIM's "-1"). The sample names a row by its image alone
(Carvana's `img,rle_mask`, TGS Salt's `id,rle_mask`, SIIM's `ImageId,EncodedPixels`), by its image and a class
column (Severstal's `ImageId,EncodedPixels,ClassId`), or by an id joining both (Severstal's older
`ImageId_ClassId,EncodedPixels`: "0002cc93b.jpg_1"). Written from each test image's cells, then validated before
anything reaches submissions/.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import write_with
from pipeline.contract import ContractError
from pipeline.segmentation.mask_table import class_index, split_joined
from pipeline.segmentation.rle import RleError, is_empty, runs
from pipeline.submission import SubmissionError, read_against_sample
from pipeline.vision.csv_images import read_csv


@dataclass(frozen=True)
class SampleLayout:
    """How the sample submission names its rows: `id_column` (the image, or with `joined` the image and its class
    joined by that separator), `class_column` (a column of classes beside it), and the mask column."""

    id_column: str
    prediction_column: str
    classes: tuple[str, ...]
    class_column: str | None = None
    joined: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """The columns that name a row together."""
        return (self.id_column, self.class_column) if self.class_column else (self.id_column,)

    def pairs(self, frame: pd.DataFrame, where: str) -> tuple[list[str], np.ndarray]:
        """The images of a sample (or a submission read against it) in the order they first appear, and each row's
        (image index, class index); a class that is none of the competition's, an image or pair twice, refused."""
        images: dict[str, int] = {}
        rows = np.zeros((len(frame), 2), np.int64)
        seen: dict[tuple[int, int], int] = {}
        for i, row in enumerate(frame.to_dict("records")):
            line, key = i + 2, str(row[self.id_column]).strip()
            klass = 0
            if self.class_column is not None:
                klass = class_index(str(row[self.class_column]).strip(), self.classes, where, line, self.class_column)
            elif self.joined is not None and len(self.classes) > 1:
                key, value = split_joined(key, self.joined)
                klass = class_index(value, self.classes, where, line, self.id_column)
            image = images.setdefault(key, len(images))
            if (image, klass) in seen:
                raise ContractError(f"{where} line {line}: {' '.join(self._named(row))} is listed twice.")
            seen[image, klass] = line
            rows[i] = image, klass
        return list(images), rows

    def _named(self, row: dict[str, str]) -> list[str]:
        return [f"{c} {row[c]}" for c in self.key]


def read_sample(path: Path, layout: SampleLayout) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """The sample submission as written (every cell text), its images and its rows' (image, class) pairs."""
    frame = read_csv(path)
    missing = [c for c in (*layout.key, layout.prediction_column) if c not in frame.columns]
    if missing:
        raise ContractError(f"{path.name}: no column {missing[0]!r}; its columns: {list(frame.columns)}.")
    images, rows = layout.pairs(frame, path.name)
    if not images:
        raise ContractError(f"{path.name}: no rows: no test image to predict.")
    return frame, images, rows


def write(
    path: Path,
    sample: Path,
    layout: SampleLayout,
    cells_of: Callable[[int], list[str]],
    empty: str = "",
) -> None:
    """The submission: the sample's rows and cells as written, its mask column replaced by each row's (image, class)
    cell from `cells_of(image index)` (one per class; "" for no mask, written as `empty`), streamed, atomically."""
    frame, _, rows = read_sample(sample, layout)

    def cells() -> Iterator[list[str]]:
        cached: tuple[int, list[str]] = (-1, [])
        for image, klass in rows:
            if cached[0] != image:
                cached = (int(image), cells_of(int(image)))
            yield [cached[1][klass] or empty]

    write_rows(path, frame, layout.prediction_column, cells())


def write_rows(path: Path, frame: pd.DataFrame, column: str, cells: Iterable[list[str]]) -> None:
    """The sample's rows (`frame`, its other cells as written), each written once per cell of its entry in `cells`
    with that cell in `column`, streamed as `cells` yields them, atomically."""
    index = list(frame.columns).index(column)

    def writer(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(frame.columns)
            for values, row_cells in zip(frame.itertuples(index=False), cells, strict=True):
                for cell in row_cells:
                    row = list(values)
                    row[index] = cell
                    out.writerow(row)

    write_with(path, writer)


def validate(
    path: Path,
    sample: Path,
    layout: SampleLayout,
    sizes: dict[str, tuple[int, int]],
    empty: str = "",
    encoding: str = "absolute",
) -> int:
    """Check a submission against the sample: its header, its rows named as the sample's, each once, in its order,
    and every mask cell a run-length string in `encoding` inside its image (`sizes`: each test image's (width,
    height)), empty or `empty` for none. Returns the number of masks."""
    path = Path(path)
    _, sub = read_against_sample(path, sample, layout.key if layout.class_column else ())
    images, rows = layout.pairs(sub.fillna(""), path.name)
    column, masks = layout.prediction_column, 0
    for i, (cell, (image, _)) in enumerate(zip(sub[column].fillna(""), rows, strict=True)):
        if is_empty(cell) or str(cell).strip() == empty:
            continue
        w, h = sizes[images[image]]
        try:
            runs(cell, int(w) * int(h) if w and h else None, encoding)
        except RleError as e:
            named = " ".join(f"{c} {sub[c].iloc[i]}" for c in layout.key)
            raise SubmissionError(f"{path.name} line {i + 2} ({named}), column {column}: {e}.") from None
        masks += 1
    return masks
