"""Image competitions whose answer per image is not one class: values (PetFinder's Pawpularity, scored by RMSE),
labels in 0/1 columns (plant pathology's, scored by mean column-wise ROC AUC) or labels as one column of
space-separated tags (Planet's, scored by mean F2), read and written as Kaggle ships them.

A competition in this style describes its files with one CsvImageTargets and takes `load`, `score`,
`write_submission` and `validate` from it; its models are ImageRegressor (values) or ImageMultiLabel (labels and
tags). Columns of the training CSV that are neither the id nor a target (PetFinder's photo metadata) are left alone.
Every error names the file, the line and the column or value at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import multilabel
from pipeline.contract import ContractError, Data, TrainingDataNeeded
from pipeline.grades import grades_of, nearest
from pipeline.listing import listed
from pipeline.submission import SubmissionError, validate_submission
from pipeline.tabular import metrics as tabular_metrics
from pipeline.vision.channels import image_channels
from pipeline.vision.csv_images import (
    check_labelled,
    check_test_csv,
    check_unique,
    find_images,
    read_csv,
    row_groups,
)

LABEL_METRICS = ("roc_auc", "log_loss")  # each label column's, averaged: Kaggle's mean column-wise score


def _column(table: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in table.columns:
        raise ContractError(f"{where}: no column {name!r}; its columns: {list(table.columns)[:12]}.")
    return table[name]


def column_numbers(table: pd.DataFrame, name: str, where: str, zero_one: bool) -> np.ndarray:
    """A column as floats (0/1 labels when `zero_one`), or an error naming the first line that is not (`new` checks
    a download with it too)."""
    text = _column(table, name, where).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (~np.isin(values, (0.0, 1.0)) if zero_one else False)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        want = "0 or 1" if zero_one else "a number"
        raise ContractError(f"{where} line {row + 2}: {name} is {text.iloc[row]!r}, not {want} ({bad.sum()} such).")
    return values


@dataclass(frozen=True)
class CsvImageTargets:
    """The files of an image competition with values or several labels per image, and its submission.

    Values (`columns`, labels=False): each target column of train_csv holds numbers; the submission writes one value
    per column. Labels (`columns`, labels=True): each column holds 0 or 1; the submission writes each label's
    probability. Tags (`tags_column`): one column of space-separated labels; the tags are those seen in training, and
    the submission writes the tags each image's probabilities name (pipeline/multilabel.py). `metric`: for values any
    regression metric of pipeline.tabular.metrics (rmse, mae, ...; with several columns their mean), for labels
    roc_auc or log_loss (their mean over the columns), for tags one of pipeline.multilabel.TAG_METRICS.

    The training CSV's id column may be named otherwise than the sample's (Id beside a sample's id):
    train_id_column is its own (by default id_column); its target columns are the sample's, by name, and its tags
    column is train_tags_column where that is named otherwise (Human Protein Atlas' train.csv Target beside its
    sample's Predicted: the tags are learnt from Target and written under Predicted). test_id_column is
    the test CSV's column of the images where it is not id_column (checked to list the sample's). An image_path of
    several patterns finds each id's image by the first whose file is there: one folder's suffixes
    (("train/{}.jpg", "train/{}.jpeg")) or several folders that each hold some of the images (Planet's
    ("test-jpg/{}.jpg", "test-jpg-additional/{}.jpg")).

    group_column names a column of the training CSV whose value groups images (a patient's photos), as CsvImages'
    does: load gives each training row's value as Data.groups (an empty cell a group of its image alone), for FOLDS
    "group", which keeps a group's images in one fold (values, label columns and tags are not classes to stratify).
    """

    train_csv: str  # one row per training image: train_id_column and the targets (other columns are ignored)
    id_column: str = "id"
    columns: tuple[str, ...] = ()  # the sample's columns after the id, each a column of train_csv
    labels: bool = False  # the columns hold 0/1 labels (probabilities submitted), not values
    tags_column: str = ""  # or: the one column of space-separated tags, in train_csv and the sample
    metric: str = "rmse"
    # an id to its file in the data folder: "train/{}.jpg"; "{}": the id is the path; several: tried in order
    image_path: str | tuple[str, ...] = "{}"
    test_image_path: str | tuple[str, ...] = "{}"
    sample_csv: str = "sample_submission.csv"
    test_csv: str | None = None  # a CSV of the test images (id_column) that must list the sample's
    train_id_column: str | None = None  # the training CSV's id column where it is not id_column (None: id_column)
    test_id_column: str | None = None  # test_csv's column of the images where it is not id_column (None: id_column)
    train_tags_column: str | None = None  # the training CSV's tags column where it is not tags_column (None: that)
    group_column: str | None = None  # the training CSV's column grouping images (Data.groups); None: no groups

    def __post_init__(self) -> None:
        if bool(self.columns) == bool(self.tags_column):
            raise ValueError("CsvImageTargets: give the target columns or the tags column, one of them.")
        if self.train_tags_column and not self.tags_column:
            raise ValueError("CsvImageTargets: train_tags_column names the training CSV's tags; give tags_column too.")
        if self.tags_column and self.metric not in multilabel.TAG_METRICS:
            raise ValueError(f"CsvImageTargets: metric {self.metric!r}; tags take {list(multilabel.TAG_METRICS)}.")
        if self.columns and self.labels and self.metric not in LABEL_METRICS:
            raise ValueError(f"CsvImageTargets: metric {self.metric!r}; label columns take {list(LABEL_METRICS)}.")
        if self.columns and not self.labels:
            known = tabular_metrics.known(self.metric) and "regression" in tabular_metrics.lookup(self.metric).tasks
            if not known:
                raise ValueError(f"CsvImageTargets: metric {self.metric!r} does not score values.")
            if self.grades and len(self.columns) > 1:
                raise ValueError(f"CsvImageTargets: {self.metric} scores the grades of one column, not {self.columns}.")

    @property
    def train_id(self) -> str:
        """The training CSV's id column."""
        return self.train_id_column or self.id_column

    @property
    def train_tags(self) -> str:
        """The training CSV's tags column (tags_column where train_tags_column is None)."""
        return self.train_tags_column or self.tags_column

    @property
    def grades(self) -> bool:
        """Whether the submission holds whole-number grades (a value scored by qwk: each value rounded to the nearest
        grade of the training values, or cut at the points fitted out of fold when Config.threshold is on)."""
        return bool(self.columns) and not self.labels and tabular_metrics.lookup(self.metric).submission == "grades"

    def _grades_of(self, y: np.ndarray) -> list[float]:
        """The training values' whole-number grades, or an error naming the column."""
        try:
            return grades_of(y).tolist()
        except ValueError as e:
            raise ContractError(f"{self.train_csv}: {self.columns[0]} under {self.metric}: {e}") from None

    @property
    def header(self) -> list[str]:
        """The sample submission's header: the id, then the target columns or the tags column."""
        return [self.id_column, *(self.columns or (self.tags_column,))]

    def load(self, cfg: Any, data_dir: Path) -> Data:
        """Train image paths and targets (values, or rows x labels of 0/1); test paths in the sample's order."""
        data_dir = Path(data_dir)
        train = read_csv(data_dir / self.train_csv)
        _column(train, self.train_id, self.train_csv)  # there, else refused naming the CSV's columns
        if self.group_column is not None and self.group_column not in train.columns:
            raise ContractError(
                f"{self.train_csv}: no column {self.group_column!r} (FILES' group_column, grouping its images); its "
                f"columns: {list(train.columns)[:12]}. Name the column in {self.train_csv}, or set group_column=None "
                'and FOLDS = "kfold" to draw the images one by one.'
            )
        check_unique(train, self.train_id, self.train_csv)
        self._check_targets(train)
        if self.tags_column:
            check_labelled(train, self.train_csv, self.train_id, self.train_tags)
            tags = multilabel.tags_in(train[self.train_tags])
            y = multilabel.tag_rows(train[self.train_tags], tags)
        else:
            tags = []
            y = np.column_stack([column_numbers(train, c, self.train_csv, self.labels) for c in self.columns])
            y = y[:, 0] if len(self.columns) == 1 and not self.labels else y
        trained: dict[str, Any] = {"tags": tags} if tags else {}
        if self.grades:
            trained["grades"] = self._grades_of(y)
        test = self.load_test(cfg, data_dir, trained)
        headers, warnings = bool(getattr(cfg, "check_images", True)), []
        channels = image_channels(cfg, image_path=self.image_path, test_image_path=self.test_image_path)
        X, sizes = find_images(
            data_dir, self.image_path, train[self.train_id], self.train_csv, headers, warnings, channels
        )
        warnings += test.info.get("warnings", [])  # the training CSV's lines first
        info = test.info | {"train_sizes": sizes, "trained": trained} | ({"warnings": warnings} if warnings else {})
        return Data(
            X=X,
            y=y,
            X_test=test.X_test,
            test_ids=test.test_ids,
            sample_submission=test.sample_submission,
            groups=None if self.group_column is None else row_groups(train[self.group_column]),
            data_dir=data_dir,
            info=info,
        )

    def _check_targets(self, train: pd.DataFrame) -> None:
        """The training CSV holds the sample's columns after its id, by name (the tags: train_tags_column, if named)."""
        if self.train_tags_column and self.train_tags_column not in train.columns:
            raise ContractError(
                f"{self.train_csv}: no column {self.train_tags_column!r} (FILES' train_tags_column, its tags); its "
                f"columns are {list(train.columns)[:12]}."
            )
        missing = [c for c in self.header[1:] if c not in train.columns and not self.train_tags_column]
        if missing:
            tags = " (a column of tags named otherwise: FILES' train_tags_column)" if self.tags_column else ""
            raise ContractError(
                f"{self.train_csv}: no column {missing[0]!r}; the training CSV holds the sample submission's columns "
                f"after its id by name ({', '.join(self.header[1:])}){tags}, and its columns are "
                f"{list(train.columns)[:12]}."
            )

    def load_test(self, cfg: Any, data_dir: Path, trained: dict[str, Any] | None = None) -> Data:
        """The test images alone (X and y None), for `predict` of a new test set: the sample submission's images (and
        the test CSV's, which must list them). Tags need the run's (`trained`: load's Data.info["trained"])."""
        data_dir = Path(data_dir)
        trained = trained or {}
        if self.tags_column and not trained.get("tags"):
            raise TrainingDataNeeded(f"the tags are those of {self.train_csv}, which the run did not record")
        if self.grades and not trained.get("grades"):
            raise TrainingDataNeeded(f"the grades are those of {self.train_csv}, which the run did not record")
        sample = data_dir / self.sample_csv
        test_ids = read_csv(sample, self.header, unique=self.id_column)[self.id_column]
        check_test_csv(data_dir, self.test_csv, self.sample_csv, self.id_column, test_ids, self.test_id_column)
        headers, warnings = bool(getattr(cfg, "check_images", True)), []
        channels = image_channels(cfg, image_path=self.image_path, test_image_path=self.test_image_path)
        X_test, test_sizes = find_images(
            data_dir, self.test_image_path, test_ids, sample.name, headers, warnings, channels
        )
        info = {"test_sizes": test_sizes} | {k: list(trained[k]) for k in ("tags", "grades") if k in trained}
        info |= {"warnings": warnings} if warnings else {}
        return Data(
            X=None,
            y=None,
            X_test=X_test,
            test_ids=test_ids.to_numpy(),
            sample_submission=sample,
            data_dir=data_dir,
            info=info,
        )

    def score(self, y_true: Any, pred: Any) -> float:
        """The metric as Kaggle computes it: of the named tags, of each label column's probabilities (averaged) or of
        the values (averaged over the columns)."""
        if self.tags_column:
            return multilabel.f_score(self.metric, np.asarray(y_true), np.asarray(pred))
        return tabular_metrics.score(self.metric, np.asarray(y_true), np.asarray(pred))

    def write_submission(self, data: Data, pred: Any, path: Path) -> None:
        """The sample's rows in its order: each image's values, label probabilities or named tags."""
        pred = np.asarray(pred, dtype=float).reshape(len(data.test_ids), -1)
        if self.tags_column:
            tags = np.asarray(data.info["tags"])
            if pred.shape[1] != len(tags):
                raise SubmissionError(f"expected {len(tags)} tag probabilities a row, got {pred.shape[1]}.")
            cells = [" ".join(tags[row]) for row in multilabel.named(pred)]
            frame = pd.DataFrame({self.id_column: data.test_ids, self.tags_column: cells})
        else:
            if pred.shape[1] != len(self.columns):
                raise SubmissionError(f"expected {len(self.columns)} values a row, got {pred.shape[1]}.")
            if self.grades:  # values already cut into grades stay as they are
                pred = nearest(pred[:, :1], np.asarray(data.info["grades"], dtype=float)).astype(np.int64)
            frame = pd.DataFrame(np.clip(pred, 0.0, 1.0) if self.labels else pred, columns=list(self.columns))
            frame.insert(0, self.id_column, data.test_ids)
        frame.to_csv(path, index=False, float_format="%.7g")

    def validate(self, data: Data, path: Path) -> None:
        """The sample's header and ids in its order; values finite, probabilities in [0, 1], tags among those trained
        on."""
        bounds = {c: (0.0, 1.0) for c in self.columns} if self.labels else None
        # tags named by numbers (Human Protein Atlas' 0 to 27, its sample's cells "0") are tags, not numbers
        text = (self.tags_column,) if self.tags_column else ()
        sub = validate_submission(path, data.sample_submission, bounds=bounds, text=text)
        if self.grades:
            self._check_grades(sub, Path(path).name, data.info["grades"])
        if not self.tags_column:
            return
        known = set(data.info["tags"])
        for row, cell in enumerate(sub[self.tags_column].astype(str)):
            odd = [t for t in cell.split() if t not in known]
            if odd:
                raise SubmissionError(
                    f"{Path(path).name} line {row + 2}: tag {odd[0]!r} is none of the {len(known)} trained on."
                )

    def _check_grades(self, sub: pd.DataFrame, name: str, grades: list[float]) -> None:
        """Every value of a grades submission one of the training grades."""
        values = pd.to_numeric(sub[self.columns[0]], errors="coerce").to_numpy(dtype=float)
        odd = ~np.isin(values, np.asarray(grades, dtype=float))
        if odd.any():
            row = int(np.flatnonzero(odd)[0])
            raise SubmissionError(
                f"{name} line {row + 2}: {self.columns[0]} {sub[self.columns[0]].iloc[row]!r} is none of the grades "
                f"{listed([f'{g:g}' for g in grades])} trained on."
            )
