"""Which column of an image download's training CSV holds space-separated tags, for `python -m pipeline new`
(pipeline/vision/infer_targets.py): the sample's own column by name, or, where the sample's one column after its id
is not in the training CSV, the one column of tags named otherwise (Human Protein Atlas' train.csv Id,Target beside
its sample's Id,Predicted: the tags are learnt from Target and written under Predicted, CsvImageTargets'
train_tags_column). `new --tags COLUMN` names that column; `--tags none` reads each combination as one class. Several
such columns, or several CSVs holding one, are refused naming the flag that settles it."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import NamedTuple

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.infer_files import Source, unclear
from pipeline.vision.image_ids import ImageNames, image_column

NO_TAGS = "none"  # --tags none: a column of tags named otherwise is read as classes, each combination one


class TagColumn(NamedTuple):
    """A training CSV, read, its id column and its column of tags (named otherwise than the sample's)."""

    train_csv: str
    frame: pd.DataFrame
    id_column: str
    column: str


def holds_tags(cells: pd.Series) -> bool:
    """Cells of space-separated tags: some cell holds another cell's tags and more (its tags less one, or one of them
    alone, are another cell: "clear primary water" and "clear primary"), which class names rarely do."""
    cells_seen = {frozenset(cell.split()) for cell in cells.unique()}
    return any(
        len(tags) > 1 and any(tags - {t} in cells_seen or frozenset((t,)) in cells_seen for t in tags)
        for tags in cells_seen
    )


def tag_vocabulary(cells: pd.Series) -> bool:
    """Cells whose tags look like a vocabulary of tags (holds_tags) used over and over: fewer distinct tags than
    cells, which words of free text or one id a row are not."""
    tags = {t for cell in cells for t in str(cell).split()}
    return holds_tags(cells.astype(str)) and 0 < len(tags) < len(cells)


def tag_columns(frame: pd.DataFrame, id_column: str) -> list[str]:
    """The columns of a training CSV, its id column aside, that hold space-separated tags (tag_vocabulary)."""
    return [str(c) for c in frame.columns if c != id_column and tag_vocabulary(frame[c])]


def renamed_tags(
    source: Source, images: ImageNames, sub: pd.DataFrame, names: list[str], given: str | None
) -> TagColumn | None:
    """The one CSV among `names` with a column naming images (the sample `sub`'s id column first) and one column of
    tags, named otherwise than the sample's one column after its id, which it lacks; `given`: --tags, that column
    (NO_TAGS: none). None where there is none. Several CSVs are refused naming --train, several columns --tags."""
    if sub.shape[1] != 2 or given == NO_TAGS:
        return None
    id_col, column = str(sub.columns[0]), str(sub.columns[1])
    found: dict[str, TagColumn] = {}
    many: dict[str, list[str]] = {}
    for name in names:
        frame = source.read(name, written=True)
        if column in frame.columns or (train_id := image_column(frame, images, id_col, channels=True)) is None:
            continue
        held = [given] if given in frame.columns and given != train_id else tag_columns(frame, train_id)
        held = [c for c in held if given in (None, c)]
        if held:
            found[name], many[name] = TagColumn(name, frame, train_id, held[0]), held
    named = [n for n in found if "train" in PurePosixPath(n).name.lower()]
    if len(found) > 1 and len(named) != 1:
        shown = ", ".join(f"{n} ({found[n].column})" for n in found)
        raise unclear(
            f"{source.path}: several CSVs hold a column of space-separated tags beside an image column ({shown}), "
            f"and none the sample submission's {column}; which lists the training images?",
            "--train FILE",
        )
    if not found:
        return _none_given(source, given, names, column)
    picked = found[(named or list(found))[0]]
    if len(many[picked.train_csv]) > 1:
        raise ContractError(
            f"{picked.train_csv}: several columns hold space-separated tags ({listed(many[picked.train_csv], 5)}), "
            f"none named as the sample submission's {column}; which are the tags to learn? Name it with --tags "
            f"COLUMN (--tags {NO_TAGS}: each combination read as one class)."
        )
    return picked


def _none_given(source: Source, given: str | None, names: list[str], column: str) -> None:
    """No CSV holds tags under another name: None, or the refusal of a --tags naming no column of tags."""
    if given is None:
        return None
    shown = ", ".join(f"{n}: {listed(source.header(n), 6)}" for n in names)
    raise ContractError(
        f"--tags {given}: no CSV of the download holds a column {given} of space-separated tags beside a column naming "
        f"the images ({shown}); --tags names the training CSV's tags where the sample submission names them "
        f"otherwise ({column})."
    )
