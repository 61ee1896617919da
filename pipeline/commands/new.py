"""`new`: a competition package for any tabular or image Kaggle competition, inferred from its download (tables:
pipeline/tabular/infer.py; images: pipeline/vision/infer.py, with pipeline/vision/infer_targets.py for values, label
columns and tags; `--kind table` of an image download, the table of its photo metadata that answers as the images
do, to blend with them: pipeline/vision/metadata.py)."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from pipeline.contract import ContractError

HELP = (
    "Write competitions/<name>/ for a tabular, image, box-detection or segmentation competition, from Kaggle's zip or "
    "folder."
)
PROJECT = Path(__file__).resolve().parent.parent.parent
# the options infer takes, each from the flag of the same name (--id: id_col)
INFER_OPTIONS = ("target", "id_col", "metric", "task", "slug", "train", "test", "sample", "time", "series", "join")
INFER_OPTIONS += ("pixels",)
# pipeline.tabular.metrics.METRICS, listed here so that --help needs no scikit-learn import (a test keeps them equal)
METRIC_NAMES = (
    *("accuracy", "roc_auc", "log_loss", "rmse", "rmsle", "mae", "mape", "medae", "smape", "r2", "f1", "mcc"),
    *("balanced_accuracy", "gini", "balanced_log_loss", "map@3", "qwk"),
)
KINDS = ("images", "table")  # --kind
# the table flags that the table of an image download takes from the images' reading, so that the two blend
IMAGES_DECIDE = ("target", "id_col", "task", "time", "series", "original")
# pipeline.multilabel.TAG_METRICS: an image download's space-separated tags (a test keeps them equal)
TAG_METRIC_NAMES = ("f1_samples", "f2_samples", "f1_macro", "f1_micro")
# pipeline.detection.csv_boxes.METRICS: a download of boxes (a test keeps them equal)
BOX_METRIC_NAMES = ("iou_map", "iou_map40", "coco_map", "voc_map", "voc_map40")
# pipeline.segmentation.csv_masks.METRICS: a download of run-length masks (a test keeps them equal)
MASK_METRIC_NAMES = ("dice", "f2_iou", "ap_iou")
# pipeline.segmentation.rle.ENCODINGS: --rle (a test keeps them equal)
RLE_ENCODINGS = ("absolute", "relative")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `new`."""
    p.add_argument("name", help="package name, a lower-case Python identifier (e.g. spaceship_titanic)")
    p.add_argument("--data", required=True, help="Kaggle's competition zip as downloaded, or an extracted folder")
    p.add_argument(
        "--target",
        help="the target column of the training table, or A,B for several (default: from the sample submission)",
    )
    p.add_argument("--id", dest="id_col", help="the id column of the test table (default: the sample's first column)")
    p.add_argument(
        "--metric",
        help=f"one of {', '.join(METRIC_NAMES)}, or map@K for K classes a row; for an image download's tags one of "
        f"{', '.join(TAG_METRIC_NAMES)}; for boxes one of {', '.join(BOX_METRIC_NAMES)}; for run-length masks "
        f"{', '.join(MASK_METRIC_NAMES)} (default: per task, printed)",
    )
    p.add_argument("--task", help="regression, binary or multiclass (default: from the target's values)")
    p.add_argument("--slug", help="Kaggle's competition slug (default: the zip's name, less a browser's ' (1)')")
    p.add_argument(
        "--time",
        help="a date (or number) column of train.csv: folds run forward in time by it, each validating a later period "
        "with models fitted on the earlier ones (default: the date column every test row follows, if any; 'none': "
        "folds at random)",
    )
    p.add_argument(
        "--series",
        help="with folds forward in time: the test's columns naming each series (A,B: Store Sales' store_nbr,family), "
        "whose target's lags and rolling means become features (default: the fewest columns that with the time name "
        "each row once; 'none': no series features)",
    )
    p.add_argument(
        "--join",
        help="the download's other tables joined to train and test by key, FILE:KEY,... (A+B: a key of two columns; "
        "Rossmann's store.csv:Store) (default: each CSV with a key column of both tables, one row per key, holding "
        "most rows' keys; 'none': no joins)",
    )
    p.add_argument(
        "--pixels",
        help="'none': read the columns of an image each row holds (pixel0 .. pixel783, or one column of "
        "space-separated values) as numbers, for the boosters, not as an image for the cnn (default: an image when "
        "the columns are one)",
    )
    p.add_argument(
        "--groups",
        help="images: a column of the training CSV whose value groups images (a patient's photos), each group kept in "
        "one fold (default: a column of text ids shared by several images, if any; 'none': no groups)",
    )
    p.add_argument(
        "--tags",
        help="images: the training CSV's column of space-separated tags where the sample submission names it "
        "otherwise (Human Protein Atlas' Target beside Predicted) (default: the one such column, if any; 'none': "
        "read each combination of tags as one class)",
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="read the download as images, or as a table; 'table' of an image download: the table of its photo "
        "metadata, with the image competition's target, metric and folds, to blend with it (default: images when "
        "the download is images)",
    )
    p.add_argument(
        "--rle",
        choices=RLE_ENCODINGS,
        help="run-length masks: their starts absolute (1-based pixels) or relative (each the gap after the run "
        "before, SIIM's) (default: told from the masks)",
    )
    p.add_argument("--train", help="the training CSV inside --data (default: train.csv)")
    p.add_argument("--test", help="the test CSV inside --data (default: test.csv)")
    p.add_argument("--sample", help="the sample submission CSV inside --data (default: *submission*.csv)")
    p.add_argument("--into", help="parent folder of the new package (default: the project's competitions/)")
    g = p.add_argument_group(
        "original dataset",
        "a Playground competition's source dataset: its rows join every fold's training rows, never scored",
    )
    g.add_argument("--original", help="the original dataset: a CSV, Kaggle's zip of the dataset, or a folder")
    g.add_argument("--original-slug", help="its Kaggle dataset, OWNER/NAME, so that `download` can fetch it")
    g.add_argument("--original-file", help="its CSV inside the zip or folder (default: the one with the target)")
    g.add_argument(
        "--original-columns", help="its columns named otherwise, ORIGINAL=COMPETITION,... (default: by name)"
    )
    g.add_argument("--original-labels", help="its target values written otherwise, ORIGINAL=CLASS,... (default: same)")


def main(args: argparse.Namespace) -> int:
    """Infer, render, write atomically, check the contract, print what was decided and the next command."""
    from pipeline.archives import display_path
    from pipeline.detection.new_boxes import write_boxes
    from pipeline.segmentation.new_masks import write_masks
    from pipeline.tabular.infer_files import Source
    from pipeline.tabular.infer_metric import check_choices
    from pipeline.tabular.template import models_note, render

    parent = Path(args.into).expanduser() if args.into else PROJECT / "competitions"
    dest = parent / args.name
    if dest.exists():
        raise ContractError(f"{dest} already exists; `new` never overwrites a competition. Pick another name.")
    other = (*TAG_METRIC_NAMES, *BOX_METRIC_NAMES, *MASK_METRIC_NAMES)
    check_choices(args.name, None if args.metric in other else args.metric, args.task)
    source = Source(Path(args.data).expanduser())  # the download listed once, for whichever kind it is
    if write_boxes(args, dest, source, _write):  # boxes in a CSV, a sample of PredictionString: detection
        return 0
    if write_masks(args, dest, source, _write):  # run-length masks in a CSV and in the sample: segmentation
        return 0
    if getattr(args, "rle", None):
        raise ContractError(f"--rle {args.rle}: {args.data} holds no run-length masks; leave it out.")
    if _images(args, dest, source):
        return 0
    spec = _metadata(args, source) if args.kind == "table" else None
    if spec is None:
        spec = _table(args, source)
    if note := models_note(spec):  # after the original: its rows count toward svm's limit
        spec.notes.append(note)
    _write(dest, render(spec, str(dest) if args.into else None))  # the folder as given
    shown = display_path(dest)
    id_text = spec.id_col if spec.id_start is None else f"{spec.id_col} (the test rows' numbers from {spec.id_start})"
    print(f"wrote {shown}/__init__.py: {spec.task} on {spec.target_text}, id {id_text}, metric {spec.metric}")
    for note in spec.notes:
        print(f"  {note}")
    where = f"{shlex.quote(shown)} --data {shlex.quote(args.data)}"  # a browser's "comp (1).zip" pasted as is
    print(f"next: python -m pipeline run {where}")
    against = " [--against original]" if spec.original is not None else ""
    print(f"      python -m pipeline drift {where}{against}  (do the test rows differ?)")
    return 0


def _table(args: argparse.Namespace, source: Any) -> Any:
    """The spec of a table download (pipeline/tabular/infer.py), with its original dataset when --original names
    one."""
    from pipeline.tabular.infer import infer
    from pipeline.tabular.infer_metric import check_choices

    for flag in ("groups", "tags"):
        if getattr(args, flag):
            raise ContractError(f"--{flag} is for image downloads; {args.data} is read as a table.")
    if args.metric in TAG_METRIC_NAMES:  # a table's: refused as any metric tables do not know, and what it scores
        try:
            check_choices(args.name, args.metric, args.task)
        except ContractError as e:
            raise ContractError(f"{e} ({args.metric} scores the space-separated tags of images.)") from None
    spec = infer(Path(args.data), args.name, **{k: getattr(args, k) for k in INFER_OPTIONS}, source=source)
    if args.original:
        _add_original(spec, args, source)
    elif any(getattr(args, f"original_{k}") for k in ("slug", "file", "columns", "labels")):
        raise ContractError(
            "--original-slug, --original-file, --original-columns and --original-labels need --original."
        )
    return spec


def _metadata(args: argparse.Namespace, source: Any) -> Any:
    """`--kind table` of an image download: the spec of the table of its photo metadata, answering as its image
    competition does (pipeline/vision/metadata.py); None for a table download, read as any table."""
    from pipeline.vision.infer import holds_images
    from pipeline.vision.metadata import infer_metadata

    if not holds_images(source):
        return None
    if args.join:
        raise ContractError(f"--kind table: {args.data} holds images; the table of their metadata joins no tables.")
    if args.tags:
        raise ContractError(f"--kind table: {args.data} holds images; --tags names their tags, no table's target.")
    if args.pixels:
        raise ContractError(
            f"--kind table: {args.data} holds images in files; --pixels is for the images a table's rows hold, and the "
            "table of their metadata holds none. Leave it out."
        )
    if given := [f"--{k.removesuffix('_col')}" for k in IMAGES_DECIDE if getattr(args, k)]:
        raise ContractError(
            f"--kind table: {args.data} holds images, and the table of their metadata takes its target, id, task "
            f"and folds from them, so that a run of each blends; leave out {', '.join(given)}."
        )
    files = (args.train, args.test, args.sample)
    return infer_metadata(Path(args.data), source, args.name, args.slug, args.metric, files, args.groups)


def _write(dest: Path, text: str) -> None:
    """The package folder with its __init__.py, whole or not at all, kept only when it passes the contract check."""
    from pipeline.contract import load_competition

    tmp = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "__init__.py").write_text(text)
    tmp.rename(dest)
    try:
        load_competition(str(dest))
    except ContractError:
        shutil.rmtree(dest)
        raise


def _images(args: argparse.Namespace, dest: Path, source: Any) -> bool:
    """An image download (pipeline/vision/infer.py; `source`: its files) read as images (no --kind, or --kind images,
    refused for a download of no images): write its competition, print what was decided and the next command, and
    say True; False for any other download (a table) and under --kind table."""
    from pipeline.archives import display_path
    from pipeline.tabular.infer import download_slug
    from pipeline.vision.infer import TABLE_ONLY, infer_images, not_images
    from pipeline.vision.template import render

    if args.kind == "table":
        return False
    if (why := not_images(source)) is not None:
        if args.kind == "images":
            raise ContractError(f"--kind images: {args.data} {why}; `new` reads it as a table without --kind.")
        return False
    given = [f"--{k}" for k in TABLE_ONLY if getattr(args, k)]
    given += [f"--{k}" for k in ("target", "id_col") if getattr(args, k)]
    given += ["--original"] * bool(args.original) + ["--series"] * bool(args.series) + ["--join"] * bool(args.join)
    given += ["--pixels"] * bool(args.pixels)
    if given:
        raise ContractError(f"{args.data} holds images: {', '.join(given)} are for tables; leave them out.")
    slug = args.slug or download_slug(Path(args.data)) or args.name
    spec = infer_images(
        source, args.name, slug, args.metric, args.train, args.sample, groups=args.groups, tags=args.tags
    )
    _write(dest, render(spec, str(dest) if args.into else None))
    shown = display_path(dest)
    print(f"wrote {shown}/__init__.py: {spec.what()}, id {spec.id_column}, metric {spec.metric}")
    for note in spec.notes:
        print(f"  {note}")
    where = f"{shlex.quote(shown)} --data {shlex.quote(args.data)}"
    print(f"next: python -m pipeline run {where} [--preset cpu | --preset fast]")
    return True


def _add_original(spec: Any, args: argparse.Namespace, source: Any) -> None:
    """Find the original dataset (pipeline/tabular/infer_original.py), state it in the spec, and put its CSV where
    runs look for it (the data cache, datasets/<owner>/<name>/), written whole or not at all. Both tables' class
    targets keep the words pandas reads as missing (values.with_words), as the generated load reads them. `source`:
    the competition's download (pipeline.tabular.infer_files.Source)."""
    from pipeline.archives import display_path
    from pipeline.datadir import cache_root
    from pipeline.tabular.infer_files import Source
    from pipeline.tabular.infer_original import find
    from pipeline.tabular.values import with_words, word_targets

    train = source.read(spec.train)  # its classes' words kept, as the spec's classes are (a class named None)
    words = word_targets(spec.task, spec.targets)
    train, _ = with_words(train, words, lambda cols: source.as_written(spec.train, cols))
    found = find(
        Path(args.original),
        train,
        spec.features,
        spec.targets,
        spec.task,
        file=args.original_file,
        slug=args.original_slug,
        columns=args.original_columns,
        labels=args.original_labels,
    )
    folder = cache_root() / found.original.folder
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / found.original.file
    tmp = folder / f".{dest.name}.partial"
    if found.member is None:
        shutil.copyfile(found.path, tmp)
    else:
        Source(found.path).copy(found.member, tmp)
    os.replace(tmp, dest)
    spec.original = found.original
    spec.n_original = found.rows
    spec.notes += [*found.notes, f"original: copied to {display_path(dest)}; run --set original=off to leave it out"]
