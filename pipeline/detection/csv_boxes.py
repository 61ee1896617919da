"""Object detection from a CSV of boxes, as Kaggle's detection classics ship it: a training CSV of one row per box
(box_table.py), the images in folders, a sample submission of `id,PredictionString` (prediction_string.py) scored by
Kaggle's IoU metric (iou_map.py, one class), PASCAL VOC mAP over classes (voc_map.py: VinBigData's, whose boxes are
of several classes, a class column beside them) or COCO mAP.

A competition in this style (what `python -m pipeline new` writes for such a download: pipeline/detection/template.py)
describes its files with one CsvBoxes and takes `load`, `load_test`, `score`, `write_submission`, `validate` and the
hooks after the fold models (box_blend.py) from it. An image is one row of Data (its boxes packed, boxes.py), so
its boxes are always in one fold; the training images are the CSV's, and with `unlisted` also the images of the
training folder the CSV does not list (Global Wheat lists only images with a box): images with no box are kept,
negatives the detector learns from and the metric scores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.detection import box_blend, prediction_string
from pipeline.detection.box_table import BoxRows, read_box_rows, unlisted_images
from pipeline.detection.boxes import pack
from pipeline.detection.iou_map import THRESHOLDS, iou_map
from pipeline.detection.prediction_string import Layout
from pipeline.detection.readers import check_iou, fuse_readers
from pipeline.detection.voc_map import IOU, voc_map, with_nothing
from pipeline.vision.csv_images import find_images, read_columns, read_csv

# iou_map (Global Wheat), iou_map40 (RSNA Pneumonia), COCO mAP@[.5:.95], VOC mAP at IoU 0.5 and 0.4 (VinBigData)
METRICS = (*THRESHOLDS, "coco_map", *IOU)


@dataclass(frozen=True)
class CsvBoxes:
    """The files of a one-class detection competition of boxes in a CSV, and its metric.

    The training CSV names each image in train_id_column (default: id_column, the sample's) and holds one box a row,
    in bbox_column ("[x, y, w, h]"), in the four xywh_columns or in the four corner xyxy_columns (x_min, y_min, x_max,
    y_max); a row whose box cells are empty lists an image with no box, and target_column (RSNA's Target) says 1 for
    a row with a box, 0 for one without. image_path finds an id's image ("train/{}.jpg"; several patterns: the first
    whose file is there), test_image_path a sample id's.

    One class (class_name) unless `classes`: each value of class_column the detector learns, in its order, mapped
    to the token the submission writes for it (VinBigData: class_name "Aortic enlargement" -> class_id "0"); a cell
    then starts each box with its class ("class conf box"), the box written as prediction_boxes says ("xyxy": x_min
    y_min x_max y_max, "xywh": x y w h). nothing_class: the token of an image-level "nothing here" class (VinBigData's
    "14"), which the metric scores as one more class and the submission writes on every image (voc_map.with_nothing).

    reader_column: who drew each box (VinBigData's rad_id: three radiologists an image, one finding two or three
    near-duplicate boxes). Given a Config whose fuse_readers is an IoU above 0, `load` fuses each image's boxes of one
    class by WBF at that IoU (readers.py) before anything else sees them: the training targets and the CV's truth
    alike, as the test labels are a consensus of readers. fuse_readers 0 (or absent): every reader's box as given.
    """

    train_csv: str
    id_column: str
    image_path: str | tuple[str, ...]
    test_image_path: str | tuple[str, ...]
    sample_csv: str = "sample_submission.csv"
    bbox_column: str | None = "bbox"
    xywh_columns: tuple[str, ...] = ()
    target_column: str | None = None
    train_id_column: str | None = None
    unlisted: bool = False  # images of image_path's folder that train_csv does not list are images with no box
    prediction_column: str = "PredictionString"
    metric: str = "iou_map"
    class_name: str = "object"
    xyxy_columns: tuple[str, ...] = ()
    class_column: str | None = None
    classes: dict[str, str] | None = None
    nothing_class: str | None = None
    prediction_boxes: str = "xywh"
    reader_column: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"CsvBoxes: metric {self.metric!r}; one of {', '.join(METRICS)}.")
        if (self.bbox_column is not None) + (len(self.xywh_columns) == 4) + (len(self.xyxy_columns) == 4) != 1:
            raise ValueError("CsvBoxes: name the box in one of bbox_column, four xywh_columns, four xyxy_columns.")
        if self.prediction_boxes not in ("xywh", "xyxy"):
            raise ValueError(f"CsvBoxes: prediction_boxes {self.prediction_boxes!r}; xywh or xyxy.")
        if (self.classes is None) != (self.class_column is None) or self.classes == {}:
            raise ValueError("CsvBoxes: classes (each value of class_column -> its token) go with class_column.")
        if self.nothing_class is not None and not self.classes:
            raise ValueError("CsvBoxes: nothing_class is written beside the classes' tokens: it needs classes.")
        tokens = [*(self.classes or {}).values(), *([self.nothing_class] if self.nothing_class is not None else [])]
        if len(set(tokens)) < len(tokens) or any(not t or " " in t for t in tokens):
            raise ValueError(f"CsvBoxes: class tokens {tokens}: each one word, none twice (nothing_class's too).")
        if self.metric in THRESHOLDS and (len(self.class_names) > 1 or self.nothing_class is not None):
            raise ValueError(f"CsvBoxes: {self.metric} scores boxes of one class; voc_map or coco_map score classes.")

    def __hash__(self) -> int:  # a frozen value, its classes a dict
        values = (getattr(self, f.name) for f in dataclasses.fields(self))
        return hash(tuple(tuple(v.items()) if isinstance(v, dict) else v for v in values))

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes the detector learns, in the order of its class indices."""
        return tuple(self.classes) if self.classes else (self.class_name,)

    @property
    def layout(self) -> Layout:
        """How a PredictionString cell writes its boxes (prediction_string.Layout)."""
        tokens = tuple(self.classes.values()) if self.classes else None
        return Layout(tokens, self.prediction_boxes == "xyxy", self.nothing_class)

    def _box_columns(self) -> tuple[str | None, tuple[str, ...], bool]:
        """The bbox column, else the four box columns and whether they are corners."""
        return self.bbox_column, self.xyxy_columns or self.xywh_columns, bool(self.xyxy_columns)

    def training_boxes(self, data_dir: Path, test_ids: frozenset[str] | set[str] = frozenset()) -> BoxRows:
        """Each training image's boxes (with their CSV lines): the CSV's images, then the unlisted ones with none (the
        test images aside, where they share the training folder)."""
        train_id = self.train_id_column or self.id_column
        bbox, four, xyxy = self._box_columns()
        columns = [train_id, *([bbox] if bbox else four)]
        columns += [c for c in (self.target_column, self.class_column, self.reader_column) if c]
        frame = read_columns(Path(data_dir) / self.train_csv, columns, unique=None)
        rows = read_box_rows(
            frame, self.train_csv, train_id, bbox, four, self.target_column, xyxy, self.class_column, self.reader_column
        )
        if self.unlisted:
            for key in unlisted_images(data_dir, self.image_path, set(rows.ids) | set(test_ids)):
                rows.add(key, 0, None)
        if not any(rows.boxes.values()):
            raise ContractError(f"{self.train_csv}: no box on any of its {len(rows.ids)} images: nothing to learn.")
        return rows

    def class_indices(self, rows: BoxRows, key: str) -> np.ndarray:
        """The detector's class index of each box of image `key`; a class not in `classes` refused naming its line."""
        if not self.classes:
            return np.zeros(len(rows.boxes[key]), np.int64)
        index = {name: i for i, name in enumerate(self.classes)}
        for (line, _), label in zip(rows.boxes[key], rows.labels[key], strict=True):
            if label not in index:
                raise ContractError(
                    f"{self.train_csv} line {line}, column {self.class_column}: {label!r} is not one of the classes "
                    "FILES' classes names; add it there (or drop its rows from a copy of the CSV)."
                )
        return np.array([index[label] for label in rows.labels[key]], np.int64)

    def load(self, cfg: Any, data_dir: Path) -> Data:
        """Training image paths and their packed boxes (clipped to the image; each image's readers' boxes of one class
        fused where the Config says fuse_readers), and the sample's test images."""
        data_dir = Path(data_dir)
        iou = self.fuse_iou(cfg)
        test = self.load_test(cfg, data_dir)
        rows = self.training_boxes(data_dir, {str(k) for k in test.test_ids})
        headers = bool(getattr(cfg, "check_images", True))
        X, sizes = find_images(data_dir, self.image_path, pd.Series(rows.ids), self.train_csv, headers)
        boxes, labels, clipped, drawn = [], [], 0, 0
        for key, (w, h) in zip(rows.ids, sizes, strict=True):
            found, n = self._clipped(rows.boxes[key], float(w), float(h))
            classes = self.class_indices(rows, key)
            drawn += len(found)
            if iou:
                found, classes = fuse_readers(found, classes, rows.readers[key], iou, (w, h) if w and h else None)
            boxes.append(found)
            labels.append(classes)
            clipped += n
        y = pack(boxes, [np.ones(len(b)) for b in boxes], labels)
        counts = [len(b) for b in boxes]
        info = test.info | {
            "train_ids": rows.ids,
            "train_sizes": sizes,
            "boxes": int(sum(counts)),
            "images_without_boxes": int(sum(c == 0 for c in counts)),
            "clipped_boxes": clipped,
        }
        if iou:
            info["readers_boxes"] = drawn  # the boxes as the readers drew them, before the fusion gave "boxes"
        return dataclasses.replace(test, X=X, y=y, info=info)

    def fuse_iou(self, cfg: Any) -> float:
        """The IoU at which `load` fuses each image's readers' boxes of one class: the Config's fuse_readers where
        there is a reader_column, else 0 (none fused); a fuse_readers that is no IoU refused."""
        iou = check_iou(getattr(cfg, "fuse_readers", 0.0))
        return iou if self.reader_column else 0.0

    def _clipped(self, boxes: list[tuple[int, tuple[float, ...]]], w: float, h: float) -> tuple[np.ndarray, int]:
        """An image's xywh boxes clipped to its w x h (unknown sizes, 0, clip nothing), and how many were clipped; a
        box wholly outside its image is refused naming its line."""
        out, clipped = [], 0
        for line, (x, y, bw, bh) in boxes:
            if not w or not h:
                out.append((x, y, bw, bh))
                continue
            x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)
            if x2 <= x1 or y2 <= y1:
                raise ContractError(
                    f"{self.train_csv} line {line}: box {[x, y, bw, bh]} lies outside its {w:g}x{h:g} image."
                )
            clipped += (x1, y1, x2, y2) != (x, y, x + bw, y + bh)
            out.append((x1, y1, x2 - x1, y2 - y1))
        return np.array(out, float).reshape(-1, 4), clipped

    def load_test(self, cfg: Any, data_dir: Path, trained: dict[str, Any] | None = None) -> Data:
        """The sample submission's images alone (X and y None): what `predict` reads of a new test set."""
        data_dir = Path(data_dir)
        sample = data_dir / self.sample_csv
        ids = read_csv(sample, [self.id_column, self.prediction_column], unique=self.id_column)[self.id_column]
        headers = bool(getattr(cfg, "check_images", True))
        X_test, sizes = find_images(data_dir, self.test_image_path, ids, sample.name, headers)
        return Data(
            X=None,
            y=None,
            X_test=X_test,
            test_ids=ids.to_numpy(),
            sample_submission=sample,
            data_dir=data_dir,
            info={"test_sizes": sizes, "trained": {}},
        )

    def score(self, y_true: np.ndarray, pred: np.ndarray, cfg: Any = None) -> float:
        """The competition's metric: Kaggle's IoU metric at its thresholds (iou_map.py), VOC mAP over the classes at
        its IoU (voc_map.py, the "nothing here" class added with nothing_class) or COCO mAP@[.5:.95]. Given
        the run's Config (the runner's scores of one model's boxes, each fold's and each epoch's: finish.model_score)
        whose cut is fitted after the blend (Config.fit_min_score: the detectors predict every box), the boxes below
        min_score are dropped first: a model is scored as the blend is chosen, at the Config's cut."""
        if box_blend.fits_cut(cfg):
            pred = box_blend.cut(pred, cfg)
        if self.nothing_class is not None:
            y_true, pred = with_nothing(y_true, pred, len(self.class_names))
        if self.metric in IOU:
            return voc_map(y_true, pred, IOU[self.metric])
        if self.metric == "coco_map":
            from pipeline.detection.metric import coco_map

            return coco_map(y_true, pred)
        return iou_map(y_true, pred, THRESHOLDS[self.metric])

    def write_submission(self, data: Data, pred: np.ndarray, path: Path) -> None:
        """The sample's ids in its order, each with its boxes as "conf x y w h ..." clipped to its image (with classes:
        "class conf box ...", the nothing class's box on every image)."""
        columns = (self.id_column, self.prediction_column)
        layout = self.layout if self.classes else None
        prediction_string.write(path, list(data.test_ids), pred, data.info["test_sizes"], columns, layout)

    def validate(self, data: Data, path: Path) -> int:
        """The sample's header and ids in its order; every PredictionString well formed (a class it does not know
        refused). Returns the boxes written."""
        sizes = {
            str(k).strip(): (float(w), float(h)) if w and h else (np.inf, np.inf)
            for k, (w, h) in zip(data.test_ids, data.info["test_sizes"], strict=True)
        }
        return prediction_string.validate(Path(path), Path(data.sample_submission), sizes, self.layout)

    def merge_folds(self, tests: list[np.ndarray], cfg: Any = None) -> np.ndarray:
        """The fold models' test boxes fused by WBF, then cut at cfg.min_score unless the cut is fitted after the
        blend (box_blend.py)."""
        return box_blend.merge_folds(tests, cfg)

    def blend(
        self,
        oofs: dict[str, np.ndarray],
        tests: dict[str, np.ndarray],
        y: np.ndarray,
        folds: np.ndarray,
        cfg: Any = None,
    ) -> dict[str, Any]:
        """The WBF of the detectors when it scores at least the best one out of fold, else the best (box_blend.py)."""
        return box_blend.blend(oofs, tests, y, folds, self.score, cfg)

    def apply_blend(self, weights: dict[str, float], tests: dict[str, np.ndarray], cfg: Any = None) -> np.ndarray:
        """The chosen blend applied to new test boxes (box_blend.py)."""
        return box_blend.apply_blend(weights, tests, cfg)
