"""What `python -m pipeline new` infers from a download of boxes in a CSV (Global Wheat Detection, RSNA Pneumonia
Detection, VinBigData Chest X-ray Abnormalities Detection): a sample submission of `id,PredictionString`, a CSV of one
row per box (a bbox column of "[x, y, w, h]", x, y, width and height columns, RSNA's Target beside them, or the
corners x_min, y_min, x_max, y_max) whose id column names the download's images, where the training and test images
lie (pipeline/vision/image_ids.py), and the images of the training folder the CSV does not list, which are images
with no box (kept: negatives are learnt from and scored). A class column holding a single class names it; one holding
several, or a sample that writes a class first, gives a detector of several classes (infer_classes.py). A reader
column (VinBigData's rad_id: readers.py) whose images hold several readers' boxes is written with the IoU at which
the generated Config fuses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.detection.box_table import parse_bbox, read_box_rows
from pipeline.detection.csv_boxes import METRICS
from pipeline.detection.infer_classes import Classes, class_columns, one_class, read_classes, sample_groups
from pipeline.detection.iou_map import THRESHOLDS
from pipeline.detection.readers import reader_column, reader_notes
from pipeline.listing import listed
from pipeline.tabular.infer_files import SAMPLE_WORDS, Source, pick_csv, unclear
from pipeline.vision.image_ids import ImageNames, image_column, image_pattern, twin_notes, where_images
from pipeline.vision.infer import expected_files

PREDICTION = "predictionstring"  # the sample's column of boxes, as Kaggle names it (case aside)
XYWH = (("x",), ("y",), ("width", "w"), ("height", "h"))  # the four box columns, by name (case aside)
XYXY = (("x_min", "xmin"), ("y_min", "ymin"), ("x_max", "xmax"), ("y_max", "ymax"))  # or its four corners
TARGET = "target"  # RSNA's 1 (a box) or 0 (no box) beside the box columns


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
    xyxy_columns: tuple[str, ...] = ()
    classes: Classes | None = None  # several classes (or one the sample writes first); None: class_name alone
    reader_column: str | None = None  # who drew each box, where images have several readers' boxes to fuse


def _lower(header: list[str]) -> dict[str, str]:
    return {c.lower().strip(): c for c in header}


def xywh_columns(header: list[str], names: tuple[tuple[str, ...], ...] = XYWH) -> tuple[str, ...]:
    """The four box columns x, y, width, height of a header (w and h too; `names`: XYXY, its corners), or () when it
    lacks one."""
    found = _named(header, names)
    return () if None in found else tuple(found)  # type: ignore[arg-type]


def _named(header: list[str], names: tuple[tuple[str, ...], ...]) -> list[str | None]:
    """Each of `names`' columns as the header spells it (its first name found, case aside), None where it has none."""
    low = _lower(header)
    return [next((low[n] for n in options if n in low), None) for options in names]


def _partial(header: list[str]) -> str:
    """The box columns a header has of a set it lacks some of ("x_min, y_min (no x_max, y_max)"), else ""."""
    for names in (XYXY, XYWH):
        have = _named(header, names)
        if any(have) and not all(have):
            missing = [options[0] for options, c in zip(names, have, strict=True) if c is None]
            return f"{', '.join(c for c in have if c)} (no {', '.join(missing)})"
    return ""


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
    (x, y, width, height, x_min, y_min, x_max, y_max, or a bbox column of "[x, y, w, h]"), or with a class column
    (whose missing box columns _box_table refuses)."""
    named = [n for n in source.csvs() if any(w in PurePosixPath(n).name.lower() for w in SAMPLE_WORDS)]
    if not any(sample_column(source, n) for n in named):
        return False
    return any(
        _box_columns(source, n)[:2] != (None, ()) or any(class_columns(source.header(n)))
        for n in source.csvs()
        if n not in named
    )


def _box_columns(source: Source, name: str) -> tuple[str | None, tuple[str, ...], bool]:
    """A CSV's bbox column, else its four xywh columns, else its four corner columns (True): (None, (), False) when it
    holds no box."""
    header = source.header(name)
    if "bbox" in (low := _lower(header)):  # by its name: a cell of it that is no box is refused naming its line
        return low["bbox"], (), False
    if found := xywh_columns(header):
        return None, found, False
    if found := xywh_columns(header, XYXY):
        return None, found, True
    return bbox_column(source, name, header), (), False


BOX_TEXT = (
    'a bbox column of "[x, y, width, height]", the four columns x, y, width, height or x_min, y_min, x_max, y_max'
)


def _no_boxes(source: Source, name: str, flag: str) -> ContractError:
    """The refusal of a CSV that should hold the boxes and holds none: naming its class column or the box columns
    it has some of."""
    header = source.header(name)
    classes, partial = ", ".join(c for c in class_columns(header) if c), _partial(header)
    if partial:
        return ContractError(
            f"{flag}{name}: its box columns {partial} are not all there; a CSV of boxes has {BOX_TEXT}."
        )
    if classes:
        return ContractError(
            f"{flag}{name}: its column {classes} names classes of boxes, but no column holds the boxes: a CSV of "
            f"boxes has {BOX_TEXT} (its columns are {listed(header, 8)})."
        )
    return ContractError(f"{flag}{name}: its columns are {listed(header, 6)}; a CSV of boxes has {BOX_TEXT}.")


def _box_table(source: Source, sample_f: str, given: str | None) -> tuple[str, str | None, tuple[str, ...], bool]:
    """The CSV of boxes (--train, else the one CSV with box columns) and its bbox, xywh or corner columns."""
    if given:
        name = pick_csv(source, "CSV of boxes", ("train",), given, "--train")
        bbox, four, corners = _box_columns(source, name)
        if not bbox and not four:
            raise _no_boxes(source, name, "--train ")
        return name, bbox, four, corners
    found = [(n, *_box_columns(source, n)) for n in source.csvs() if n != sample_f]
    found = [f for f in found if f[1] or f[2]]
    if len(found) != 1:
        classed = [n for n in source.csvs() if n != sample_f and any(class_columns(source.header(n)))]
        if not found and len(classed) == 1:
            raise _no_boxes(source, classed[0], "")
        what = "none" if not found else f"several ({', '.join(n for n, *_ in found)})"
        raise unclear(f"{source.path}: cannot tell which CSV holds the training boxes: {what}.", "--train FILE")
    return found[0]


def _class_name(frame: pd.DataFrame, where: str, boxed: pd.Series) -> tuple[str, list[str]]:
    """The one class of the boxes (infer_classes.one_class: a class column's one value on the rows with a box, else
    "object"), and the note that says so."""
    name, ids = class_columns([str(c) for c in frame.columns])
    column = name or ids
    classes = sorted(set(frame.loc[boxed, column]) - {""}) if column else []
    if not classes:
        return "object", []
    return classes[0], [f"class: {classes[0]}, the one value of {where}'s {column}"]


METRIC_TEXT = {
    "iou_map": "Kaggle's mean over images of TP / (TP + FP + FN) at IoU 0.5 to 0.75 (Global Wheat's)",
    "iou_map40": "Kaggle's mean over images of TP / (TP + FP + FN) at IoU 0.4 to 0.75 (RSNA Pneumonia's)",
    "coco_map": "COCO mAP@[.5:.95]",
    "voc_map": "PASCAL VOC mAP over the classes at IoU 0.5",
    "voc_map40": "PASCAL VOC mAP over the classes at IoU 0.4 (VinBigData's)",
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


def _class_notes(found: Classes, where: str, ids: str | None) -> list[str]:
    """What `new` prints of the classes: the column, each class with its token and its boxes, the nothing class."""
    written = f", each written as its {ids}" if ids and any(t != c for c, t in found.tokens.items()) else ""
    notes = [f"classes: {len(found.tokens)} in {where}'s {found.column}{written}, boxes of each:"]
    notes += [
        f"  {t} {c}: {found.counts[c]}" if t != c else f"  {c}: {found.counts[c]}" for c, t in found.tokens.items()
    ]
    if found.nothing is not None:
        notes.append(
            f"nothing here: class {found.nothing} ({found.nothing_name}), the sample's default prediction; scored as "
            "one more class (a 1x1 box at the corner of each image with no box) and written on every image at one "
            "less its highest box confidence"
        )
    return notes


def _classes(
    frame: pd.DataFrame, where: str, boxed: pd.Series, sample: tuple[str, pd.Series], metric: str | None
) -> tuple[str, Classes | None, str, list[str]]:
    """The class name (one class) or the classes (several, or a sample that writes a class first), the metric
    (--metric, else iou_map for one class and voc_map for several; Kaggle's IoU metric refused for several) and the
    notes that say so."""
    groups = sample_groups(sample[1])
    if one_class(frame, boxed, groups[0]):
        name, notes = _class_name(frame, where, boxed)
        return name, None, metric or "iou_map", notes
    found = read_classes(frame, where, boxed, sample[0], groups)
    if metric in THRESHOLDS:
        raise ContractError(
            f"--metric {metric} scores boxes of one class; {where}'s {found.column} holds {len(found.tokens)}: "
            f"{', '.join(m for m in METRICS if m not in THRESHOLDS)} score classes."
        )
    ids = class_columns([str(c) for c in frame.columns])[1]
    return "object", found, metric or "voc_map", _class_notes(found, where, ids)


def infer_boxes(
    source: Source, name: str, slug: str, metric: str | None, train: str | None, sample: str | None
) -> BoxSpec:
    """Read a download of boxes (the module docstring) and decide everything the generated file states; every box of
    the CSV is read and checked, as `run` reads it."""
    sample_f = pick_csv(source, "sample submission", SAMPLE_WORDS, sample, "--sample")
    sub, id_col, column = _test_ids(source, sample_f, metric)
    train_f, bbox, four, corners = _box_table(source, sample_f, train)
    frame = source.read(train_f, written=True)
    target = _lower([str(c) for c in frame.columns]).get(TARGET) if four and not corners else None
    used = (bbox,) if bbox else (*four, *([target] if target else []))
    images = ImageNames.of(source)
    train_id = image_column(frame, images, id_col, exclude=used)
    if train_id is None:
        raise ContractError(f"{train_f}: none of its columns ({listed(list(frame.columns), 6)}) names the images.")
    boxed = (frame[bbox] if bbox else frame[list(four)].agg("".join, axis=1)).str.strip() != ""
    class_name, classes, chosen, class_notes = _classes(frame, train_f, boxed, (sample_f, sub[column]), metric)
    class_col = classes.column if classes else None
    reader = reader_column([c for c in map(str, frame.columns) if c not in (train_id, *used, class_col)])
    rows = read_box_rows(frame, train_f, train_id, bbox, four, target, corners, class_col, reader)
    reader, reader_found = reader_notes(rows, train_f, reader)
    train_paths = image_pattern(pd.Series(rows.ids, name=train_id), images, "train", train_f)
    test_paths = image_pattern(sub[id_col], images, "test", sample_f)
    unlisted = count_unlisted(images, train_paths[0], set(rows.ids) | set(sub[id_col]))
    counts = [len(b) for b in rows.boxes.values()] + [0] * unlisted
    n_empty = sum(c == 0 for c in counts)
    aside = [str(c) for c in frame.columns if c not in (train_id, *used, *_class_columns(frame, classes), reader)]
    notes = [
        f"boxes: {sum(counts)} in {train_f} ({bbox or ', '.join(four)}) on {len(counts) - n_empty} images, up to "
        f"{max(counts)} an image; {n_empty} training images with no box, kept",
        f"images: {train_f}'s {train_id} {where_images(train_paths)}; {sample_f}'s {id_col} {where_images(test_paths)}",
        *twin_notes(pd.Series(rows.ids, name=train_id), images, train_paths, train_f, "image_path"),
        *twin_notes(sub[id_col], images, test_paths, sample_f, "test_image_path"),
        *class_notes,
        *reader_found,
    ]
    if unlisted:
        folder = train_paths[0].partition("{}")[0]
        notes.append(f"{unlisted} images of {folder} are not in {train_f}: images with no box")
    if aside:
        notes.append(f"columns left aside: {train_f}'s {listed(aside, 6)}")
    others = [m for m in METRICS if m != chosen and (classes is None or m not in THRESHOLDS)]
    notes.append(f"metric: {chosen}, {METRIC_TEXT[chosen]}; --metric {' or '.join(others)}")
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
        xywh_columns=() if corners else four,
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
        xyxy_columns=four if corners else (),
        classes=classes,
        reader_column=reader,
    )


def _class_columns(frame: pd.DataFrame, classes: Classes | None) -> tuple[str, ...]:
    """The class columns the generated file reads or that name its classes' tokens (none with one class)."""
    return tuple(c for c in class_columns([str(c) for c in frame.columns]) if c) if classes else ()
