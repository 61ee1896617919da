"""How `new` finds a submission asked through a lookup table (Facial Keypoints Detection's layout, pipeline/tabular/
lookup.py): the sample is `RowId,Location`, its ids in no column of test.csv, and another CSV of the download
(IdLookupTable.csv) holds those ids beside a column of test.csv's ids (ImageId) and a column naming, on each row, one
of train's columns (FeatureName). The targets are then train's columns of numbers that test.csv lacks; the task a
regression of every target at once, scored by the RMSE over the values asked (present_rmse)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.keypoints import find_keypoints
from pipeline.listing import listed
from pipeline.tabular.infer_files import Source, Tables
from pipeline.tabular.lookup import Lookup
from pipeline.tabular.pixels import Pixels, find_pixels


@dataclass(frozen=True)
class Found:
    """What the lookup layout settles: LOOKUP, the id of test.csv and the targets, in train's order."""

    lookup: Lookup
    id_col: str
    targets: list[str]


def find_lookup(source: Source, t: Tables, notes: list[str]) -> Found | None:
    """The lookup layout, when the sample's two columns are in neither table and a CSV beside them holds the sample's
    id column; None otherwise (the download is read as any table). A lookup CSV whose other columns are not understood
    is refused naming the file and what it lacks."""
    row_id, value = (str(c) for c in t.sub.columns[:2])
    if t.sub.shape[1] != 2 or row_id in t.te or value in t.tr:
        return None
    others = [n for n in source.csvs() if n not in (t.train, t.test, t.sample) and row_id in source.header(n)]
    if not others:
        return None
    if len(others) > 1:
        raise ContractError(f"{listed(others)} all hold the sample's {row_id}: which says what each row asks?")
    name = others[0]
    table = source.read(name, text=[row_id])
    id_col = _test_id_column(table, t, name, row_id)
    image = find_pixels(t.tr, [c for c in t.tr.columns if c in t.te])  # the image each row holds, if any
    target_col, targets = _target_column(table, t, name, [row_id, id_col], image)
    lookup = Lookup(PurePosixPath(name).as_posix(), row_id, id_col, target_col, _clip(image, targets))
    notes.append(
        f"submission: each {row_id} of {t.sample} asks, through {name} ({id_col}, {target_col}), one of {len(targets)} "
        f"values of one test row; the models predict every value of every test row, write_submission picks those "
        f"asked ({len(table)} rows){_clip_note(lookup)}"
    )
    notes.append(
        f"targets: {listed(targets, 4)} ({t.train}'s columns of numbers that {t.test} lacks); a training row with "
        f"some of them missing is kept, each value learnt from the rows that have it; metric: the RMSE over the values "
        "present, as Kaggle scores the rows asked"
    )
    return Found(lookup, id_col, targets)


def _test_id_column(table: pd.DataFrame, t: Tables, name: str, row_id: str) -> str:
    """The lookup's column of test.csv's ids: a column of test.csv's name whose values are all its ids."""
    for c in table.columns:
        if c != row_id and c in t.te:
            ids = set(t.te[c].astype(str).str.strip())
            if table[c].dropna().astype(str).str.strip().isin(ids).all():
                return str(c)
    raise ContractError(
        f"{name}: holds the sample's {row_id}, but no column of {t.test}'s ids (its columns: {listed(table.columns)}; "
        f"{t.test}'s: {listed(t.te.columns)}): which test row does each {row_id} ask about?"
    )


def _target_column(
    table: pd.DataFrame, t: Tables, name: str, taken: list[str], image: Pixels | None
) -> tuple[str, list[str]]:
    """The lookup's column naming a target on each row, and the targets: train's columns of numbers that test.csv
    lacks (not those of `image`). A name that is none of them is refused naming the file, the column and the line."""
    skip = set(image.columns()) if image is not None else set()
    targets = [
        str(c)
        for c in t.tr.columns
        if c not in t.te and c not in skip and pd.api.types.is_numeric_dtype(t.tr[c]) and t.tr[c].notna().any()
    ]
    for c in table.columns:
        if c in taken or pd.api.types.is_numeric_dtype(table[c]):
            continue
        names = table[c].dropna().astype(str).str.strip()
        if names.isin(t.tr.columns.astype(str)).any():
            if bad := [(i, v) for i, v in names.items() if v not in targets][:1]:
                line, v = bad[0]
                raise ContractError(
                    f"{name}: column {c}, line {line + 2}: {v!r} is not one of {t.train}'s columns of numbers that "
                    f"{t.test} lacks ({listed(targets, 6)}), which the models predict."
                )
            return str(c), targets
    raise ContractError(
        f"{name}: holds the sample's {taken[0]} and {t.test}'s {taken[1]}, but no column naming {t.train}'s columns "
        f"(its columns: {listed(table.columns)}): which value of the test row does each row ask?"
    )


def _clip(image: Pixels | None, targets: list[str]) -> tuple[float, float] | None:
    """The range of every value where each row holds `image` whose keypoints the targets are (each half of a
    `<stem>_x` / `<stem>_y` pair, pipeline/keypoints.py): 0 to the image's side; else None."""
    if image is None or find_keypoints(targets) is None:
        return None
    return 0.0, float(max(image.height, image.width))


def _clip_note(lookup: Lookup) -> str:
    """The note's words on the clip: each value cut to the image, a keypoint the cnn's augmentation moves."""
    if lookup.clip is None:
        return ""
    return (
        f", each cut to the image, {lookup.clip[0]:g} to {lookup.clip[1]:g} (LOOKUP's clip); the values are keypoints "
        "(x / y pairs), which the cnn's augmentation moves with the face (cnn_keypoints)"
    )
