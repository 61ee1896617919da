"""Ids that name a group: Spaceship Titanic's PassengerId 0013_02 is passenger 2 of travel group 0013.

The group's size (its rows in train and test together: no label is read) and the member's number become features,
and the group keeps its rows in one fold when the competition split train and test by group, as the test split does.
A column of the training CSV may group its rows too (SIIM-ISIC's patient_id): row_groups reads it, for an image
competition (pipeline.vision.csv_images.CsvImages.group_column) and the table of its photo metadata (GROUPS of a
generated tabular competition) alike, so the two draw the same folds.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

PATTERN = re.compile(r"^(?P<group>.+?)[_\-/.](?P<member>\d{1,4})$")
MIN_GROUPS, MAX_GROUPS = 0.05, 0.9  # share of rows: many groups, and fewer groups than rows (some hold several)
SUFFIXES = ("_group_size", "_member")


def split_ids(ids: pd.Series) -> pd.DataFrame | None:
    """Each id's group and member number, or None when not every id reads as <group><_-/.><number>."""
    parts = ids.astype(str).str.extract(PATTERN)
    if parts["group"].isna().any():
        return None
    return pd.DataFrame({"group": parts["group"], "member": parts["member"].astype(np.int64)}, index=ids.index)


def holds_groups(train_ids: pd.Series, test_ids: pd.Series) -> bool:
    """Whether the ids of train and test together name groups: all read as group and member, and there are many
    groups, some of several rows."""
    parts = split_ids(pd.concat([train_ids, test_ids], ignore_index=True))
    if parts is None or parts.empty:
        return False
    n_groups = parts["group"].nunique()
    return max(2.0, MIN_GROUPS * len(parts)) <= n_groups <= MAX_GROUPS * len(parts)


def split_by_group(train_ids: pd.Series, test_ids: pd.Series) -> bool:
    """Whether no group has rows in both train and test (the competition split its rows by group)."""
    a, b = split_ids(train_ids), split_ids(test_ids)
    return a is not None and b is not None and not set(a["group"]) & set(b["group"])


def group_features(
    train_ids: pd.Series, test_ids: pd.Series, id_col: str
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """<id>_group_size and <id>_member for the train and test rows, and each train row's group (for folds)."""
    a, b = split_ids(train_ids), split_ids(test_ids)
    if a is None or b is None:
        raise ValueError(f"{id_col}: not every id reads as <group>_<number>.")
    size = pd.concat([a["group"], b["group"]]).value_counts()
    size_col, member_col = (id_col + s for s in SUFFIXES)

    def features(parts: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {size_col: parts["group"].map(size).to_numpy(np.int64), member_col: parts["member"].to_numpy()},
            index=parts.index,
        )

    return features(a), features(b), a["group"].to_numpy()


def row_groups(cells: pd.Series) -> np.ndarray:
    """Each training row's group (a patient whose photos must stay in one fold) from its column read as written (every
    cell text, an empty one ""): the cell, an empty cell a group of its row alone."""
    empty = cells.str.strip() == ""
    alone = pd.Series([f"(no {cells.name}) line {i + 2}" for i in range(len(cells))], index=cells.index)
    return cells.where(~empty, alone).to_numpy(dtype=object)
