"""Several readers' boxes of one image fused into one set of boxes per class.

VinBigData Chest X-ray Abnormalities Detection has three radiologists read each training image (train.csv's
`rad_id`), so one finding is two or three near-duplicate boxes of one class, while the test labels are a consensus of
readers. Its top solutions fused the readers' boxes per image and class before training and scored their CV against
the fused boxes: here by weighted boxes fusion (wbf.py), each reader one view, at an IoU (Config.fuse_readers). It is
fitted on nothing but each image's own labels, so it leaks nothing between folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.contract import ContractError
from pipeline.detection.box_table import BoxRows
from pipeline.detection.wbf import fuse_image
from pipeline.listing import listed

# the names (case aside) of a box CSV's column of who drew each box
READER_WORDS = ("rad_id", "reader", "reader_id", "annotator", "annotator_id", "radiologist", "radiologist_id")
FUSE_IOU = 0.5  # the fuse_readers `new` writes in the Config


def reader_column(header: Sequence[str]) -> str | None:
    """The column of a box CSV's header that names each box's reader (READER_WORDS), or None."""
    low = {str(c).lower().strip(): str(c) for c in header}
    return next((low[w] for w in READER_WORDS if w in low), None)


def check_iou(iou: object) -> float:
    """Config.fuse_readers as a float: 0 (off) or an IoU above 0 and below 1; anything else refused."""
    try:
        value = float(iou)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = -1.0
    if not (value == 0.0 or 0.0 < value < 1.0):
        raise ContractError(
            f"Config.fuse_readers {iou!r}: the IoU above 0 and below 1 at which each image's readers' boxes of one "
            "class are fused, or 0 (every reader's box as given)."
        )
    return value


def fuse_readers(
    boxes: np.ndarray,
    classes: np.ndarray,
    readers: Sequence[str],
    iou: float,
    size: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One image's xywh boxes with their class indices and readers -> the fused xywh boxes and their classes.

    Boxes of one class that overlap at `iou` or more (through the cluster's running average, as WBF clusters) become
    their average; boxes of different classes never fuse. `size` (width, height) scales the boxes for WBF (None: by
    the largest coordinate, the same result). A box alone in its cluster comes out as it went in (to the last digit
    of a float).
    """
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    classes = np.asarray(classes, np.int64).reshape(-1)
    if len(boxes) < 2:
        return boxes, classes
    names = sorted(set(readers))
    views = []
    for name in names:
        mine = np.array([r == name for r in readers])
        views.append((boxes[mine], np.ones(int(mine.sum())), classes[mine]))
    fused, _, fused_classes = fuse_image(views, size, iou_thr=iou)
    order = np.lexsort((fused[:, 1], fused[:, 0], fused_classes))  # by class, then position: the CSV's order lost
    return fused[order], fused_classes[order]


def fused_count(rows: BoxRows, iou: float) -> int:
    """How many boxes the training images of `rows` keep once each image's readers' boxes of one class are fused at
    `iou` (the image sizes unknown: the same fusion, as IoU and WBF's average do not change with scale)."""
    total = 0
    for key in rows.ids:
        if len(rows.boxes[key]) < 2:
            total += len(rows.boxes[key])
            continue
        index = {name: i for i, name in enumerate(sorted(set(rows.labels[key])))}
        boxes = np.array([box for _, box in rows.boxes[key]], float)
        classes = np.array([index[name] for name in rows.labels[key]], np.int64)
        total += len(fuse_readers(boxes, classes, rows.readers[key], iou)[0])
    return total


def reader_notes(rows: BoxRows, where: str, column: str | None) -> tuple[str | None, list[str]]:
    """The reader column `new` writes (None: none, or one whose every image's boxes are one reader's: nothing to
    fuse) and what it prints of it: the readers, the most on one image, the boxes before and after the fusion."""
    if column is None:
        return None, []
    names = sorted({r for drawn in rows.readers.values() for r in drawn})
    most = max((len(set(drawn)) for drawn in rows.readers.values()), default=0)
    found = f"readers: {len(names)} in {where}'s {column} ({listed(names, 6)})"
    if most < 2:
        return None, [f"{found}, each image's boxes drawn by one of them: nothing to fuse, left aside"]
    drawn = sum(len(b) for b in rows.boxes.values())
    return column, [
        f"{found}, up to {most} on one image; each image's boxes of one class fused by weighted boxes fusion at IoU "
        f"{FUSE_IOU} before training and scoring (Config.fuse_readers; 0: every reader's box as given): {drawn} "
        f"boxes -> {fused_count(rows, FUSE_IOU)}"
    ]
