"""What `python -m pipeline new` infers from a download of boxes in a CSV (Global Wheat Detection, RSNA Pneumonia
Detection): a sample submission of `id,PredictionString`, a CSV of one row per box (a bbox column of "[x, y, w, h]",
or x, y, width and height columns, RSNA's Target beside them) whose id column names the download's images, where the
training and test images lie (pipeline/vision/image_ids.py), and the images of the training folder the CSV does not
list, which are images with no box (kept: negatives are learnt from and scored). One class: a class column holding
several classes is refused, one holding a single class names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.detection.box_table import parse_bbox, read_box_rows
from pipeline.detection.csv_boxes import METRICS
from pipeline.listing import listed
from pipeline.tabular.infer_files import SAMPLE_WORDS, Source, pick_csv, unclear
from pipeline.vision.image_ids import ImageNames, image_column, image_pattern, twin_notes, where_images
from pipeline.vision.infer import expected_files

PREDICTION = "predictionstring"  # the sample's column of boxes, as Kaggle names it (case aside)
XYWH = (("x",), ("y",), ("width", "w"), ("height", "h"))  # the four box columns, by name (case aside)
TARGET = "target"  # RSNA's 1 (a box) or 0 (no box) beside the box columns
CLASS_WORDS = ("class", "class_name", "class_id", "label", "category", "category_id")


@dataclass
class BoxSpec:
    """Everything the generated detection competition states."""

    name: str
    slug: str
    expected: list[str]
    train_csv: str
    sample_csv: str
    id_column: str  # the sample's
    train_id_column: str | None  # the box CSV's, where it is not id_column
    bbox_column: str | None
    xywh_columns: tuple[str, ...]
    target_column: str | None
    image_path: str | tuple[str, ...]
    test_image_path: str | tuple[str, ...]
    unlisted: bool
    prediction_column: str
    metric: str
    class_name: str
    n_train: int
    n_test: int
    n_boxes: int
    n_empty: int
    most_boxes: int
    notes: list[str] = field(default_factory=list)


def _lower(header: list[str]) -> dict[str, str]:
    return {c.lower().strip(): c for c in header}


def xywh_columns(header: list[str]) -> tuple[str, ...]:
    """The four box columns x, y, width, height of a header (w and h too), or () when it lacks one."""
    low = _lower(header)
    found = [next((low[n] for n in names if n in low), None) for names in XYWH]
    return () if None in found else tuple(found)  # type: ignore[arg-type]


def bbox_column(source: Source, name: str, header: list[str]) -> str | None:
    """The column of "[x, y, w, h]" boxes of a CSV not named bbox, judged by its first non-empty values."""
    head = source.read(name, written=True).head(50)
    for column in header:
        cells = [c for c in head[column] if c.strip()]
        if cells and all(parse_bbox(c) is not None for c in cells):
            return column
    return None


def sample_column(source: Source, name: str) -> str | None:
    """The PredictionString column of a sample submission's header of two columns, if it has one."""
    header = source.header(name)
    return header[1] if len(header) == 2 and header[1].lower() == PREDICTION else None


def holds_boxes(source: Source) -> bool:
    """True for a download of boxes: a sample submission of id,PredictionString and another CSV with box columns
    (x, y, width, height, or a bbox column of "[x, y, w, h]")."""
    named = [n for n in source.csvs() if any(w in PurePosixPath(n).name.lower() for w in SAMPLE_WORDS)]
    if not any(sample_column(source, n) for n in named):
        return False
    return any(any(_box_columns(source, n)) for n in source.csvs() if n not in named)


def _box_columns(source: Source, name: str) -> tuple[str | None, tuple[str, ...]]:
    """A CSV's bbox column, else its four xywh columns: (None, ()) when it holds no box."""
    header = source.header(name)
    if "bbox" in (low := _lower(header)):  # by its name: a cell of it that is no box is refused naming its line
        return low["bbox"], ()
    if found := xywh_columns(header):
        return None, found
    return bbox_column(source, name, header), ()


def _box_table(source: Source, sample_f: str, given: str | None) -> tuple[str, str | None, tuple[str, ...]]:
    """The CSV of boxes (--train, else the one CSV with box columns) and its bbox or xywh columns."""
    if given:
        name = pick_csv(source, "CSV of boxes", ("train",), given, "--train")
        bbox, xywh = _box_columns(source, name)
        if not bbox and not xywh:
            raise ContractError(
                f"--train {name}: its columns are {listed(source.header(name), 6)}; a CSV of boxes has a bbox column "
                'of "[x, y, width, height]" or the four columns x, y, width, height.'
            )
        return name, bbox, xywh
    found = [(n, *_box_columns(source, n)) for n in source.csvs() if n != sample_f]
    found = [f for f in found if f[1] or f[2]]
    if len(found) != 1:
        what = "none" if not found else f"several ({', '.join(n for n, *_ in found)})"
        raise unclear(f"{source.path}: cannot tell which CSV holds the training boxes: {what}.", "--train FILE")
    return found[0]


def _class_name(frame: pd.DataFrame, where: str, boxed: pd.Series) -> tuple[str, list[str]]:
    """The one class of the boxes (a class column's one value on the rows with a box, else "object"), refusing a
    class column of several; and the note that says so."""
    low = _lower([str(c) for c in frame.columns])
    column = next((low[w] for w in CLASS_WORDS if w in low), None)
    if column is None:
        return "object", []
    classes = sorted(set(frame.loc[boxed, column]) - {""})
    if len(classes) > 1:
        counts = frame.loc[boxed, column].value_counts()
        shown = listed([f"{c} ({counts[c]})" for c in classes], 6)
        raise ContractError(
            f"{where}: its column {column} holds {len(classes)} classes of boxes ({shown}); `new` writes a detector of "
            "one class, as Global Wheat and RSNA Pneumonia score. Keep the rows of one class (or drop the column to "
            "detect them all as one) in a copy of the download, or write the competition by hand over "
            "pipeline.detection (competitions/cowboy_outfits detects several)."
        )
    name = classes[0] if classes else "object"
    return name, [f"class: {name}, the one value of {where}'s {column}"] if classes else []


METRIC_TEXT = {
    "iou_map": "Kaggle's mean over images of TP / (TP + FP + FN) at IoU 0.5 to 0.75 (Global Wheat's)",
    "iou_map40": "Kaggle's mean over images of TP / (TP + FP + FN) at IoU 0.4 to 0.75 (RSNA Pneumonia's)",
    "coco_map": "COCO mAP@[.5:.95]",
}


def count_unlisted(images: ImageNames, pattern: str, listed_ids: set[str]) -> int:
    """How many images of the folder of `pattern` ("train/{}.jpg"), with its suffix, no id in `listed_ids` names (as
    pipeline.detection.box_table.unlisted_images finds them in the extracted download)."""
    folder, _, suffix = pattern.partition("{}")
    if not folder or "/" in suffix:
        return 0
    keys = (n[len(folder) : len(n) - len(suffix)] for n in images.names if n.startswith(folder) and n.endswith(suffix))
    return sum(1 for k in keys if k and "/" not in k and not k.startswith(".") and k not in listed_ids)


def _test_ids(source: Source, sample_f: str, metric: str | None) -> tuple[pd.DataFrame, str, str]:
    """The sample submission (every cell as written), its id column and its PredictionString column."""
    if metric is not None and metric not in METRICS:
        raise ContractError(f"--metric {metric}: a submission of boxes is scored by {', '.join(METRICS)}.")
    column = sample_column(source, sample_f)
    if column is None:
        raise ContractError(
            f"{sample_f}: its columns are {listed(source.header(sample_f), 4)}; a submission of boxes is "
            "id,PredictionString."
        )
    sub = source.read(sample_f, written=True)
    id_col = str(sub.columns[0])
    twice = sub[id_col].duplicated()
    if twice.any():
        row = int(twice.to_numpy().argmax())
        raise ContractError(f"{sample_f} line {row + 2}: {id_col} {sub[id_col].iloc[row]} is listed twice.")
    return sub, id_col, column


def infer_boxes(
    source: Source, name: str, slug: str, metric: str | None, train: str | None, sample: str | None
) -> BoxSpec:
    """Read a download of boxes (the module docstring) and decide everything the generated file states; every box of
    the CSV is read and checked, as `run` reads it."""
    sample_f = pick_csv(source, "sample submission", SAMPLE_WORDS, sample, "--sample")
    sub, id_col, column = _test_ids(source, sample_f, metric)
    train_f, bbox, xywh = _box_table(source, sample_f, train)
    frame = source.read(train_f, written=True)
    target = _lower([str(c) for c in frame.columns]).get(TARGET) if xywh else None
    used = (bbox,) if bbox else (*xywh, *([target] if target else []))
    images = ImageNames.of(source)
    train_id = image_column(frame, images, id_col, exclude=used)
    if train_id is None:
        raise ContractError(f"{train_f}: none of its columns ({listed(list(frame.columns), 6)}) names the images.")
    rows = read_box_rows(frame, train_f, train_id, bbox, xywh, target)
    boxed = (frame[bbox] if bbox else frame[list(xywh)].agg("".join, axis=1)).str.strip() != ""
    class_name, notes = _class_name(frame, train_f, boxed)
    train_paths = image_pattern(pd.Series(rows.ids, name=train_id), images, "train", train_f)
    test_paths = image_pattern(sub[id_col], images, "test", sample_f)
    unlisted = count_unlisted(images, train_paths[0], set(rows.ids) | set(sub[id_col]))
    counts = [len(b) for b in rows.boxes.values()] + [0] * unlisted
    n_empty = sum(c == 0 for c in counts)
    chosen = metric or "iou_map"
    aside = [str(c) for c in frame.columns if c not in (train_id, *used)]
    notes = [
        f"boxes: {sum(counts)} in {train_f} ({bbox or ', '.join(xywh)}) on {len(counts) - n_empty} images, up to "
        f"{max(counts)} an image; {n_empty} training images with no box, kept",
        f"images: {train_f}'s {train_id} {where_images(train_paths)}; {sample_f}'s {id_col} {where_images(test_paths)}",
        *twin_notes(pd.Series(rows.ids, name=train_id), images, train_paths, train_f, "image_path"),
        *twin_notes(sub[id_col], images, test_paths, sample_f, "test_image_path"),
        *notes,
    ]
    if unlisted:
        folder = train_paths[0].partition("{}")[0]
        notes.append(f"{unlisted} images of {folder} are not in {train_f}: images with no box")
    if aside:
        notes.append(f"columns left aside: {train_f}'s {listed(aside, 6)}")
    notes.append(f"metric: {chosen}, {METRIC_TEXT[chosen]}; --metric {' or '.join(m for m in METRICS if m != chosen)}")
    notes.append("folds: images at random, each image's boxes in one fold")
    return BoxSpec(
        name=name,
        slug=slug,
        expected=expected_files(source),
        train_csv=train_f,
        sample_csv=sample_f,
        id_column=id_col,
        train_id_column=None if train_id == id_col else train_id,
        bbox_column=bbox,
        xywh_columns=xywh,
        target_column=target,
        image_path=train_paths[0] if len(train_paths) == 1 else train_paths,
        test_image_path=test_paths[0] if len(test_paths) == 1 else test_paths,
        unlisted=unlisted > 0,
        prediction_column=column,
        metric=chosen,
        class_name=class_name,
        n_train=len(counts),
        n_test=len(sub),
        n_boxes=sum(counts),
        n_empty=n_empty,
        most_boxes=max(counts),
        notes=notes,
    )
