"""Image classification from CSVs: a train CSV of image files and labels, a sample submission listing the test
images, and a label or probability submission, read and written as Kaggle ships them.

A competition in this style (competitions/leaves, competitions/dog_breeds) describes its files with one CsvImages
and takes `load`, `score`, `write_submission` and `validate` from it. Every error names the file, the line and
the column or value at fault.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data, TrainingDataNeeded
from pipeline.imagefiles import check_image_files, is_image, other_case
from pipeline.submission import validate_submission
from pipeline.tabular.groups import row_groups
from pipeline.tabular.headers import raw_header
from pipeline.vision import class_submissions as subs
from pipeline.vision.channels import find_channel_images, image_channels
from pipeline.vision.view_files import find_view_images, is_view_pattern

POSITIVE_METRICS = ("roc_auc", "log_loss")


def read_csv(path: Path, columns: list[str] | None = None, unique: str | None = None) -> pd.DataFrame:
    """A CSV as text (no NA guessing), with exactly `columns` when given (in their order) and no value of column
    `unique` twice."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise ContractError(f"Cannot read {path.name}: {e}") from None
    if columns is not None and list(frame.columns) != columns:
        raise ContractError(f"{path.name}: expected columns {columns}, got {list(frame.columns)}.")
    if unique is not None:
        check_unique(frame, unique, path.name)
    return frame


def read_columns(path: Path, columns: list[str], unique: str | None) -> pd.DataFrame:
    """The CSV's `columns`, picked by name (its other columns, SIIM-ISIC's photo metadata, left aside), with no value
    of column `unique` twice (None: values may repeat, as a CSV of one row per box repeats its image); a column it
    lacks is refused, naming its columns."""
    frame = read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(
            f"{path.name}: no column {missing[0]!r}; its columns: {list(frame.columns)}. Name the column in "
            f"{path.name} or set the field naming it in the competition's FILES."
        )
    frame = frame[list(dict.fromkeys(columns))]
    if unique is not None:
        check_unique(frame, unique, path.name)
    return frame


def check_unique(frame: pd.DataFrame, column: str, where: str) -> None:
    """No value of `column` twice (an image listed twice), else an error naming the CSV `where` and the line."""
    dup = frame[column].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise ContractError(f"{where} line {row + 2}: {column} {frame[column].iloc[row]} is listed twice.")


def check_labelled(train: pd.DataFrame, where: str, id_column: str, label_column: str) -> None:
    """Every training image of the CSV `where` has a label: an empty cell would become a class named "" (and a
    submission of it refused only after training)."""
    empty = train[label_column].str.strip() == ""
    if empty.any():
        rows = np.flatnonzero(empty.to_numpy())
        first = int(rows[0])
        raise ContractError(
            f"{where} line {first + 2} ({train[id_column].iloc[first]}): empty {label_column} ({len(rows)} row(s) "
            f"without one); label the image or remove its row from {where}."
        )


def find_images(
    data_dir: Path,
    pattern: str | tuple[str, ...],
    ids: pd.Series,
    source: str,
    headers: bool,
    warnings: list[str] | None = None,
    channels: tuple[str, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """The image paths of the CSV `source`'s ids (through `pattern`, or several tried in order) and their sizes
    (pipeline.imagefiles.check_image_files: a missing or unreadable image is named with its line); the line on ids
    whose file is named in another case (x.PNG for x.png, imagefiles.other_case) joins `warnings`, once per CSV.
    With `channels` (the Config's, pipeline/vision/channels.py), each id's image is its file of every channel, the
    pattern's {channel} naming it ("train/{}_{channel}.png"), as one stacked name (pipeline/stacked.py). A pattern
    marking a photo's number ("train_images/{}-{view}.jpg") gives each id all its photos as one name of several
    views (pipeline/vision/view_files.py)."""
    patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
    if is_view_pattern(patterns):
        return find_view_images(data_dir, patterns, ids, source, headers)
    if channels:
        paths, sizes, lines = find_channel_images(data_dir, patterns, ids, source, channels, headers)
        if warnings is not None:
            warnings.extend(lines)
        return paths, sizes
    paths, sizes = check_image_files(data_dir, list(ids), source, 2, headers, patterns)
    if warnings is not None and (line := other_case(data_dir, [str(i) for i in ids], list(paths), patterns, source)):
        warnings.append(line)
    return paths, sizes


def check_test_csv(
    data_dir: Path,
    test_csv: str | None,
    sample_csv: str,
    id_column: str,
    test_ids: pd.Series,
    test_id_column: str | None = None,
) -> None:
    """The test CSV, when there is one (`test_csv`), lists the images of the sample submission (`test_ids`, its
    `id_column`) in its column `test_id_column` (by default the sample's id column's name), no more and no fewer;
    else refused naming the file lacking an id, that id and its line in the other."""
    if test_csv is None:
        return
    column = test_id_column or id_column
    # other columns (PetFinder's metadata) are not the images' business
    listed = read_columns(data_dir / test_csv, [column], unique=column)[column]
    if set(listed) == set(test_ids):
        return
    absent = ~test_ids.isin(set(listed))
    if absent.any():
        row = int(np.flatnonzero(absent.to_numpy())[0])
        raise ContractError(
            f"{test_csv}: its {column} lacks {test_ids.iloc[row]!r}, the {id_column} of {sample_csv} line {row + 2} "
            f"({int(absent.sum())} of the sample's {len(test_ids)} images are not in it); the test CSV lists the "
            "sample submission's images, so they must match."
        )
    extra = ~listed.isin(set(test_ids))
    row = int(np.flatnonzero(extra.to_numpy())[0])
    raise ContractError(
        f"{test_csv} line {row + 2}: {column} {listed.iloc[row]!r} is not in {sample_csv} ({int(extra.sum())} such); "
        "the test CSV lists the sample submission's images, so they must match."
    )


def classes_of_header(sample: Path, id_column: str, noun: str) -> list[str]:
    """The class columns of a probability sample submission (after the id), distinct, in the sample's order (which
    submissions keep; the classes' indices follow their alphabetical order)."""
    header = raw_header(sample)  # as written: pandas would rename a second "pug" to "pug.1"
    if len(header) < 3 or header[0] != id_column:
        raise ContractError(f"{sample.name}: expected columns {id_column}, then the {noun}s; got {header[:5]}.")
    classes = header[1:]
    if len(set(classes)) != len(classes):
        twice = sorted({c for c in classes if classes.count(c) > 1})
        raise ContractError(f"{sample.name}: the {noun} columns must be distinct; {twice[0]!r} is there twice.")
    return classes


def _shown(values: list[str], limit: int = 10) -> str:
    return ", ".join(values[:limit]) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


@dataclass(frozen=True)
class CsvImages:
    """The files of an image-classification competition and its submission kind.

    Label submission (probabilities=False): the sample lists id_column,label_column; the classes are the labels
    seen in training, each one of `known_classes` when those are given. Probability submission: the sample's header
    is the id then the classes, which are the valid labels; the submission's columns keep the sample's order (the
    classes' indices, Data.classes, are alphabetical whatever it is). Positive submission (positive=True,
    two classes, as Aerial Cactus and Histopathologic Cancer ship): the sample lists id_column,label_column and the
    label column holds the probability of the second class in sorted order (1 of 0/1, True of False), scored by ROC
    AUC or, with metric="log_loss", by binary log loss.

    The training CSV may name its columns otherwise than the sample (train.csv image_id,category beside a sample of
    id,label): train_id_column and train_label_column are its own (by default id_column and label_column), and
    submissions keep the sample's header; test_id_column names a test CSV's column of the images where it is not
    id_column (test.csv image_id beside a sample of id). An image_path of several patterns (("train/{}.jpg",
    "train/{}.jpeg"), for a folder of both; ("test-jpg/{}.jpg", "test-jpg-additional/{}.jpg"), for ids split across
    two folders) finds each id's image by the first whose file is there; a file named in another case than the id's
    (x.PNG for x.png) is found too (pipeline.imagefiles.check_image_files), and load says so in one warning line per
    CSV (Data.info["warnings"]).

    The training CSV may hold other columns (SIIM-ISIC's patient_id, sex, age_approx ...): its id and label columns
    are picked by name, the others left aside. group_column names one of them whose value groups images (the photos
    of one patient): load gives each training row's value as Data.groups, for FOLDS "group" or "stratified_group",
    which keep a group's images in one fold (an empty cell is a group of its image alone).
    """

    train_csv: str  # one row per training image: train_id_column, train_label_column
    id_column: str = "id"
    label_column: str = "label"  # also the word for a class in messages ("breed")
    # an id to its file in the data folder: "train/{}.jpg"; "{}": the id is the path; several: the first found
    image_path: str | tuple[str, ...] = "{}"
    test_image_path: str | tuple[str, ...] = "{}"
    sample_csv: str = "sample_submission.csv"
    test_csv: str | None = None  # a CSV of the test images (id_column) that must list the sample's
    known_classes: tuple[str, ...] = ()  # every valid label of a label submission (empty: any training label)
    known_source: str = ""  # where known_classes come from, for messages
    probabilities: bool = False
    positive: bool = False
    metric: str = "roc_auc"  # what scores a positive submission: roc_auc or log_loss (the other kinds have one each)
    # train_csv names a folder of one subfolder per class (train/<class>/<image>, as Plant Seedlings ships), not a CSV:
    # each image's id is its path (image_path "{}"), its label its subfolder's name
    class_folders: bool = False
    train_id_column: str | None = None  # the training CSV's id column where it is not id_column (None: id_column)
    train_label_column: str | None = None  # its label column where it is not label_column (None: label_column)
    group_column: str | None = None  # the training CSV's column grouping images (Data.groups); None: no groups
    test_id_column: str | None = None  # test_csv's column of the images where it is not id_column (None: id_column)

    @property
    def train_columns(self) -> tuple[str, str]:
        """The training CSV's id and label columns."""
        return self.train_id_column or self.id_column, self.train_label_column or self.label_column

    def __post_init__(self) -> None:
        if self.positive and self.probabilities:
            raise ValueError("CsvImages: positive and probabilities are two kinds of submission; set one.")
        if self.positive and self.metric not in POSITIVE_METRICS:
            raise ValueError(f"CsvImages: metric {self.metric!r}; a positive submission takes {POSITIVE_METRICS}.")

    def load(self, cfg: Any, data_dir: Path) -> Data:
        """Train image paths and class indices; test paths in the sample submission's order."""
        data_dir = Path(data_dir)
        sample = data_dir / self.sample_csv
        train_id, label = self.train_columns
        train = self.training_table(data_dir)
        if self.probabilities:
            classes = sorted(classes_of_header(sample, self.id_column, label))
            self._check_labels(train, classes, f"the columns of {sample.name}")
            test_ids = read_csv(sample, unique=self.id_column)[self.id_column]
        else:
            if self.known_classes:  # else the classes are whatever the training labels are
                self._check_labels(train, list(self.known_classes), self.known_source)
            classes = sorted(set(train[label]))
            self._check_two(classes)
            test_ids = read_csv(sample, [self.id_column, self.label_column], unique=self.id_column)[self.id_column]
        self._check_test_csv(data_dir, test_ids)
        headers, warnings = bool(getattr(cfg, "check_images", True)), []
        channels = image_channels(cfg, image_path=self.image_path, test_image_path=self.test_image_path)
        X, sizes = find_images(data_dir, self.image_path, train[train_id], self.train_csv, headers, warnings, channels)
        X_test, test_sizes = find_images(
            data_dir, self.test_image_path, test_ids, sample.name, headers, warnings, channels
        )
        return Data(
            X=X,
            y=train[label].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64),
            X_test=X_test,
            test_ids=test_ids.to_numpy(),
            sample_submission=sample,
            classes=classes,
            groups=None if self.group_column is None else row_groups(train[self.group_column]),
            data_dir=data_dir,
            # what load_test needs of the training rows (the run keeps it in summary.json's "trained")
            info={"train_sizes": sizes, "test_sizes": test_sizes, "trained": {"classes": classes}}
            | ({"warnings": warnings} if warnings else {}),
        )

    def training_table(self, data_dir: Path) -> pd.DataFrame:
        """The training images and their labels (train_columns) and group_column: train_csv's rows, or with
        class_folders each image of train_csv/<class>/ with its class."""
        train_id, label = self.train_columns
        if self.class_folders and self.group_column is not None:
            raise ContractError("CsvImages: group_column reads the training CSV; class_folders has none.")
        if not self.class_folders:
            grouped = [] if self.group_column is None else [self.group_column]
            train = read_columns(data_dir / self.train_csv, [train_id, label, *grouped], unique=train_id)
            check_labelled(train, self.train_csv, train_id, label)
            return train
        root = data_dir / self.train_csv
        if not root.is_dir():
            raise ContractError(f"{root}: no such folder; the training images lie in {self.train_csv}/<class>/.")
        rows = [
            (f"{self.train_csv}/{folder.name}/{f.name}", folder.name)
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            for f in sorted(folder.iterdir())
            if f.is_file() and is_image(f.name)
        ]
        if len({label for _, label in rows}) < 2:
            raise ContractError(f"{root}: the training images lie in one subfolder per class; found fewer than two.")
        return pd.DataFrame(rows, columns=[train_id, label])

    def load_test(self, cfg: Any, data_dir: Path, trained: dict[str, Any] | None = None) -> Data:
        """The test images alone (X and y None), for `predict` of a new test set without the training CSV and images:
        the sample submission's images (and the test CSV's, which must list them). A probability submission's classes
        are the sample's header; a label submission's are the training labels, which the run recorded (`trained`:
        load's Data.info["trained"]); TrainingDataNeeded for a run from before it recorded them."""
        data_dir = Path(data_dir)
        sample = data_dir / self.sample_csv
        if self.probabilities:
            classes = sorted(classes_of_header(sample, self.id_column, self.label_column))
            test_ids = read_csv(sample, unique=self.id_column)[self.id_column]
        else:
            if not (trained or {}).get("classes"):
                raise TrainingDataNeeded(
                    f"the classes are the labels of {self.train_csv}, which the run did not record (a run from before "
                    "predict read test sets alone)"
                )
            classes = list(trained["classes"])
            test_ids = read_csv(sample, [self.id_column, self.label_column], unique=self.id_column)[self.id_column]
        self._check_test_csv(data_dir, test_ids)
        headers, warnings = bool(getattr(cfg, "check_images", True)), []
        channels = image_channels(cfg, image_path=self.image_path, test_image_path=self.test_image_path)
        X_test, test_sizes = find_images(
            data_dir, self.test_image_path, test_ids, sample.name, headers, warnings, channels
        )
        return Data(
            X=None,
            y=None,
            X_test=X_test,
            test_ids=test_ids.to_numpy(),
            sample_submission=sample,
            classes=classes,
            data_dir=data_dir,
            info={"test_sizes": test_sizes} | ({"warnings": warnings} if warnings else {}),
        )

    def _check_two(self, classes: list[str]) -> None:
        """A positive submission's training labels are two classes."""
        if self.positive and len(classes) != 2:
            raise ContractError(
                f"{self.train_csv}: {len(classes)} {self.train_columns[1]}s ({_shown(classes)}); a submission of one "
                f"probability column ({self.sample_csv}'s {self.label_column}) needs exactly two."
            )

    def _check_labels(self, train: pd.DataFrame, valid: list[str], source: str) -> None:
        """Every training label one of `valid`; an unknown one is named with its line and the closest valid ones."""
        train_id, noun = self.train_columns
        labels = train[noun]
        unknown = ~labels.isin(valid)
        if not unknown.any():
            return
        row = int(np.flatnonzero(unknown)[0])
        value = labels.iloc[row]
        close = difflib.get_close_matches(str(value).lower().replace(" ", "_"), valid, n=3)
        hint = f". Closest valid {noun}s: {', '.join(close)}" if close else ""
        raise ContractError(
            f"{self.train_csv} line {row + 2} ({train[train_id].iloc[row]}): unknown {noun} {value!r}{hint}; "
            f"valid {noun}s ({source}): {_shown(valid)}."
        )

    def _check_test_csv(self, data_dir: Path, test_ids: pd.Series) -> None:
        """The test CSV, when there is one, lists the sample submission's images."""
        check_test_csv(data_dir, self.test_csv, self.sample_csv, self.id_column, test_ids, self.test_id_column)

    def score(self, y_true: Any, pred: Any) -> float:
        """Kaggle's multi-class log loss for probability submissions, accuracy for label submissions; ROC AUC of the
        second class's probability (or binary log loss) for positive submissions."""
        if self.positive:
            return (subs.log_loss if self.metric == "log_loss" else subs.positive_auc)(y_true, pred)
        return (subs.log_loss if self.probabilities else subs.accuracy)(y_true, pred)

    def write_submission(self, data: Data, pred: Any, path: Path) -> None:
        """The sample's rows in its order: one probability per class, or the most probable class's name."""
        if self.probabilities:
            subs.write_probabilities(data, pred, path, self.id_column, self._order(data))
        elif self.positive:
            subs.write_positive(data, pred, path, (self.id_column, self.label_column))
        else:
            subs.write_labels(data, pred, path, (self.id_column, self.label_column))

    def _order(self, data: Data) -> list[str] | None:
        """A probability submission's class columns: the sample's order (None: no sample, the alphabetical one)."""
        if data.sample_submission is None:
            return None
        return classes_of_header(Path(data.sample_submission), self.id_column, self.label_column)

    def validate(self, data: Data, path: Path) -> None:
        """The sample's ids in its order; probabilities per class, or labels among the classes trained on."""
        if self.probabilities:
            subs.validate_probabilities(data, path, self.id_column, self.label_column, self._order(data))
        elif self.positive:
            validate_submission(path, data.sample_submission, bounds={self.label_column: (0.0, 1.0)})
        else:
            validate_submission(path, data.sample_submission, allowed={self.label_column: list(data.classes or [])})
