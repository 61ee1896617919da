"""What `python -m pipeline new` infers from an image download whose answer per image is not one class
(pipeline/vision/csv_targets.py): values (PetFinder's Pawpularity), 0/1 label columns (plant pathology's) or one
column of space-separated tags (Planet's). pipeline/vision/infer.py asks here first, and reads the download as
classes when none of these is found.

The training CSV is the one that holds every column of the sample submission after its id, by name, and a column
whose values name images (the sample's id column first; a name with "train" first; --train names it): its id column
may be named otherwise than the sample's (Id beside a sample's id), and the generated file then states it
(CsvImageTargets.train_id_column). With no --metric, what it holds under those columns is
- tags: one column whose cells are space-separated tags, some cell holding another's tags and more (Planet's
  "clear primary water" beside "clear primary");
- values: the sample's cells are numbers, and so are the training CSV's (9 in 10 at least: the others are refused,
  naming their line), and they are not a few classes: some number is not whole, or there are more than
  MAX_CLASS_LEVELS (10) distinct whole numbers, as for tables (APTOS's grades 0-4 stay classes). Several columns
  are values unless every one holds a few whole numbers;
- labels: several columns, each a few whole numbers, each of which must be 0 or 1 (a 2 is refused, naming its line);
- anything else: classes (infer.py).
--metric settles it otherwise: a regression metric reads numbers as values, roc_auc or log_loss several columns as
labels, a tag metric (pipeline.multilabel.TAG_METRICS) a column of text as tags, and a class metric (accuracy ...) one
column as classes, Planet's tag combinations one class each.
Where no CSV holds the sample's one column after its id, the one CSV with an image column and one column of
space-separated tags named otherwise (Human Protein Atlas' train.csv Target beside its sample's Predicted) is read as
tags, learnt from that column and written under the sample's (CsvImageTargets.train_tags_column;
pipeline/vision/tag_columns.py: --tags names the column, --tags none reads each combination as a class).

A CSV of more than two columns beside the images (PetFinder's photo metadata) makes an image download only when every
such CSV has a column naming images and one of them holds the sample's columns as values, labels or tags, or holds
the sample's one column as two classes whose probability the sample asks for (SIIM-ISIC Melanoma's target, its
sample's 0.0 no class) (image_tables):
PetFinder Adoption, whose photos are <PetID>-1.jpg, several an id, and whose AdoptionSpeed is five classes, stays a
table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from pipeline import multilabel
from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular import metrics as tabular_metrics
from pipeline.tabular.infer_files import SAMPLE_WORDS, Source, pick_csv, unclear
from pipeline.tabular.infer_task import MAX_CLASS_LEVELS
from pipeline.vision.csv_images import check_labelled, check_unique
from pipeline.vision.csv_targets import LABEL_METRICS, column_numbers
from pipeline.vision.image_ids import ImageNames, image_column
from pipeline.vision.tag_columns import NO_TAGS, holds_tags, renamed_tags, tag_columns

MOSTLY = 0.9  # a column of numbers but for at most 1 cell in 10 is numbers with typos, refused by line; else text
DEFAULT_METRICS = {"values": "rmse", "label_columns": "roc_auc", "tags": "f1_samples"}
REGRESSION_METRICS = tuple(n for n, m in tabular_metrics.METRICS.items() if "regression" in m.tasks)


@dataclass
class Targets:
    """The training CSV of an image download answered by values, labels or tags, and what `new` says of it."""

    kind: str  # values, label_columns or tags
    train_csv: str
    id_column: str  # the training CSV's: the sample's, or its column whose values name images
    frame: pd.DataFrame  # its cells as written
    columns: tuple[str, ...]  # the sample's columns after the id (tags: the one column)
    metric: str
    tags: list[str] = field(default_factory=list)  # tags: those of the training CSV, sorted
    notes: list[str] = field(default_factory=list)
    train_column: str | None = None  # tags: the training CSV's column, where named otherwise than the sample's

    @property
    def tag_column(self) -> str:
        """The training CSV's column of tags (tags only)."""
        return self.train_column or self.columns[0]


def _as_numbers(cells: pd.Series) -> pd.Series:
    """Each cell as a number, NaN where it is none."""
    return pd.to_numeric(cells.str.strip(), errors="coerce")


def mostly_numbers(cells: pd.Series) -> bool:
    """A column of numbers, typos aside: at least MOSTLY of its cells."""
    return len(cells) > 0 and float(_as_numbers(cells).notna().mean()) >= MOSTLY


def few_classes(cells: pd.Series) -> bool:
    """Whole numbers of at most MAX_CLASS_LEVELS distinct values (grades, 0/1 labels), cells of no number aside."""
    values = _as_numbers(cells).dropna()
    return bool((values % 1 == 0).all()) and values.nunique() <= MAX_CLASS_LEVELS


def answer(tr: pd.DataFrame, sub: pd.DataFrame) -> str | None:
    """What the training CSV `tr` holds under the sample's columns after its id, with no --metric: "tags",
    "values", "label_columns", or None (classes, or a CSV without those columns)."""
    columns = [str(c) for c in sub.columns[1:]]
    if not columns or not set(columns) <= set(tr.columns):
        return None
    if len(columns) == 1 and holds_tags(tr[columns[0]]):
        return "tags"
    written = [sub[c][sub[c].str.strip() != ""] for c in columns]
    if not all(_as_numbers(cells).notna().all() for cells in written):
        return None
    if not all(mostly_numbers(tr[c]) for c in columns):
        return None
    few = [few_classes(tr[c]) for c in columns]
    if len(columns) == 1:
        return None if few[0] else "values"
    return "label_columns" if all(few) else "values"


def image_tables(source: Source, wide: list[str]) -> bool:
    """Whether the download's CSVs of more than two columns (`wide`) belong to images: every one has a column whose
    values name images (image_column: the sample's id column first; not by numbered photos, PetFinder Adoption's,
    whose wide CSV is the table), and one holds the sample's columns as values, labels or tags."""
    try:
        sample = pick_csv(source, "sample submission", SAMPLE_WORDS, None, "--sample")
    except ContractError:
        return False
    sub = source.read(sample, written=True)
    if sub.shape[1] < 2:
        return False
    images, id_col = ImageNames.of(source), str(sub.columns[0])
    answered = False
    for name in wide:
        frame = source.read(name, written=True)
        if frame.empty or image_column(frame, images, id_col, channels=True, views=False) is None:  # photos: a table
            return False
        answered = answered or answer(frame, sub) is not None or asks_probability(frame, sub)
        answered = answered or (sub.shape[1] == 2 and str(sub.columns[1]) not in frame and _tagged(frame, images, sub))
    return answered


def _tagged(frame: pd.DataFrame, images: ImageNames, sub: pd.DataFrame) -> bool:
    """Whether a CSV holds a column of tags beside its column naming images (tag_columns.py)."""
    train_id = image_column(frame, images, str(sub.columns[0]), channels=True)
    return train_id is not None and bool(tag_columns(frame, train_id))


def asks_probability(tr: pd.DataFrame, sub: pd.DataFrame) -> bool:
    """Whether the CSV `tr` holds the sample's one column after its id, by name, as two classes whose probability the
    sample asks for: its cells are no training class (SIIM-ISIC's 0.0 beside a target of 0 and 1). A sample of
    classes (Speed 0 beside 0 and 1) leaves a CSV of photo metadata a table."""
    if sub.shape[1] != 2 or (column := str(sub.columns[1])) not in tr.columns:
        return False
    classes = set(tr[column])
    return len(classes) == 2 and not sub[column].isin(classes).all()


def _train_id(source: Source, images: ImageNames, name: str, sub: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """A CSV holding the sample's columns after its id, read, and its id column: its column whose values name images
    (the sample's id column first), else the sample's id column (whose images the refusal of image_pattern names);
    None when it has neither."""
    id_col, columns = str(sub.columns[0]), tuple(str(c) for c in sub.columns[1:])
    frame = source.read(name, written=True)
    column = image_column(frame, images, id_col, columns, True) or (id_col if id_col in frame.columns else None)
    return None if column is None else (frame, column)


def _holder(
    source: Source, images: ImageNames, sample: str, sub: pd.DataFrame, given: str | None
) -> tuple[str, pd.DataFrame, str] | None:
    """The training CSV, read, and its id column: --train when it holds the sample's columns after the id by name,
    else the one CSV that does (a name with "train" first) and has an id column (_train_id); None when none does (a
    classification download)."""
    columns = [str(c) for c in sub.columns[1:]]
    names = [given] if given else [n for n in source.csvs() if n != sample]
    holding = [n for n in names if n in source.names and set(columns) <= set(source.header(n))]
    found = {n: read for n in holding if (read := _train_id(source, images, n, sub)) is not None}
    named = [n for n in found if "train" in PurePosixPath(n).name.lower()]
    if len(found) > 1 and len(named) != 1:
        raise unclear(
            f"{source.path}: several CSVs hold the sample submission's columns ({listed(columns, 5)}) beside an id: "
            f"{', '.join(found)}; which lists the training images?",
            "--train FILE",
        )
    name = (named or list(found) or [None])[0]
    return None if name is None else (name, *found[name])


def renamed_answers(tr: pd.DataFrame, train_f: str, label: str, sub: pd.DataFrame, metric: str | None) -> list[str]:
    """For a training CSV read as classes (`label`: its label column) beside a sample of one column after its id that
    it does not hold by name: a metric of values or tags refused, saying so (`new` reads values from the sample's
    column only, and tags from a column named otherwise only where it finds one: tag_columns.py, --tags); else a note
    where its label column holds values, which are read as classes here. (Tags read as classes here were asked for:
    --tags none or a class metric. A sample of several columns read as classes lists them, one probability each.)"""
    column = str(sub.columns[1])
    if sub.shape[1] != 2 or column in tr.columns:
        return []
    fix = f"name {label} {column} in {train_f}"
    if metric in REGRESSION_METRICS or metric in multilabel.TAG_METRICS:
        tags = ", or name its column of tags with --tags COLUMN" if metric in multilabel.TAG_METRICS else ""
        raise ContractError(
            f"--metric {metric} scores values or tags, which `new` reads from the training CSV's column named as the "
            f"sample submission's after its id ({column}); {train_f}'s are {listed(tr.columns, 5)}: {fix}{tags}."
        )
    if answer(tr.rename(columns={label: column}), sub) != "values":
        return []
    return [
        f"warning: {train_f}'s {label} holds values, read here as classes: `new` reads values from a column named as "
        f"the sample submission's ({column}); to learn values, {fix}"
    ]


def _held(kind: str | None, columns: list[str], where: str) -> str:
    """What a training CSV holds, for a refusal."""
    scored = {
        "values": f"values (scored by {listed(REGRESSION_METRICS, 4)} ...)",
        "label_columns": f"0/1 labels (scored by {' or '.join(LABEL_METRICS)})",
        "tags": f"space-separated tags (scored by {', '.join(multilabel.TAG_METRICS)})",
    }
    return f"{where}'s {listed(columns, 5)} hold{'s' * (len(columns) == 1)} {scored.get(kind or '', 'classes')}"


def _kind(natural: str | None, metric: str | None, tr: pd.DataFrame, columns: list[str], where: str) -> str | None:
    """The answer --metric asks for (`natural`: the one the values say); None: classes, infer.py's reading."""
    if metric is None:
        return natural
    if metric in multilabel.TAG_METRICS:
        if len(columns) == 1 and natural in ("tags", None) and not mostly_numbers(tr[columns[0]]):
            return "tags"
        held = _held(natural, columns, where)
        raise ContractError(f"--metric {metric}: a tag metric scores one column of space-separated tags; {held}.")
    if metric in REGRESSION_METRICS:
        if natural == "tags":
            raise ContractError(f"--metric {metric} scores values; {_held(natural, columns, where)}.")
        return "values" if all(mostly_numbers(tr[c]) for c in columns) else None
    if len(columns) > 1:
        if metric in LABEL_METRICS:
            return "label_columns"
        raise ContractError(f"--metric {metric}: several columns a row; {_held(natural, columns, where)}.")
    if natural is not None and tr.shape[1] > 2:
        raise ContractError(
            f"--metric {metric} scores classes, which `new` reads from a CSV of two columns (the image and its "
            f"label); {_held(natural, columns, where)}, beside {tr.shape[1] - 2} other columns."
        )
    return None  # one column and a class metric: its values as classes (tags: one class per combination)


def find_targets(
    source: Source,
    images: ImageNames,
    sample: str,
    sub: pd.DataFrame,
    metric: str | None,
    given: str | None,
    tags: str | None = None,
) -> Targets | None:
    """The training CSV and its values, labels or tags, checked as the generated load checks them; None for a
    download of classes (the module docstring). `images`: the download's image files; `given`: --train; `tags`:
    --tags, the training CSV's column of tags where the sample names it otherwise (pipeline/vision/tag_columns.py)."""
    id_col, columns = str(sub.columns[0]), [str(c) for c in sub.columns[1:]]
    held = _holder(source, images, sample, sub, given)
    if held is None:
        return _renamed_tags(source, images, (sample, sub), metric, given, tags)
    name, tr, train_id = held
    if tags not in (None, NO_TAGS, *columns):
        raise ContractError(
            f"--tags {tags}: {name} holds the sample submission's {listed(columns, 5)} by name, which `new` reads; "
            "--tags names a column of tags only where the training CSV lacks the sample's column. Leave it out."
        )
    kind = _kind(answer(tr, sub), metric, tr, columns, name)
    if kind is None:
        return None
    check_unique(tr, train_id, name)
    check_unique(sub, id_col, sample)
    found = Targets(kind, name, train_id, tr, tuple(columns), metric or DEFAULT_METRICS[kind])
    _check(found)
    found.notes = _notes(found, given_metric=metric is not None)
    return found


def _renamed_tags(
    source: Source,
    images: ImageNames,
    sample: tuple[str, pd.DataFrame],
    metric: str | None,
    given: str | None,
    tags: str | None,
) -> Targets | None:
    """The tags of a training CSV that names their column otherwise than the sample's one column after its id (Human
    Protein Atlas' Target beside Predicted: tag_columns.renamed_tags), learnt from it and written under the sample's;
    None where there is none, or a class metric reads each combination as one class."""
    sample_f, sub = sample
    names = [given] if given else [n for n in source.csvs() if n != sample_f]
    found = renamed_tags(source, images, sub, [n for n in names if n in source.names], tags)
    if found is None:
        return None
    name, tr, train_id, column = found
    if _kind("tags", metric, tr, [column], name) is None:
        return None
    check_unique(tr, train_id, name)
    check_unique(sub, str(sub.columns[0]), sample_f)
    targets = Targets("tags", name, train_id, tr, (str(sub.columns[1]),), metric or DEFAULT_METRICS["tags"])
    targets.train_column = column
    _check(targets)
    rename = (
        f"columns: {name}'s {column} holds the tags, learnt from it and written under {sample_f}'s {sub.columns[1]} "
        f"(FILES' train_tags_column); --tags COLUMN names another column of {name}, --tags {NO_TAGS} reads each "
        "combination of tags as one class"
    )
    targets.notes = [rename, *_notes(targets, given_metric=metric is not None)]
    return targets


def _check(found: Targets) -> None:
    """The training CSV's targets as the generated load reads them (csv_targets.column_numbers, check_labelled),
    refused naming the line, and what settles it otherwise; a label column of one value cannot be scored by AUC."""
    tr, where = found.frame, found.train_csv
    if found.kind == "tags":
        check_labelled(tr, where, found.id_column, found.tag_column)
        found.tags = multilabel.tags_in(tr[found.tag_column])
        return
    labels = found.kind == "label_columns"
    hint = ", or --metric rmse reads these columns as values" if labels else ""
    hint = ", or --metric accuracy reads it as classes" if not labels and tr.shape[1] == 2 else hint
    for column in found.columns:
        try:
            values = column_numbers(tr, column, where, labels)
        except ContractError as e:
            raise ContractError(f"{str(e).removesuffix('.')}; fix that line{hint}.") from None
        if labels and found.metric == "roc_auc" and len(np.unique(values)) < 2:
            raise ContractError(
                f"{where}: {column} is {values[0]:g} on every line; roc_auc cannot score a label that never changes "
                f"(--metric log_loss can)."
            )


def _notes(found: Targets, given_metric: bool) -> list[str]:
    """What `new` prints of the targets: their spread, the metric and how to change it, the columns left aside."""
    tr, where, columns = found.frame, found.train_csv, list(found.columns)
    notes, change = {"values": _value_notes, "label_columns": _label_notes, "tags": _tag_notes}[found.kind](found)
    default = "" if given_metric else f" (default for {found.kind.replace('_', ' ')})"
    notes.append(f"metric: {found.metric}{default}; change with --metric: {change}")
    tagged = (found.tag_column,) if found.kind == "tags" else ()
    return notes + unused_columns(tr, where, (found.id_column, *columns, *tagged))


def unused_columns(tr: pd.DataFrame, where: str, used: tuple[str, ...]) -> list[str]:
    """The note naming the training CSV's columns besides the images and their answers (`used`), which the image
    networks do not read (photo metadata); none when there are none."""
    others = [str(c) for c in tr.columns if c not in used]
    if not others:
        return []
    return [f"columns: {where}'s other {len(others)} ({listed(others, 5)}) are not used by the image networks"]


def _value_notes(found: Targets) -> tuple[list[str], str]:
    """The values' ranges and the loss; the metrics that score values."""
    shown = [
        f"{c} {v.min():g} to {v.max():g} (mean {v.mean():.4g})" for c in found.columns[:3] if (v := _num(found, c)).size
    ]
    more = " ..." if len(found.columns) > 3 else ""
    notes = [
        f"values: {found.train_csv}'s {'; '.join(shown)}{more}",
        'loss: squared error (Config.loss "mse"); --set loss=bce learns values scaled to the training range, which '
        "suits bounded scores",
    ]
    return notes, f"any regression metric of pipeline.tabular.metrics ({', '.join(REGRESSION_METRICS)})"


def _label_notes(found: Targets) -> tuple[list[str], str]:
    """The labels' rarest and commonest; the other label metric."""
    share = {c: float(_num(found, c).mean()) for c in found.columns}
    low, high = min(share, key=share.__getitem__), max(share, key=share.__getitem__)
    note = (
        f"labels: {listed(found.columns, 6)} of {found.train_csv}, each 0 or 1: from {share[low]:.0%} of the images "
        f"({low}) to {share[high]:.0%} ({high})"
    )
    other = "log_loss" if found.metric == "roc_auc" else "roc_auc"
    return [note], f"{other}, also each column's, averaged"


def _tag_notes(found: Targets) -> tuple[list[str], str]:
    """The tags' rarest and commonest, and their cut; the other tag metrics."""
    cells = found.frame[found.tag_column]
    counts = pd.Series([t for cell in cells for t in cell.split()]).value_counts()
    notes = [
        f"tags: {len(counts)} in {found.train_csv}'s {found.tag_column}, {counts.sum() / len(cells):.1f} an image, "
        f"from {counts.iloc[0]} images ({counts.index[0]}) to {counts.iloc[-1]} ({counts.index[-1]})",
        "threshold: one cut of every tag's probability, fitted out of fold (Config.threshold; --set "
        "threshold=per_tag: a cut per tag, kept when it beats the one cut out of fold)",
    ]
    change = (
        f"f2_samples is Planet's, f1_macro Human Protein Atlas' (any of {', '.join(multilabel.TAG_METRICS)}); "
        "--metric accuracy reads each combination of tags as one class"
    )
    return notes, change


def _num(found: Targets, column: str) -> np.ndarray:
    """A checked column's numbers."""
    return _as_numbers(found.frame[column]).to_numpy(dtype=float)
