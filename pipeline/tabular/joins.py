"""Auxiliary tables joined to a competition's train and test tables (JOINS of a generated competition).

Many downloads hold, beside train.csv and test.csv, tables of features keyed by one of their columns: Rossmann's
store.csv by Store, Store Sales' stores.csv by store_nbr and oil.csv by date. Each join is many-to-one: the table
holds one row per key, so a train or test row gets that row's other columns and the tables keep their rows and their
order. Keys are compared as written, stripped (1 and " 1" match; 2015-07-31 and 31/07/2015 do not), so numbers read
differently by pandas on either side still meet. A row whose key the table lacks gets missing values (counted in a
warning). A table column named as a column of train or test, or one an earlier join added, takes the table's stem as
a prefix (features.csv's IsHoliday: features_IsHoliday). The joined columns are then features like any other: the
recipe types them (numbers, categories, dates) inside each fold.

A JOINS entry is (file, keys): the file inside the download and the key columns, each a column name of train, test
and the table alike, or a pair (train's and test's name, the table's name) where the table spells it otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.headers import raw_header
from pipeline.tabular.values import AS_WRITTEN, read_csv

Key = str | tuple[str, str]  # a key column: one name, or (train's and test's name, the table's)
Join = tuple[str, tuple[Key, ...]]  # a JOINS entry: the table's file and its key columns


def key_pairs(keys: Sequence[Key]) -> list[tuple[str, str]]:
    """Each key column as (train's and test's name, the table's name)."""
    return [(k, k) if isinstance(k, str) else (str(k[0]), str(k[1])) for k in keys]


def stem(file: str) -> str:
    """A table's name less its folder and its endings (stores.csv.gz: stores), the prefix of its clashing columns."""
    return PurePosixPath(file).name.split(".")[0]


def added_names(file: str, columns: Sequence[str], keys: Sequence[Key], taken: set[str]) -> dict[str, str]:
    """The table's columns a join adds (all but its key columns), each under its name in the joined tables: as in the
    table, or prefixed with the table's stem where `taken` (train's, test's and earlier joins' columns) holds it."""
    own = {table for _, table in key_pairs(keys)}
    names = {}
    for c in columns:
        if c in own:
            continue
        name = c if c not in taken else f"{stem(file)}_{c}"
        if name in taken or name in names.values():
            raise ContractError(f"{file}: its column {c!r} would be joined as {name!r}, which is taken; rename one.")
        names[c] = name
    return names


def key_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Key columns as written and stripped, an empty cell "" (never equal to a key a table holds)."""
    return (
        frame[list(columns)]
        .astype(object)
        .where(frame[list(columns)].notna(), "")
        .astype(str)
        .apply(lambda s: s.str.strip())
    )


def repeated_key(keys: pd.DataFrame) -> tuple[str, int, int] | None:
    """The first key a table holds on more than one row, with the CSV lines (header line 1) of its first two rows;
    None when each key is on one row."""
    twice = keys.duplicated(keep=False).to_numpy()
    if not twice.any():
        return None
    first = int(twice.argmax())
    same = (keys == keys.iloc[first]).all(axis=1).to_numpy()
    rows = [i for i in range(len(keys)) if same[i]][:2]
    return ", ".join(map(str, keys.iloc[first])), rows[0] + 2, rows[1] + 2


def read_table(path: Path, file: str, keys: Sequence[Key]) -> pd.DataFrame:
    """One auxiliary table, its key columns as written and stripped (key_text); refused naming the file when it is
    missing, lacks a key column or holds a key on more than one row (naming the key and its lines)."""
    if not path.is_file():
        raise ContractError(
            f"{path}: no such file; JOINS joins {file} to the test and training tables: put the download's {file} "
            "beside them, or take it out of JOINS."
        )
    header = raw_header(path)
    tables = [table for _, table in key_pairs(keys)]
    if absent := [c for c in tables if c not in header]:
        raise ContractError(f"{path}: no key column {absent[0]!r} (JOINS); columns: {listed(header)}.")
    frame = read_csv(path, text=tables)
    frame[tables] = key_text(frame, tables)
    if (twice := repeated_key(frame[tables])) is not None:
        key, line, again = twice
        raise ContractError(
            f"{path}: key {', '.join(tables)} = {key} is on line {line} and again on line {again}; a joined table "
            "needs one row per key (JOINS)."
        )
    return frame


def apply_joins(
    data_dir: Path,
    frames: Sequence[tuple[pd.DataFrame, str]],
    joins: Sequence[Join],
    warnings: list[str],
    named: dict[str, dict[str, str]] | None = None,
) -> tuple[list[pd.DataFrame], dict[str, dict[str, str]]]:
    """The tables (each a frame and its file in `data_dir`: train and test, or test alone) with each JOINS table's
    columns added, in their rows and order, and per table the names its columns were added under (added_names;
    `named`: those a run recorded, for a test table read alone, whose own columns are not all of train's); a row
    whose key the table lacks gets missing values, and a warning per table and frame (naming the first such key and
    its line) joins `warnings`."""
    out = [frame for frame, _ in frames]
    taken = {str(c) for frame in out for c in frame.columns}
    names: dict[str, dict[str, str]] = {}
    for file, keys in joins:
        table = read_table(data_dir / file, file, keys)
        if named is not None and file in named:
            names[file] = {c: n for c, n in named[file].items() if c in table}
        else:
            names[file] = added_names(file, [str(c) for c in table.columns], keys, taken)
        taken |= set(names[file].values())
        pairs = key_pairs(keys)
        right = table.rename(columns={t: s for s, t in pairs} | names[file])
        right = right[[s for s, _ in pairs] + list(names[file].values())]
        out = [
            _joined(frame, data_dir, where, file, right, [s for s, _ in pairs], warnings)
            for frame, (_, where) in zip(out, frames, strict=True)
        ]
    return out, names


def _joined(
    frame: pd.DataFrame,
    data_dir: Path,
    where: str,
    file: str,
    right: pd.DataFrame,
    on: list[str],
    warnings: list[str],
) -> pd.DataFrame:
    """One table (`frame`, read from `where`) with `right`'s columns joined by `on`, its keys as its CSV writes them;
    the rows the table lacks are warned of."""
    if absent := [c for c in on if c not in frame]:
        raise ContractError(f"{data_dir / where}: no key column {absent[0]!r} to join {file} by (JOINS).")
    left = key_text(pd.read_csv(data_dir / where, usecols=on, **AS_WRITTEN).loc[frame.index], on)
    merged = left.merge(right, how="left", on=on, validate="many_to_one", indicator=True)
    lacking = (merged.pop("_merge") == "left_only").to_numpy()
    if lacking.any():
        first = int(lacking.argmax())
        key = ", ".join(map(str, left.iloc[first]))
        warnings.append(
            f"{data_dir / where}: {int(lacking.sum())} of its {len(frame)} rows have a key ({', '.join(on)}) that "
            f"{file} lacks (first {key!r} on line {int(frame.index[first]) + 2}): their {file} columns are missing."
        )
    added = merged.drop(columns=on).set_axis(frame.index)
    return pd.concat([frame, added], axis=1)
