"""What `python -m pipeline new` infers from an image download: the CSV of training images and their answers, where
the images lie, the test images (the sample submission's ids), the submission kind and the metric.

A download is read as images when at least half of its files are images and no CSV but the sample submission has
more than two columns, or every such CSV has a column naming images and one holds the sample's columns as values,
labels or tags (PetFinder Pawpularity's train.csv of photo metadata; pipeline/vision/infer_targets.py). Answers other
than one class per image are found first (infer_targets.py: values, 0/1 label columns, space-separated tags, from
the training CSV's columns named as the sample's; its id column may be named otherwise; tags may be too, Human
Protein Atlas' Target beside its sample's Predicted: tag_columns.py). Else a CSV of
two columns, one whose values name the download's images and a label, names one image per row (as dog breeds'
labels.csv, CIFAR-10's trainLabels.csv with train.7z, Classify Leaves' train.csv of paths, Aerial Cactus's train.csv;
its columns may be named otherwise than the sample's: image_id,category beside a sample of id,label), or one of more
columns naming images and holding the sample's label column by name (SIIM-ISIC's, its photo metadata left aside, a
column grouping images, its patient_id, kept whole in one fold: infer_groups.py), or else a
folder holds one folder of images per class (Plant Seedlings' train/<species>/). Each id names its image through
one pattern or several tried in order (image_ids.py: suffixes of one folder, or folders that each hold some of the
ids' images, as Planet's test-jpg/ and test-jpg-additional/), or, where no file is named by an id, through one file
per channel (Human Protein Atlas' train/<Id>_red.png ... _yellow.png: infer_channels.py), the channels written into
the Config. The submission is
- labels (the sample lists id,label with class names): scored by accuracy;
- probabilities (the sample's header is the id then every class): multi-class log loss;
- one probability column (the sample lists id,label holding numbers that are no class, two classes): the second
  class's probability (1 of 0/1), scored by ROC AUC, or binary log loss with --metric log_loss;
- values, label probabilities or tags (infer_targets.py): rmse, mean column-wise ROC AUC, mean F1 per image; a
  column grouping their images keeps each group in one fold as for classes (FOLDS "group": no classes to stratify).
Anything that cannot be inferred is refused naming the flag that settles it, as for tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.imagefiles import is_image
from pipeline.listing import listed
from pipeline.tabular.infer_files import SAMPLE_WORDS, Source, pick_csv, unclear
from pipeline.tabular.infer_task import spaced_twins
from pipeline.vision.channels import CHANNEL
from pipeline.vision.csv_images import check_labelled, check_unique
from pipeline.vision.image_ids import ImageNames, case_notes, image_column, image_pattern, twin_notes, where_images
from pipeline.vision.infer_channels import check_channels, layout_channels, place_of
from pipeline.vision.infer_groups import group_column, group_notes, grouped_kind
from pipeline.vision.infer_targets import (
    Targets,
    find_targets,
    image_tables,
    renamed_answers,
    unused_columns,
)
from pipeline.vision.infer_views import view_notes
from pipeline.vision.tag_columns import holds_tags
from pipeline.vision.view_files import is_view_pattern

# the metrics of each submission kind, the default first
KIND_METRICS = {"labels": ("accuracy",), "probabilities": ("log_loss",), "positive": ("roc_auc", "log_loss")}
# the tabular flags an image download has no use for
TABLE_ONLY = ("task", "test", "time")


@dataclass
class ImageSpec:
    """Everything the generated image competition states."""

    name: str
    slug: str
    expected: list[str]  # the download's top-level files and folders (EXPECTED_FILES)
    train_csv: str
    sample_csv: str
    test_csv: str | None  # a CSV listing the test images, when the download has one
    id_column: str  # the sample's
    label_column: str  # the sample's label column (a probability sample's: the training CSV's)
    image_path: str | tuple[str, ...]  # an id to its file: "train/{}.jpg"; "{}": the id is the path; several: the first
    test_image_path: str | tuple[str, ...]
    kind: str  # labels, probabilities or positive; or values, label_columns or tags (infer_targets.py)
    metric: str
    classes: list[str]  # tags: the tags
    n_train: int
    n_test: int
    folds: str  # stratified, or kfold when a class has fewer images than the folds; group kinds: group_column
    class_folders: bool = False  # train_csv is a folder of one folder of images per class
    train_id_column: str | None = None  # the training CSV's id column, where it is not id_column
    train_label_column: str | None = None  # its label column (tags: their column), where it is not label_column
    group_column: str | None = None  # its column grouping images, kept in one fold (infer_groups.py)
    test_id_column: str | None = None  # test_csv's column of the images, where it is not id_column
    columns: tuple[str, ...] = ()  # values, label columns, tags: the sample's columns after the id
    channels: tuple[str, ...] = ()  # images of one file per channel (infer_channels.py): the channels, in order
    notes: list[str] = field(default_factory=list)

    def what(self) -> str:
        """What the competition learns, in words: `new`'s first line."""
        many = f"{self.n_train} images"
        if self.kind == "values":
            return f"image values ({listed(self.columns, 3)}) of {many}"
        if self.kind == "label_columns":
            return f"image labels ({len(self.columns)} columns of 0/1: {listed(self.columns, 4)}) of {many}"
        if self.kind == "tags":
            return f"image tags ({len(self.classes)} in {self.train_label_column or self.label_column}) of {many}"
        return f"image classification of {many} into {len(self.classes)} classes ({self.label_column})"


def holds_images(source: Source) -> bool:
    """True for an image download: at least half of its files are images (a table with a picture or two is a table)
    and no CSV but the sample submission has more than two columns, or those that do list images with the answers
    the image networks learn (infer_targets.image_tables: PetFinder Pawpularity's train.csv of photo metadata is
    images; PetFinder Adoption's train.csv of 24 columns, its photos <PetID>-1.jpg, is a table, its photos left
    aside)."""
    return not_images(source) is None


def not_images(source: Source) -> str | None:
    """Why the download is no image download (holds_images), in words that follow its name; None when it is one."""
    images = sum(map(is_image, source.names))
    if images == 0 or 2 * images < len(source.names):
        return (
            f"holds {images} image{'s' * (images != 1)} among its {len(source.names)} files (an image download's "
            "files are images, half of them at least)"
        )
    tables = [n for n in source.csvs() if not any(w in PurePosixPath(n).name.lower() for w in SAMPLE_WORDS)]
    wide = [n for n in tables if len(source.header(n)) > 2]
    if wide and not image_tables(source, wide):
        return (
            f"is a table beside photos: {listed(wide, 3)} of more than two columns "
            "list no images with the sample submission's answers"
        )
    return None


def read_text(source: Source, name: str) -> pd.DataFrame:
    """One CSV of the download with every cell as written, as the generated competition reads it (ids such as 007
    stay text, a class named None or NA stays a class, an empty cell is "")."""
    return source.read(name, written=True)


def class_folders(images: ImageNames, id_col: str, label: str) -> dict[str, pd.DataFrame]:
    """Folders of one subfolder per class (train/<class>/<image>, as Plant Seedlings ships; the folder itself holds no
    image), each as its training table: the image's path under id_col, its subfolder's name under label."""
    rows: dict[str, list[tuple[str, str]]] = {}
    loose = set()
    for n in images.names:
        parts = PurePosixPath(n).parts
        loose.add("/".join(parts[:-1]))
        if len(parts) >= 3:
            rows.setdefault("/".join(parts[:-2]), []).append((n, parts[-2]))
    return {
        folder: pd.DataFrame(found, columns=[id_col, label])
        for folder, found in rows.items()
        if folder not in loose and len({c for _, c in found}) >= 2
    }


def _label_csv(
    source: Source, images: ImageNames, sample: pd.DataFrame, where: str, given: str | None
) -> tuple[str, pd.DataFrame, bool, str]:
    """The training images and labels: --train (a CSV or a folder of class folders), else the one CSV of two
    columns, one whose values name images and a label, or of more columns, one naming images and the sample's label
    column by name (SIIM-ISIC's train.csv of photo metadata) (a name with "train" or "label" first), else the one
    folder of class folders; whether it is a folder, and its id column (the one naming images, whatever its name)."""
    id_col = str(sample.columns[0])
    label = str(sample.columns[1]) if sample.shape[1] == 2 else "class"
    folders = class_folders(images, id_col, label)
    if given and given.rstrip("/") in folders:
        return given.rstrip("/"), folders[given.rstrip("/")], True, id_col
    if given:
        name = pick_csv(source, "training images", ("train",), given, "--train")
        header = source.header(name)
        if len(header) != 2 and label not in header:
            raise ContractError(
                f"--train {name}: its columns are {listed(header, 5)}; the CSV of training images has two, the image "
                f"(as the sample submission's {id_col} names it) and the label, or else holds the sample "
                f"submission's {listed(sample.columns[1:], 5)} by name (classes, values, labels or tags)."
            )
        frame = read_text(source, name)
        fallback = id_col if id_col in header else header[0]  # naming no image: image_pattern says so
        return name, frame, False, image_column(frame, images, id_col, _answer(header, label), True) or fallback
    found = []
    for name in sorted(source.csvs(), key=lambda n: not any(w in n.lower() for w in ("train", "label"))):
        header = source.header(name)
        if name == where or (len(header) != 2 and label not in header):
            continue
        frame = read_text(source, name)
        if column := image_column(frame, images, id_col, _answer(header, label), True):
            found.append((name, frame, False, column))
    if len(found) == 1:
        return found[0]
    if not found and len(folders) == 1:
        return (*next(iter(folders.items())), True, id_col)
    what = "none" if not found else f"several ({', '.join(n for n, *_ in found)})"
    what += f"; folders of class folders: {', '.join(sorted(folders))}" if folders else ""
    raise unclear(
        f"{source.path}: cannot tell which CSV lists the training images (two columns: the image, as the sample "
        f"submission's {id_col} names it, and its label; or the image and the sample submission's "
        f"{listed(sample.columns[1:], 5)} by name), or which folder holds one folder of images per "
        f"class (train/<class>/...): {what} among {', '.join(source.csvs())}.",
        "--train FILE_OR_FOLDER",
    )


def _answer(header: list[str], label: str) -> tuple[str, ...]:
    """The label column of a training CSV of more than two columns (the sample's, by name), which names no image."""
    return (label,) if len(header) > 2 else ()


def _label_column(tr: pd.DataFrame, train_id: str, sub: pd.DataFrame) -> str:
    """The training CSV's label column: the one beside the id, or in a CSV of more columns the sample's by name."""
    if tr.shape[1] > 2:
        return str(sub.columns[1])
    return next(str(c) for c in tr.columns if c != train_id)


def _kind(sub: pd.DataFrame, label: str, classes: list[str], metric: str | None, sample: str) -> tuple[str, str]:
    """The submission kind from the sample's columns and values, and the metric (--metric among the kind's);
    `label`: the training CSV's label column."""
    header = [str(c) for c in sub.columns]
    if len(header) > 2:
        if set(header[1:]) != set(classes):
            odd = sorted(set(header[1:]) ^ set(classes))
            raise ContractError(
                f"{sample}: its columns after {header[0]} should be the classes of the training labels ({label}); "
                f"{listed(odd, 5)} is in only one of them."
            )
        kind = "probabilities"
    elif len(classes) == 2 and (metric in ("roc_auc", "log_loss") or not sub[header[1]].isin(classes).all()):
        kind = "positive"
    else:
        kind = "labels"
    allowed = KIND_METRICS[kind]
    if metric is not None and metric not in allowed:
        raise ContractError(
            f"--metric {metric}: a submission of {kind} ({sample}) is scored by {' or '.join(allowed)} here."
        )
    return kind, metric or allowed[0]


def _label_notes(counts: pd.Series, label: str, where: str) -> list[str]:
    """What the labels of `where` look like: the largest and smallest class (an imbalance a user should know of),
    classes that differ only by spaces around them (`'cat'`, `'cat '`), and labels that are several tags a row
    (Planet's "haze primary"), read here as one class per combination."""
    notes = [
        f"classes: {len(counts)}, from {counts.iloc[0]} images ({counts.index[0]}) to {counts.iloc[-1]} "
        f"({counts.index[-1]})"
    ]
    if twins := spaced_twins([str(c) for c in counts.index]):
        notes.append(
            f"warning: {label}: classes {twins} differ only by spaces around them, so each is a class of its own; if "
            f"they are one, fix {where}"
        )
    if holds_tags(pd.Series(counts.index)):
        notes.append(
            f"{label} holds several space-separated tags a row: each combination is read as one class (`new` reads "
            "the tags themselves with no --metric or a tag metric such as f1_samples, where the training CSV names "
            "their column as the sample does or --tags COLUMN names it)"
        )
    return notes


def expected_files(source: Source) -> list[str]:
    """The download's top-level files and folders, as `run` extracts it: an inner train.7z as the train/ it holds,
    or as itself when its files lie elsewhere (test.zip of test_images/...: `run` tells a full download from a test
    set alone by these names, reading the zip's own listing, in which an archive stands for its stem's folder)."""
    tops = {PurePosixPath(n).parts[0] for n in source.names if n not in source.inner}
    held: dict[str, set[str]] = {}
    for member, archive in source.inner.items():
        held.setdefault(archive, set()).add(PurePosixPath(member).parts[0])
    for archive, folders in held.items():
        if (stem := PurePosixPath(archive).stem) in folders:
            tops = (tops - {archive}) | {stem}
    return sorted(t for t in tops if not t.startswith("."))


def _test_csv(
    source: Source, used: set[str], sub: pd.DataFrame, sample_f: str, wide: bool = False
) -> tuple[str | None, str | None, list[str]]:
    """A CSV listing the sample's test images (`sub`'s ids) in one column, whatever its name (Classify Leaves'
    test.csv of one column; a test.csv of image_id beside a sample of id), if any: of that one column, or, `wide`, of
    more (PetFinder's test.csv of photo metadata); its name, its id column when named otherwise than the sample's,
    and the note that says so."""
    id_col = str(sub.columns[0])
    ids = set(sub[id_col])
    for name in source.csvs():
        header = source.header(name)
        if name in used or not header or (len(header) != 1 and not wide):
            continue
        frame = read_text(source, name)
        for column in sorted(map(str, frame.columns), key=lambda c: c != id_col):
            if set(frame[column]) == ids:
                if column == id_col:
                    return name, None, []
                return name, column, [f"columns: {name}'s {column} lists the images of {sample_f}'s {id_col}"]
    return None, None, []


def _kind_notes(kind: str, label: str, classes: list[str]) -> list[str]:
    """What a binary download's submission holds (`label`: the training CSV's label column)."""
    if kind == "positive":
        return [f"submission: the probability of {label} {classes[1]} (the second of {classes[0]}, {classes[1]})"]
    if kind == "labels" and len(classes) == 2:
        return [f"metric: accuracy of labels; --metric roc_auc writes the probability of {label} {classes[1]}"]
    return []


def _where(
    images: ImageNames, train: tuple[pd.Series, str], test: tuple[pd.Series, str], folders: bool = False
) -> tuple[dict[str, str | tuple[str, ...]], list[str], tuple[str, ...]]:
    """Where the training and test images lie (`train`, `test`: a CSV's ids and its name; `folders`: the training
    CSV is a folder of class folders): each role's pattern, or patterns tried in order, the notes that say so, and
    the channels of images of one file per channel (infer_channels.py; () for one file an image)."""
    found = {
        role: image_pattern(ids, images, role, where, channels=True)
        for role, (ids, where) in (("train", train), ("test", test))
    }
    (train_ids, train_f), (test_ids, sample_f) = train, test
    paths = {role: p[0] if len(p) == 1 else p for role, p in found.items()}
    if is_view_pattern(found["train"]) or is_view_pattern(found["test"]):
        return paths, view_notes((train_ids, train_f, found["train"]), (test_ids, sample_f, found["test"]), images), ()
    if place_of(found["train"][0]) is not None or place_of(found["test"][0]) is not None:
        return paths, *_channels(images, (train_ids, train_f, found["train"]), (test_ids, sample_f, found["test"]))
    read = (
        f"{train_f}/<class>/, an image's folder its class"
        if folders
        else f"{train_f}'s {train_ids.name} {where_images(found['train'])}"
    )
    notes = [f"images: {read}; {sample_f}'s {test_ids.name} {where_images(found['test'])}"]
    for ids, where, role in ((train_ids, train_f, "train"), (test_ids, sample_f, "test")):
        notes += case_notes(ids, images, found[role], where)
        notes += twin_notes(ids, images, found[role], where, "image_path" if role == "train" else "test_image_path")
    return paths, notes, ()


def _channels(
    images: ImageNames, train: tuple[pd.Series, str, tuple[str, ...]], test: tuple[pd.Series, str, tuple[str, ...]]
) -> tuple[list[str], tuple[str, ...]]:
    """The channels of images of one file per channel (infer_channels.py), every training and test id checked to
    have a file of each (`train`, `test`: a CSV's ids, its name and image_pattern's patterns), and the note that says
    so; images of one file an id on one side only are refused."""
    (train_ids, train_f, train_p), (test_ids, sample_f, test_p) = train, test
    odd = next(((f, p[0]) for _, f, p in (train, test) if len(p) != 1 or place_of(p[0]) is None), None)
    if odd is not None:
        other = test_p[0] if odd[0] == train_f else train_p[0]
        raise ContractError(
            f"{odd[0]}'s images are one file an id ({odd[1].format('<id>')}), the others one file per channel "
            f"({other.replace(CHANNEL, '<channel>').format('<id>')}); both are one or the other."
        )
    channels = layout_channels(train_ids, images.channel_files, train_p[0], train_f)
    check_channels(test_ids, images.channel_files, test_p[0], channels, sample_f)
    shown = [p[0].replace(CHANNEL, "<channel>").format("<id>") for p in (train_p, test_p)]
    note = (
        f"images: one file per channel ({', '.join(channels)}: Config.channels, stacked in that order; drop or "
        f"reorder them there): {train_f}'s {train_ids.name} names {shown[0]}; {sample_f}'s {test_ids.name} {shown[1]}"
    )
    return [note, *_stats_notes(channels)], channels


def _stats_notes(channels: tuple[str, ...]) -> list[str]:
    """The note on how channels that are no colour (yellow, a satellite band such as b04) are normalised
    (channels.channel_stats), and how to give them their own statistics; none for red, green and blue alone."""
    others = [c for c in channels if c.lower() not in ("red", "green", "blue")]
    if not others:
        return []
    return [
        f"normalisation: {listed(others, 4)} by the mean of ImageNet's red, green and blue mean and std (no pretrained "
        "weights saw them), red, green and blue by their own; declare mean and std in the Config, one each per "
        "channel in its order (0 to 1: a band's over the training images), for statistics of your own"
    ]


def _targets_spec(
    source: Source,
    images: ImageNames,
    names: tuple[str, str],
    sample: tuple[str, pd.DataFrame],
    found: Targets,
    groups: str | None,
) -> ImageSpec:
    """The spec of a download answered by values, label columns or tags (infer_targets.py; `names`: the package's
    and the slug, `sample`: the sample submission's name and frame), its folds drawn image by image, or by groups of
    images where a column of the training CSV groups them (infer_groups.py; `groups`: --groups): values, label
    columns and tags are no classes to stratify by."""
    (name, slug), (sample_f, sub) = names, sample
    id_col, train_id = str(sub.columns[0]), found.id_column
    paths, notes, channels = _where(images, (found.frame[train_id], found.train_csv), (sub[id_col], sample_f))
    if train_id != id_col:
        notes.append(f"columns: {found.train_csv}'s {train_id}; {sample_f}'s {id_col}")
    test_csv, test_id, test_notes = _test_csv(source, {found.train_csv, sample_f}, sub, sample_f, wide=True)
    answers = {"label_columns": "labels"}.get(found.kind, found.kind)
    grouped = group_column(found.frame, found.train_csv, (train_id, *found.columns), groups, answers)
    fold_kind = "kfold" if grouped is None else grouped_kind("kfold")
    fold_notes = [] if grouped is None else group_notes(found.frame, grouped, fold_kind)
    return ImageSpec(
        name=name,
        slug=slug,
        expected=expected_files(source),
        train_csv=found.train_csv,
        sample_csv=sample_f,
        test_csv=test_csv,
        test_id_column=test_id,
        id_column=id_col,
        train_id_column=None if train_id == id_col else train_id,
        label_column=found.columns[0],
        train_label_column=found.train_column,
        image_path=paths["train"],
        test_image_path=paths["test"],
        kind=found.kind,
        metric=found.metric,
        classes=found.tags,
        n_train=len(found.frame),
        n_test=len(sub),
        folds=fold_kind,
        group_column=grouped,
        columns=found.columns,
        channels=channels,
        notes=notes + test_notes + found.notes + fold_notes,
    )


def _folds(
    tr: pd.DataFrame, where: str, used: tuple[str, str], folds: int, groups: str | None
) -> tuple[str, str | None, list[str]]:
    """The fold kind of a classification download's training CSV `tr` (`used`: its id and label columns), its group
    column (infer_groups.py; `groups`: --groups) and the notes that say so: stratified, or kfold when a class has
    fewer images than the folds; each group's images in one fold when a column groups them."""
    label, notes = used[1], []
    counts = tr[label].value_counts()
    kind = "kfold" if counts.min() < folds else "stratified"
    column = group_column(tr, where, used, groups)
    if kind == "kfold":
        notes.append(
            f"folds: {'group' if column else 'kfold'}, not stratified: class {counts.idxmin()} has {counts.min()} "
            f"image(s), fewer than {folds}"
        )
    notes += unused_columns(tr, where, used)
    if column is None:
        return kind, None, notes
    kind = grouped_kind(kind)
    return kind, column, notes + group_notes(tr, column, kind)


def infer_images(
    source: Source,
    name: str,
    slug: str,
    metric: str | None,
    train: str | None,
    sample: str | None,
    folds: int = 5,
    groups: str | None = None,
    tags: str | None = None,
) -> ImageSpec:
    """Read an image download and decide everything the generated file states (the module docstring); `groups`:
    --groups, a column of the training CSV grouping its images or "none" (pipeline/vision/infer_groups.py); `tags`:
    --tags, the training CSV's column of tags where the sample names it otherwise, or "none" (tag_columns.py)."""
    sample_f = pick_csv(source, "sample submission", SAMPLE_WORDS, sample, "--sample")
    sub = read_text(source, sample_f)
    if sub.shape[1] < 2:
        raise ContractError(f"{sample_f}: a sample submission needs an id column and at least one value column.")
    id_col = str(sub.columns[0])
    images = ImageNames.of(source)
    if (found := find_targets(source, images, sample_f, sub, metric, train, tags)) is not None:
        return _targets_spec(source, images, (name, slug), (sample_f, sub), found, groups)
    train_f, tr, folders, train_id = _label_csv(source, images, sub, sample_f, train)
    label = _label_column(tr, train_id, sub)  # the training CSV's
    for frame, column, where in ((tr, train_id, train_f), (sub, id_col, sample_f)):  # as the generated load does
        check_unique(frame, column, where)
    check_labelled(tr, train_f, train_id, label)
    renamed = renamed_answers(tr, train_f, label, sub, metric)
    classes = sorted(set(tr[label]))
    kind, metric = _kind(sub, label, classes, metric, sample_f)
    sub_label = label if kind == "probabilities" else str(sub.columns[1])
    paths, notes, channels = _where(images, (tr[train_id], train_f), (sub[id_col], sample_f), folders)
    if (train_id, label) != (id_col, sub_label):
        notes.append(f"columns: {train_f}'s {train_id}, {label}; {sample_f}'s {', '.join(map(str, sub.columns[:2]))}")
    notes += _label_notes(tr[label].value_counts(), label, train_f)
    fold_kind, grouped, fold_notes = _folds(tr, train_f, (train_id, label), folds, groups)
    test_csv, test_id, test_notes = _test_csv(source, {train_f, sample_f}, sub, sample_f, wide=tr.shape[1] > 2)
    return ImageSpec(
        name=name,
        slug=slug,
        expected=expected_files(source),
        train_csv=train_f,
        sample_csv=sample_f,
        test_csv=test_csv,
        test_id_column=test_id,
        class_folders=folders,
        id_column=id_col,
        label_column=sub_label,
        train_id_column=None if train_id == id_col else train_id,
        train_label_column=None if label == sub_label else label,
        image_path=paths["train"],
        test_image_path=paths["test"],
        kind=kind,
        metric=metric,
        classes=classes,
        n_train=len(tr),
        n_test=len(sub),
        folds=fold_kind,
        group_column=grouped,
        channels=channels,
        notes=notes + test_notes + fold_notes + renamed + _kind_notes(kind, label, classes),
    )
