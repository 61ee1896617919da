"""What `python -m pipeline new` infers from a download of run-length masks (Carvana, TGS Salt, Severstal Steel
Defect, SIIM-ACR Pneumothorax): a sample submission and a training CSV, each with a column of run-length strings named
as Kaggle names one (EncodedPixels, rle_mask, ...; SIIM's " EncodedPixels", its leading space kept); how each names its
rows (an image a row, or an image and a class: a class column, or the class joined to the id, "0002cc93b.jpg_1"); the
classes; where the training and test images lie (pipeline/vision/image_ids.py: SIIM's DICOM files nested in folders of
their own found by a deep pattern) and the training images the CSV does not list (every mask empty); the grid
(grid.py, from the most common training image size), the runs' encoding, absolute or relative (infer_encoding.py,
from the cells) and pixel order, told from the images (infer_order.py). Where rows name an image alone (one class),
an image on several rows (SIIM's regions of one image) has their union for its mask (union_rows); where they name an
image and a class, a pair on two rows is refused, as `run` refuses it (mask_table.py). Every cell of the training CSV
is read and checked, as `run` reads it. The metric: `--metric`, else the one Kaggle scores the download's competition
by where INSTANCE_SLUGS names it (Airbus Ship Detection: f2_iou; Sartorius Cell Instance Segmentation: ap_iou; each a
submission of one row per object), else dice. A training CSV's width and height columns (Sartorius's) are checked
against the images read for the grid; its other columns (Sartorius's cell_type, plate_time, ...) are left aside.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.detection.infer import count_unlisted
from pipeline.dicom import dicom_size, is_dicom, read_dicom
from pipeline.listing import listed
from pipeline.segmentation.csv_masks import METRICS
from pipeline.segmentation.grid import grid_for
from pipeline.segmentation.infer_encoding import EncodingEvidence, decide_encoding
from pipeline.segmentation.infer_order import OrderEvidence, decide
from pipeline.segmentation.mask_table import MaskRows, read_mask_rows, split_joined
from pipeline.segmentation.rle import RleError, is_empty, runs
from pipeline.segmentation.rle_submission import SampleLayout
from pipeline.tabular.infer_files import SAMPLE_WORDS, Source, pick_csv, unclear
from pipeline.vision.image_ids import ImageNames, image_column, image_pattern, names_images, where_images
from pipeline.vision.infer import expected_files

# a run-length column's names (case aside), or any name with a word "rle" ("mask_rle", "rle_encoded")
RLE_WORDS = ("encodedpixels", "rle_mask", "rle", "annotation", "segmentation", "predicted", "encoding")
CLASS_WORDS = ("classid", "class_id", "class", "label", "category", "category_id")
JOINED = "_"  # Severstal's older ids: "<image>_<class>"
SIZES_READ = 200  # training images whose size `new` reads for the grid
ORDER_SAMPLES = 12  # training masks decoded both ways for the pixel order
# competitions whose sample lists each image once but whose submission is one row per object, and their metric
INSTANCE_SLUGS = {"airbus-ship-detection": "f2_iou", "sartorius-cell-instance-segmentation": "ap_iou"}
# a training CSV's columns of each row's image size (Sartorius's), checked against the images `new` reads
SIZE_WORDS = ("width", "height")


@dataclass
class MaskSpec:
    """Everything the generated segmentation competition states."""

    name: str
    slug: str
    expected: list[str]
    train_csv: str
    sample_csv: str
    id_column: str  # the sample's
    train_id_column: str | None  # the training CSV's, where it is not id_column
    rle_column: str
    prediction_column: str | None  # the sample's, where it is not rle_column
    classes: tuple[str, ...]
    class_column: str | None
    sample_class_column: str | None
    joined: str | None
    image_path: str | tuple[str, ...]
    test_image_path: str | tuple[str, ...]
    unlisted: bool
    order: str
    encoding: EncodingEvidence
    union_rows: bool  # several rows of one image: its mask is their union
    grid: tuple[int, int]
    shape: tuple[int, int]  # most training images' (height, width)
    empty: str
    metric: str
    n_train: int
    n_test: int
    masks: dict[str, int]  # per class, the training images with a mask of it
    evidence: OrderEvidence
    sized_rows: int = 0  # rows whose width and height columns were checked against their images (Sartorius's)
    notes: list[str] = field(default_factory=list)


def is_rle(cells: pd.Series) -> bool:
    """Whether a column's non-empty cells are run-length strings, absolute or relative: most of its first 50 (a bad
    one among them is refused later, naming its line)."""
    filled = [c for c in cells.head(1000) if not is_empty(c)][:50]
    good = 0
    for c in filled:
        with contextlib.suppress(RleError):
            good += len(runs(c, None, "relative")[0]) > 0
    return 2 * good >= len(filled)


def rle_column(source: Source, name: str, filled: bool) -> str | None:
    """The column of a CSV named as a run-length column is (RLE_WORDS) whose non-empty cells are run-length strings
    (`filled`: and some are non-empty), if any."""
    header = source.header(name)
    named = [c for c in header if c.lower().strip() in RLE_WORDS or "rle" in re.split(r"[\W_]+", c.lower())]
    if not named:
        return None
    frame = source.read(name, written=True)
    for column in named:
        cells = frame[column]
        if is_rle(cells) and (not filled or any(not is_empty(c) for c in cells.head(2000))):
            return column
    return None


def holds_masks(source: Source) -> bool:
    """True for a download of run-length masks: a sample submission with a run-length column, and another CSV with
    one holding masks."""
    named = [n for n in source.csvs() if any(w in PurePosixPath(n).name.lower() for w in SAMPLE_WORDS)]
    if not any(rle_column(source, n, filled=False) for n in named):
        return False
    return any(rle_column(source, n, filled=True) for n in source.csvs() if n not in named)


def _mask_table(source: Source, sample_f: str, given: str | None) -> tuple[str, str]:
    """The training CSV of masks (--train, else the one other CSV with a run-length column) and that column."""
    if given:
        name = pick_csv(source, "CSV of masks", ("train",), given, "--train")
        if (column := rle_column(source, name, filled=True)) is None:
            raise ContractError(
                f"--train {name}: its columns are {listed(source.header(name), 6)}; a CSV of masks has a column of "
                f"run-length strings named like {', '.join(RLE_WORDS[:3])}."
            )
        return name, column
    found = [(n, rle_column(source, n, filled=True)) for n in source.csvs() if n != sample_f]
    found = [(n, c) for n, c in found if c]
    if len(found) != 1:
        what = "none" if not found else f"several ({', '.join(n for n, _ in found)})"
        raise unclear(f"{source.path}: cannot tell which CSV holds the training masks: {what}.", "--train FILE")
    return found[0]  # type: ignore[return-value]


def _class_column(header: list[str], exclude: tuple[str, ...]) -> str | None:
    low = {c.lower().strip(): c for c in header if c not in exclude}
    return next((low[w] for w in CLASS_WORDS if w in low), None)


def _joined(ids: pd.Series, images: ImageNames) -> bool:
    """Whether ids join an image and a class ("0002cc93b.jpg_1"): they name no image, their part before the last "_"
    does, and the parts after it are few."""
    if names_images(ids, images) or not ids.str.contains(JOINED, regex=False).all():
        return False
    parts = ids.map(lambda k: split_joined(k, JOINED))
    heads, tails = parts.map(lambda p: p[0]), parts.map(lambda p: p[1])
    return names_images(heads, images) and tails.nunique() <= max(20, len(heads.unique()) // 2)


def _classes(values: list[str]) -> tuple[str, ...]:
    """Distinct class names as written: by number where all are whole numbers, else in order of first appearance."""
    distinct = list(dict.fromkeys(v for v in values if v))
    if distinct and all(v.isdigit() for v in distinct):
        return tuple(sorted(distinct, key=int))
    return tuple(distinct)


def _image_sizes(
    source: Source, images: ImageNames, ids: list[str], patterns: tuple[str, ...]
) -> dict[str, tuple[int, int]]:
    """The (height, width) of up to SIZES_READ training images, by id, read from their headers."""
    from PIL import Image

    sizes = {}
    step = max(1, len(ids) // SIZES_READ)
    for key in ids[::step][:SIZES_READ]:
        path = _path_of(images, key, patterns)
        if is_dicom(path):
            width, height = dicom_size(path, source.read_bytes(path))
            sizes[key] = (height, width)
            continue
        with Image.open(io.BytesIO(source.read_bytes(path))) as im:
            sizes[key] = (im.height, im.width)
    return sizes


def _size_columns(frame: pd.DataFrame) -> tuple[str, str] | None:
    """A training CSV's width and height columns (SIZE_WORDS, case aside), where it has both."""
    low = {str(c).lower().strip(): str(c) for c in frame.columns}
    return (low[SIZE_WORDS[0]], low[SIZE_WORDS[1]]) if all(w in low for w in SIZE_WORDS) else None


def _whole(text: str) -> int | None:
    """A cell's whole number ("704", "704.0"), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _check_sizes(frame: pd.DataFrame, where: str, train_id: str, sizes: dict[str, tuple[int, int]]) -> int:
    """The rows of the images in `sizes` (height, width) whose width and height columns (Sartorius's) agree with the
    image; one that does not, or is no number, refused naming its line. 0 where the CSV has no such columns."""
    columns = _size_columns(frame)
    if columns is None:
        return 0
    keys = frame[train_id].astype(str).str.strip()
    checked = 0
    for i in np.flatnonzero(keys.isin(list(sizes)).to_numpy()):
        (height, width), values = sizes[keys.iloc[i]], [str(frame[c].iloc[i]).strip() for c in columns]
        said = tuple(_whole(v) for v in values)
        if said != (width, height):
            raise ContractError(
                f"{where} line {i + 2}: {columns[0]} {values[0]!r} and {columns[1]} {values[1]!r}, but image "
                f"{keys.iloc[i]} is {width} wide and {height} high."
            )
        checked += 1
    return checked


def _gray(source: Source, path: str) -> np.ndarray:
    """A download's image as float32 grey (height, width): DICOM through pipeline.dicom, others through PIL."""
    from PIL import Image

    if is_dicom(path):
        return read_dicom(path, source.read_bytes(path))[..., 0].astype(np.float32)
    with Image.open(io.BytesIO(source.read_bytes(path))) as im:
        return np.asarray(im.convert("L"), dtype=np.float32)


def _path_of(images: ImageNames, key: str, patterns: tuple[str, ...]) -> str:
    """The download's file of an id as `run` finds it (pipeline.imagefiles.FolderNames): the first pattern that finds
    it by its exact path, else the first that finds it in another case."""
    for exact in (True, False):
        for pattern in patterns:
            if found := images.path(pattern, key, exact):
                return found
    raise ContractError(f"no image of {key!r} in the download ({' or '.join(p.format(key) for p in patterns)}).")


def _order(source: Source, images: ImageNames, rows: MaskRows, patterns: tuple[str, ...]) -> OrderEvidence:
    """The pixel order told from up to ORDER_SAMPLES training images with a mask (infer_order.py)."""
    with_mask = [k for k in rows.ids if any(cell for _, cell in rows.cells[k])]
    step = max(1, len(with_mask) // ORDER_SAMPLES)
    samples = []
    for key in with_mask[::step][:ORDER_SAMPLES]:
        cell = max((cell for _, cell in rows.cells[key]), key=len)
        gray = _gray(source, _path_of(images, key, patterns))
        try:
            runs(cell, gray.size)
        except RleError:
            continue  # a run past this image: load names it; the order is told from the others
        samples.append((gray, cell))
    return decide(samples)


def _sample(source: Source, sample_f: str, images: ImageNames) -> tuple[pd.DataFrame, str, str, str | None, bool]:
    """The sample submission (as written), its id column, its mask column, its class column (if any) and whether its
    ids join the image and the class."""
    column = rle_column(source, sample_f, filled=False)
    if column is None:
        raise ContractError(
            f"{sample_f}: its columns are {listed(source.header(sample_f), 4)}; a submission of masks has a column "
            f"of run-length strings named like {', '.join(RLE_WORDS[:3])}."
        )
    sub = source.read(sample_f, written=True)
    id_col = next(str(c) for c in sub.columns if c != column)
    class_col = _class_column([str(c) for c in sub.columns], (id_col, column))
    return sub, id_col, column, class_col, class_col is None and _joined(sub[id_col], images)


def _train_ids(
    frame: pd.DataFrame, where: str, images: ImageNames, id_col: str, used: tuple[str, ...]
) -> tuple[str, bool]:
    """The training CSV's column naming the images, and whether its ids join the image and the class."""
    column = image_column(frame, images, id_col, exclude=used)
    if column is not None:
        return column, False
    for c in sorted(frame.columns, key=lambda c: c != id_col):
        if c not in used and _joined(frame[c], images):
            return str(c), True
    raise ContractError(f"{where}: none of its columns ({listed(list(frame.columns), 6)}) names the images.")


def _class_values(frame: pd.DataFrame, column: str | None, joined: bool, id_col: str) -> list[str]:
    """A CSV's class values as written: its class column's, or the part of its joined ids after the last "_"."""
    if column is not None:
        return [str(v).strip() for v in frame[column]]
    if joined:
        return [split_joined(str(v).strip(), JOINED)[1] for v in frame[id_col]]
    return []


def _read_rows(
    source: Source,
    images: ImageNames,
    frame: pd.DataFrame,
    where: tuple[str, str, str],
    classes: tuple[str, ...],
    named: tuple[str | None, str | None],
    given: str | None,
) -> tuple[MaskRows, tuple[str, ...], tuple[int, int], EncodingEvidence, int]:
    """The training CSV's masks (`where`: its name, id column and run-length column; `named`: its class column and
    the separator joining a class to its ids, if any), the pattern of its images, their most common (height, width)
    and the runs' encoding (`given`: --rle's), and how many rows' width and height columns agree with their images
    (_check_sizes). Where rows name an image alone, its rows are unioned."""
    train_f, train_id, rle_col = where
    class_column, joined = named
    keys = frame[train_id].astype(str).str.strip()
    if class_column is None and joined is not None and len(classes) > 1:
        keys = keys.map(lambda k: split_joined(k, joined)[0])
    ids = [k for k in dict.fromkeys(keys) if k]
    train_paths = image_pattern(pd.Series(ids, name=train_id), images, "train", train_f)
    sizes = _image_sizes(source, images, ids, train_paths)
    shape, sized = Counter(sizes.values()).most_common(1)[0][0], _check_sizes(frame, train_f, train_id, sizes)
    encoding = decide_encoding(frame[rle_col], shape[0] * shape[1], train_f, rle_col, given)
    per_image = class_column is None and joined is None
    rows = read_mask_rows(
        frame, train_f, train_id, rle_col, classes, class_column, joined, encoding.encoding, union_rows=per_image
    )
    return rows, train_paths, shape, encoding, sized


def infer_masks(
    source: Source,
    name: str,
    slug: str,
    metric: str | None,
    train: str | None,
    sample: str | None,
    encoding: str | None = None,
) -> MaskSpec:
    """Read a download of masks (the module docstring) and decide everything the generated file states (`encoding`:
    the runs', --rle's; None: told from the cells)."""
    if metric is not None and metric not in METRICS:
        raise ContractError(f"--metric {metric}: a submission of run-length masks is scored by {', '.join(METRICS)}.")
    metric = metric or INSTANCE_SLUGS.get(slug, "dice")
    images = ImageNames.of(source)
    sample_f = pick_csv(source, "sample submission", SAMPLE_WORDS, sample, "--sample")
    sub, id_col, column, sample_class, sample_joined = _sample(source, sample_f, images)
    train_f, rle_col = _mask_table(source, sample_f, train)
    frame = source.read(train_f, written=True)
    train_class = _class_column([str(c) for c in frame.columns], (rle_col,))
    train_id, train_joined = _train_ids(
        frame, train_f, images, id_col, (rle_col, *([train_class] if train_class else []))
    )
    values = _class_values(frame, train_class, train_joined, train_id)
    values += _class_values(sub, sample_class, sample_joined, id_col)
    classes = _classes(values) or ("mask",)
    several = len(classes) > 1
    if several and metric != "dice":
        raise ContractError(f"--metric {metric} scores the objects of one class; {train_f} has {len(classes)}.")
    if several and not (train_class or train_joined) or several and not (sample_class or sample_joined):
        side = sample_f if train_class or train_joined else train_f
        raise ContractError(
            f"{side}: {len(classes)} classes ({listed(list(classes), 6)}), but no class names its rows."
        )
    joined = JOINED if train_joined or sample_joined else None
    named = (train_class, joined if train_joined else None)
    rows, train_paths, shape, runs_read, sized = _read_rows(
        source, images, frame, (train_f, train_id, rle_col), classes, named, encoding
    )
    layout = SampleLayout(id_col, column, classes, sample_class, joined if sample_joined else None)
    test_images, _ = layout.pairs(sub, sample_f)
    test_paths = image_pattern(pd.Series(test_images, name=id_col), images, "test", sample_f)
    unlisted = count_unlisted(images, train_paths[0], set(rows.ids) | set(test_images))
    evidence = _order(source, images, rows, train_paths)
    masks = {c: sum(bool(rows.cells[k][j][1]) for k in rows.ids) for j, c in enumerate(classes)}
    spec = MaskSpec(
        name=name,
        slug=slug,
        expected=expected_files(source),
        train_csv=train_f,
        sample_csv=sample_f,
        id_column=id_col,
        train_id_column=None if train_id == id_col else train_id,
        rle_column=rle_col,
        prediction_column=None if column == rle_col else column,
        classes=classes,
        class_column=train_class,
        sample_class_column=sample_class,
        joined=joined,
        image_path=train_paths[0] if len(train_paths) == 1 else train_paths,
        test_image_path=test_paths[0] if len(test_paths) == 1 else test_paths,
        unlisted=unlisted > 0,
        order=evidence.order,
        encoding=runs_read,
        union_rows=rows.merged > 0,
        grid=grid_for(*shape, values=len(classes) * (len(rows.ids) + unlisted + len(test_images))),
        shape=shape,
        empty="-1" if (sub[column].str.strip() == "-1").any() else "",
        metric=metric,
        n_train=len(rows.ids) + unlisted,
        n_test=len(test_images),
        masks=masks,
        evidence=evidence,
        sized_rows=sized,
    )
    spec.notes = _notes(spec, rows, unlisted, frame, (train_paths, test_paths))
    return spec


def _notes(
    spec: MaskSpec, rows: MaskRows, unlisted: int, frame: pd.DataFrame, paths: tuple[tuple[str, ...], ...]
) -> list[str]:
    """What `new` prints of what it decided."""
    train_id = spec.train_id_column or spec.id_column
    per_class = ", ".join(f"{c}: {n}" for c, n in spec.masks.items()) if len(spec.classes) > 1 else ""
    empty = sum(not any(cell for _, cell in rows.cells[k]) for k in rows.ids) + unlisted
    by = spec.class_column or ("its ids" if spec.joined else "")
    notes = [
        f"masks: {sum(spec.masks.values())} in {spec.train_csv}'s {spec.rle_column}"
        + (f", classes by {by} ({per_class})" if per_class else "")
        + f"; {empty} of {spec.n_train} training images with none, kept",
        f"images: {spec.train_csv}'s {train_id} {where_images(paths[0])}; {spec.sample_csv}'s {spec.id_column} "
        f"{where_images(paths[1])}",
    ]
    if spec.joined:
        notes.append(f'rows named by image and class joined: "<image>{spec.joined}<class>"')
    if rows.merged:
        notes.append(
            f"masks: {rows.merged} rows of {spec.train_csv} name an image listed before: each image's mask is the "
            "union of its rows (FILES' union_rows)"
        )
    if unlisted:
        folder = paths[0][0].partition("{}")[0]
        notes.append(f"{unlisted} images of {folder} are not in {spec.train_csv}: images with no mask")
    used = {train_id, spec.rle_column, spec.class_column, *((_size_columns(frame) or ()) if spec.sized_rows else ())}
    if spec.sized_rows:
        width, height = _size_columns(frame) or SIZE_WORDS
        notes.append(f"sizes: {spec.train_csv}'s {width} and {height} agree with the images on {spec.sized_rows} rows")
    if aside := [str(c) for c in frame.columns if c not in used]:
        notes.append(f"columns left aside: {spec.train_csv}'s {listed(aside, 6)}")
    notes.append(spec.evidence.note())
    notes.append(spec.encoding.note())
    (h, w), (gh, gw) = spec.shape, spec.grid
    notes.append(
        f"grid: masks learnt and scored at {gh}x{gw} (most training images are {h}x{w}); each submitted mask resized "
        "back to its image's size"
    )
    if spec.grid != grid_for(h, w):
        gb = 8 * len(spec.classes) * (spec.n_train + spec.n_test) * gh * gw / 2**30
        notes.append(
            f"grid: smaller than {'x'.join(map(str, grid_for(h, w)))} for {spec.n_train + spec.n_test} images x "
            f"{len(spec.classes)} classes, so that one model's predictions at it take {gb:.1f} GB; a larger FILES "
            "grid in the package's __init__.py takes more memory"
        )
    if spec.metric == "f2_iou":
        notes.append(
            "metric: f2_iou, each image's F2 over IoU thresholds 0.5 to 0.95 of its objects, averaged (an image "
            "with none true and none predicted scoring 1); submission: one row per object, each predicted mask cut "
            "into its connected components"
        )
    elif spec.metric == "ap_iou":
        notes.append(
            "metric: ap_iou, each image's TP / (TP + FP + FN) over IoU thresholds 0.5 to 0.95 of its objects, "
            "averaged (an image with none true and none predicted scoring 1); submission: one row per object, no two "
            "overlapping"
        )
        notes.append(
            "touching: on in Config (cells touch): the network learns each image's contact map from its rows, one "
            "per cell, beside the mask, and every mask is split into cells at it; off: each connected component is one"
        )
        if spec.grid != spec.shape:
            notes.append(
                f"touching: the contact map reaches two grid pixels into each cell from a seam, so at {gh}x{gw} a cell "
                f"a few grid pixels across can lose its seed to it; a larger FILES grid (the images' own {h}x{w}, "
                "with --set tile=...) keeps small cells apart"
            )
    else:
        notes.append("metric: dice, the mean over every image and class of 2|A&B|/(|A|+|B|), an empty pair scoring 1")
    notes.append("folds: images at random, each image's masks in one fold")
    return notes
