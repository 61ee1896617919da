"""Groups of training images for `python -m pipeline new` (pipeline/vision/infer.py): a column of the training CSV
whose value several images share, such as SIIM-ISIC Melanoma's patient_id (a patient's moles photographed several
times). Folds drawn image by image would validate on photos of a mole the fold's models trained on, so the generated
competition keeps each group's images in one fold (CsvImages.group_column, FOLDS "stratified_group" or "group"; for
values, label columns or tags, CsvImageTargets.group_column, FOLDS "group").

A column groups images when its cells are text ids, not numbers (age_approx) and not a few levels (sex, anatom_site:
more than MAX_CLASS_LEVELS distinct values), fewer distinct values than rows (pipeline.tabular.groups.MAX_GROUPS of
them at most), and at least SHARED of the rows share their value with another row. --groups COL names the column,
--groups none leaves groups out.
"""

from __future__ import annotations

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.groups import MAX_GROUPS
from pipeline.tabular.infer_task import MAX_CLASS_LEVELS
from pipeline.vision.infer_targets import mostly_numbers

SHARED = 0.5  # the share of rows at least whose group holds another row too
NO_GROUPS = "none"


def groups_images(cells: pd.Series) -> bool:
    """Whether a column's cells name groups of images (the module docstring): text ids, many of them, each value
    of at least half of the rows on two rows or more."""
    filled = cells[cells.str.strip() != ""]
    if filled.empty or mostly_numbers(filled):
        return False
    counts = filled.value_counts()
    shared = counts[counts > 1].sum()
    return len(counts) > MAX_CLASS_LEVELS and len(counts) <= MAX_GROUPS * len(cells) and shared >= SHARED * len(cells)


def group_column(
    tr: pd.DataFrame, where: str, used: tuple[str, ...], given: str | None, answers: str = "labels"
) -> str | None:
    """The column of the training CSV `tr` (named `where`) that groups its images: --groups `given` (a column, or
    "none": no groups), else the first column other than the id and the answers (`used`; `answers` says what they
    are: labels, values or tags) that groups_images."""
    if given is not None and given.lower() == NO_GROUPS:
        return None
    others = [str(c) for c in tr.columns if c not in used]
    if given is not None:
        if given not in others:
            raise ContractError(
                f"--groups {given}: not a column of {where} beside its images and {answers}; its others: "
                f"{listed(others, 8) or 'none'} (or --groups none)."
            )
        return given
    return next((c for c in others if groups_images(tr[c])), None)


def group_notes(tr: pd.DataFrame, column: str, kind: str) -> list[str]:
    """What `new` prints of the groups: how many, their sizes, the folds that keep them, and how to turn them off."""
    counts = tr[column].value_counts()
    alone = "stratified" if kind == "stratified_group" else "kfold"
    sizes = f"{counts.max()} images each" if counts.min() == counts.max() else f"{counts.min()} to {counts.max()}"
    return [
        f"folds: {kind}, each {column}'s images in one fold ({len(counts)} {column}s of {sizes}; "
        f"split, a fold would validate on what its models trained on); --groups none (or group_column=None and "
        f'FOLDS = "{alone}") draws the images one by one'
    ]


def grouped_kind(kind: str) -> str:
    """The fold kind that keeps groups whole: stratified_group for stratified folds, else group."""
    return "stratified_group" if kind == "stratified" else "group"
