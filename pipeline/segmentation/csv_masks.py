"""Semantic segmentation from a CSV of run-length masks, as Kaggle's segmentation family ships it (Carvana, TGS Salt,
Severstal Steel Defect, SIIM-ACR Pneumothorax, Airbus Ship Detection, Sartorius Cell Instance Segmentation): a
training CSV of masks (mask_table.py), the images in folders (or anywhere under one: SIIM's DICOM files), a sample
submission of one mask per image, or per image and class (rle_submission.py), scored by mean Dice (metric.py); or,
with metric "f2_iou" (Airbus) or "ap_iou" (Sartorius), one row per object (instance_submission.py: the mask cut into
its connected components), scored by F2 or mean average precision over IoU thresholds (instances.py).

A competition in this style (what `python -m pipeline new` writes for such a download:
pipeline/segmentation/template.py) describes its files with one CsvMasks and takes `load`, `load_test`, `score`,
`write_submission` and `validate` from it. An image is one row of Data: X holds its path and each class's cell,
absolute (mask_table.py; the estimator decodes full-size targets itself), y its masks at the grid (grid.py),
class-major; the predictions are each class's probabilities at the grid, cut at Config.mask_threshold and min_area to
be scored and written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.detection.box_table import unlisted_images
from pipeline.segmentation import instance_submission, rle_submission
from pipeline.segmentation.contact import contact_cell, contact_radius
from pipeline.segmentation.grid import to_grid, upsample
from pipeline.segmentation.instances import METRICS as INSTANCE_METRICS
from pipeline.segmentation.instances import components, mean_iou_score
from pipeline.segmentation.mask_table import MaskRows, read_mask_rows
from pipeline.segmentation.metric import as_masks, mean_dice
from pipeline.segmentation.rle import ENCODINGS, ORDERS, RleError, encode
from pipeline.segmentation.rle_submission import SampleLayout
from pipeline.vision.csv_images import find_images, read_columns

# f2_iou (Airbus), ap_iou (Sartorius): a submission of instances, one row per object
METRICS = ("dice", *INSTANCE_METRICS)


@dataclass(frozen=True)
class CsvMasks:
    """The files of a segmentation competition of run-length masks in a CSV, and its metric.

    The training CSV names each image in train_id_column (default: id_column, the sample's) and holds its mask in
    rle_column, one row per image, or one row per image and class: the class in class_column, or joined to the id
    after `joined` ("0002cc93b.jpg_1"). `classes`: the class names as written (one class: its name only). The sample
    names its rows alike: by id_column alone, with sample_class_column beside it, or by joined ids; its mask column is
    prediction_column (default: rle_column). image_path finds an id's image ("train/{}.jpg"; "train/**/{}.dcm": the
    one file of that name anywhere under train/; several patterns: the first whose file is there), test_image_path a
    sample image's. `order`: the pixel order of the runs (rle.ORDERS); `encoding`: their starts' (rle.ENCODINGS), in
    both CSVs; `union_rows`: several rows of one image and class are regions of its mask, their union; `grid`: the
    (height, width) the masks travel at; `shape`: most training images' (height, width), which scales min_area to the
    grid when scoring. `metric`: "dice" (a mask per sample row), or "f2_iou" or "ap_iou" (one class: each predicted
    mask cut into its connected components, one row each, min_area a component's floor; `instances`).
    """

    train_csv: str
    id_column: str
    image_path: str | tuple[str, ...]
    test_image_path: str | tuple[str, ...]
    grid: tuple[int, int]
    order: str = "column"
    rle_column: str = "EncodedPixels"
    classes: tuple[str, ...] = ("mask",)
    class_column: str | None = None
    joined: str | None = None
    train_id_column: str | None = None
    unlisted: bool = False  # images of image_path's folder that train_csv does not list have every mask empty
    sample_csv: str = "sample_submission.csv"
    prediction_column: str | None = None
    sample_class_column: str | None = None
    empty: str = ""  # what the submission writes for no mask
    shape: tuple[int, int] | None = None
    metric: str = "dice"
    encoding: str = "absolute"
    union_rows: bool = False  # several rows of one image and class: regions of one mask (else refused)

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"CsvMasks: metric {self.metric!r}; one of {', '.join(METRICS)}.")
        if self.order not in ORDERS:
            raise ValueError(f"CsvMasks: order {self.order!r}; one of {', '.join(ORDERS)}.")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"CsvMasks: encoding {self.encoding!r}; one of {', '.join(ENCODINGS)}.")
        if len(self.grid) != 2 or min(self.grid) < 1 or not self.classes:
            raise ValueError(f"CsvMasks: grid {self.grid} is no (height, width), or no classes {self.classes}.")
        if self.instances and (len(self.classes) > 1 or self.sample_class_column or self.joined):
            raise ValueError(f"CsvMasks: metric {self.metric!r} scores the objects of one class; got {self.classes}.")

    @property
    def instances(self) -> bool:
        """Whether the submission is one row per object (Airbus's), not one mask per sample row."""
        return self.metric in INSTANCE_METRICS

    @property
    def layout(self) -> SampleLayout:
        """How the sample submission names its rows."""
        column = self.prediction_column or self.rle_column
        return SampleLayout(self.id_column, column, self.classes, self.sample_class_column, self.joined)

    def training_masks(self, data_dir: Path, test_ids: set[str] | frozenset[str] = frozenset()) -> MaskRows:
        """Each training image's cells (with their CSV lines): the CSV's images, then the unlisted ones with none
        (the test images aside, where they share the training folder)."""
        train_id = self.train_id_column or self.id_column
        columns = [train_id, self.rle_column, *([self.class_column] if self.class_column else [])]
        frame = read_columns(Path(data_dir) / self.train_csv, columns, unique=None)
        rows = read_mask_rows(
            frame,
            self.train_csv,
            train_id,
            self.rle_column,
            self.classes,
            self.class_column,
            self.joined,
            self.encoding,
            self.union_rows,
        )
        if self.unlisted:
            for key in unlisted_images(data_dir, self.image_path, set(rows.ids) | set(test_ids)):
                rows.add(key)
        if not any(cell for cells in rows.cells.values() for _, cell in cells):
            raise ContractError(f"{self.train_csv}: no mask on any of its {len(rows.ids)} images: nothing to learn.")
        return rows

    def channels(self, cfg: Any = None) -> int:
        """The masks' channels a model learns and predicts: each class's, and with cfg.touching the contact map of
        the ships (contact.py: instances only, from the rows of union_rows)."""
        if not _touching(cfg):
            return len(self.classes)
        if not (self.instances and self.union_rows):
            raise ContractError(
                f"Config.touching splits the objects of a competition of instances whose rows are one object each "
                f"(metric {' or '.join(INSTANCE_METRICS)}, and union_rows); this one's metric is {self.metric}, "
                f"union_rows {self.union_rows}: "
                "set touching false."
            )
        return 2

    def load(self, cfg: Any, data_dir: Path) -> Data:
        """Training images (path and cells) and their masks at the grid, and the sample's test images; with
        cfg.touching, each image's contact map (its cell and its mask at the grid) after its mask."""
        data_dir = Path(data_dir)
        test = self.load_test(cfg, data_dir)
        rows = self.training_masks(data_dir, {str(k) for k in test.test_ids})
        paths, sizes = find_images(data_dir, self.image_path, pd.Series(rows.ids), self.train_csv, True)
        n, k = len(rows.ids), self.channels(cfg)
        X = np.empty((n, 1 + k), dtype=object)
        X[:, 0] = paths
        y = np.zeros((n, k, *self.grid), np.uint8)
        for i, (key, (w, h)) in enumerate(zip(rows.ids, sizes, strict=True)):
            cells = list(rows.cells[key])
            if k > len(self.classes):  # touching: the contact map of the image's ships
                radius = contact_radius(int(h), int(w), self.grid)
                cells.append((cells[0][0], contact_cell(rows.parts.get((key, 0), []), h, w, self.order, radius)))
            for j, (line, cell) in enumerate(cells):
                X[i, 1 + j] = cell
                try:
                    y[i, j] = to_grid(cell, int(h), int(w), self.order, self.grid)
                except RleError as e:
                    raise ContractError(
                        f"{self.train_csv} line {line}, column {self.rle_column}: {e} ({key} is {w}x{h})."
                    ) from None
        filled = (X[:, 1 : 1 + len(self.classes)] != "").sum(axis=0)
        info = test.info | {
            "train_ids": rows.ids,
            "train_sizes": sizes,
            "masks": {c: int(m) for c, m in zip(self.classes, filled, strict=True)},
            "images_without_masks": int((X[:, 1 : 1 + len(self.classes)] == "").all(axis=1).sum()),
        }
        return dataclasses.replace(test, X=X, y=y.reshape(n, -1), info=info)

    def load_test(self, cfg: Any, data_dir: Path, trained: dict[str, Any] | None = None) -> Data:
        """The sample submission's images alone (X and y None): what `predict` reads of a new test set; the Config's
        cut (mask_threshold, min_area) kept in info for write_submission."""
        data_dir = Path(data_dir)
        sample = data_dir / self.sample_csv
        _, images, _ = rle_submission.read_sample(sample, self.layout)
        ids = pd.Series(images, name=self.id_column)
        paths, sizes = find_images(data_dir, self.test_image_path, ids, sample.name, True)
        cut = {"mask_threshold": _threshold(cfg), "min_area": _min_area(cfg)}
        if _touching(cfg):
            cut["touching"] = self.channels(cfg) > len(self.classes)
        return Data(
            X=None,
            y=None,
            X_test=paths.reshape(-1, 1),
            test_ids=ids.to_numpy(),
            sample_submission=sample,
            data_dir=data_dir,
            info={"test_sizes": sizes, "cut": cut, "trained": {}},
        )

    def min_pixels(self, cfg: Any = None) -> float:
        """cfg.min_area (pixels of the original image) at the grid, scaled by `shape` (none: taken as the grid's)."""
        area = _min_area(cfg)
        if not area or self.shape is None:
            return float(area)
        return area * self.grid[0] * self.grid[1] / (self.shape[0] * self.shape[1])

    def score(self, y_true: np.ndarray, pred: np.ndarray, cfg: Any = None) -> float:
        """Mean Dice at the grid over every image and class, empty truth and empty prediction scoring 1, after the
        cut at cfg.mask_threshold and min_area (defaults 0.5 and 0 without a Config); for f2_iou, the mean F2 over
        IoU thresholds of each image's objects (instances.py), components under min_area dropped; for ap_iou their
        mean average precision."""
        if self.instances:
            contact = self.channels(cfg) > 1
            cut = (_threshold(cfg), self.min_pixels(cfg))
            return mean_iou_score(y_true, pred, self.grid, *cut, contact, self.metric)
        return mean_dice(y_true, pred, len(self.classes), _threshold(cfg), self.min_pixels(cfg))

    def class_scores(self, y_true: np.ndarray, pred: np.ndarray, cfg: Any = None) -> dict[str, float]:
        """Each class's mean Dice (over the images), as `score` cuts: their mean is the score."""
        from pipeline.segmentation.metric import class_dice

        if self.instances:
            return {self.classes[0]: self.score(y_true, pred, cfg)}
        values = class_dice(y_true, pred, len(self.classes), _threshold(cfg), self.min_pixels(cfg))
        return dict(zip(self.classes, values, strict=True))

    def write_submission(self, data: Data, pred: np.ndarray, path: Path) -> None:
        """The sample's rows, columns and order, each (image, class) cell its mask: the grid's probabilities resized
        bilinearly to the image's own size, cut at the load's Config's mask_threshold, dropped under its min_area,
        encoded in `order` and `encoding`. For instances: each image's mask cut into its connected components, those
        under min_area dropped, one row each (instance_submission.py); with the load's cfg.touching, split at the
        contact map that follows the mask (instances.label_objects)."""
        cut = data.info.get("cut", {})
        channels = len(self.classes) + int(bool(cut.get("touching")))
        probs = as_masks(np.asarray(pred), channels)
        if len(probs) != len(data.test_ids) or probs.shape[2] != self.grid[0] * self.grid[1]:
            raise ContractError(
                f"write_submission: predictions of shape {np.shape(pred)} for {len(data.test_ids)} test images of "
                f"{channels} channels at the grid {self.grid}."
            )
        threshold, min_area = float(cut.get("mask_threshold", 0.5)), int(cut.get("min_area", 0))
        sizes = data.info["test_sizes"]

        def cells_of(i: int) -> list[str]:
            w, h = (int(v) for v in sizes[i])
            out = []
            for grid_probs in probs[i].reshape(len(self.classes), *self.grid):
                mask = upsample(grid_probs, h, w) > threshold
                out.append("" if mask.sum() < max(min_area, 1) else encode(mask, self.order, self.encoding))
            return out

        def objects_of(i: int) -> list[str]:
            w, h = (int(v) for v in sizes[i])
            mask = upsample(probs[i, 0].reshape(self.grid), h, w) > threshold
            contact = upsample(probs[i, 1].reshape(self.grid), h, w) if channels > 1 else None
            return [encode(m, self.order, self.encoding) for m in components(mask, min_area, contact)]

        if self.instances:
            instance_submission.write(Path(path), Path(data.sample_submission), self.layout, objects_of, self.empty)
            return
        rle_submission.write(Path(path), Path(data.sample_submission), self.layout, cells_of, self.empty)

    def validate(self, data: Data, path: Path) -> int:
        """The sample's header and rows in its order; every mask cell a run-length string inside its image. Returns
        the number of masks written. For instances: one row or more per sample image, its objects apart
        (instance_submission.py)."""
        sizes = {str(k): (int(w), int(h)) for k, (w, h) in zip(data.test_ids, data.info["test_sizes"], strict=True)}
        sample = Path(data.sample_submission)
        if self.instances:
            return instance_submission.validate(Path(path), sample, self.layout, sizes, self.empty, self.encoding)
        return rle_submission.validate(Path(path), sample, self.layout, sizes, self.empty, self.encoding)


def _threshold(cfg: Any) -> float:
    return float(getattr(cfg, "mask_threshold", 0.5))


def _min_area(cfg: Any) -> int:
    return int(getattr(cfg, "min_area", 0) or 0)


def _touching(cfg: Any) -> bool:
    return bool(getattr(cfg, "touching", False))
