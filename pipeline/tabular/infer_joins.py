"""What `new` infers of a download's auxiliary tables: which CSVs beside train, test and the sample join their rows,
and by which key columns (JOINS of the generated file; pipeline/tabular/joins.py joins them as tables are loaded).

A table joins by a key: columns named as columns of both train and test (the same name, else the same but for case),
holding one row per key (so a join never adds rows), whose values (as written, stripped: 1 and "1" meet; dates as
written, never a format guessed) hold the keys of more than half of train's rows and of test's. One column is
tried before two; among keys of one size, the one matching most rows. A table without such a key, or over MAX_BYTES,
is left out with a note saying why. `--join none` leaves them all out; `--join stores.csv:store_nbr,oil.csv:date`
names the joins (A+B for a key of two columns), each checked: the file, its key columns in the table and in train
and test, one row per key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.infer_files import Source, Tables
from pipeline.tabular.joins import Join, Key, added_names, key_pairs, key_text, repeated_key

MAX_BYTES = 200 * 1024**2  # a larger auxiliary table is not read to look for its key (--join names it)
MIN_SHARE = 0.5  # a key joins when it holds more than this share of train's rows and of test's
MAX_KEY = 2  # columns in a key at most
HINT = "--join none leaves the tables out, --join FILE:KEY,... (A+B: a key of two columns) names them"


@dataclass(frozen=True)
class Match:
    """A key of one table: its columns, and the shares of train's and test's rows whose key the table holds."""

    keys: tuple[Key, ...]
    train: float
    test: float


def infer_joins(source: Source, t: Tables, given: str | None, notes: list[str]) -> list[Join] | None:
    """JOINS (see the module docstring), noting each join and each table left out; None when the download holds no
    CSV beside its three tables (the generated file then says nothing of joins, as before)."""
    others = [n for n in source.csvs() if n not in (t.train, t.test, t.sample)]
    if given is not None and given.strip().lower() == "none":
        if others:
            notes.append(f"join: none (--join none): {listed(others)} left out")
        return [] if others else None
    if given:
        return _named(source, t, given, others, notes)
    if not others:
        return None
    joins: list[Join] = []
    taken = {str(c) for c in [*t.tr.columns, *t.te.columns]}
    for name in others:
        if (size := source.size(name)) > MAX_BYTES:
            notes.append(
                f"join: {name} left out: {size / 1024**2:.0f} MB, over the {MAX_BYTES / 1024**2:g} MB `new` reads "
                f"to find a key; --join {name}:KEY joins it"
            )
            continue
        match, why = _find(source, t, name)
        if match is None:
            notes.append(f"join: {name} left out: {why}")
            continue
        notes.append(_joined_note(source, t, name, match, taken))
        joins.append((name, match.keys))
    notes.append(f"join: {HINT}" if joins else f"join: no table joined; --join FILE:KEY joins one ({HINT})")
    return joins


def _joined_note(source: Source, t: Tables, name: str, match: Match, taken: set[str]) -> str:
    """The note on one join: its key, the columns it adds (those prefixed, and why) and the rows it matches; the
    added names join `taken`."""
    names = added_names(name, source.header(name), match.keys, taken)
    taken |= set(names.values())
    shown = [c if c == n else f"{c} as {n}" for c, n in names.items()]
    keys = "+".join(f"{s}" if s == a else f"{s} ({a} in {name})" for s, a in key_pairs(match.keys))
    return (
        f"join: {name} by {keys} adds {listed(shown, 8)} (one row per key; {match.train:.0%} of {t.train}'s rows and "
        f"{match.test:.0%} of {t.test}'s have a key it holds)"
    )


def _candidates(columns: Sequence[str], t: Tables) -> list[tuple[str, str]]:
    """The table's columns that name a column of both train and test: (train's name, the table's), by the same name,
    else the same but for case."""
    shared = _shared(t)
    return [(ours, c) for c in columns if (ours := _same_name(c, shared)) is not None]


def _shared(t: Tables) -> list[str]:
    """The columns of both train and test."""
    return [str(c) for c in t.tr.columns if c in t.te.columns]


def _same_name(column: str, names: Sequence[str]) -> str | None:
    """The name of `names` that is `column`, else the first that is it but for case; None when none is."""
    if column in names:
        return column
    return next((n for n in names if n.lower() == column.lower()), None)


def _find(source: Source, t: Tables, name: str) -> tuple[Match | None, str]:
    """The smallest key joining the table `name` (the one matching most rows among those of its size), or None and
    why none does."""
    header = source.header(name)
    pairs = _candidates(header, t)
    if not pairs:
        return None, f"none of its columns ({listed(header, 6)}) is a column of both {t.train} and {t.test}"
    table = source.read(name, written=True)
    sides = _sides(source, t, sorted({s for s, _ in pairs}))
    whys: list[str] = []
    for size in range(1, MAX_KEY + 1):
        found = []
        for combo in combinations(pairs, size):
            match, why = _tried(table, sides, combo, name, t)
            if match is not None:
                found.append(match)
            elif why:
                whys.append(why)
        if found:
            return max(found, key=lambda m: min(m.train, m.test)), ""
    return None, listed(whys, 4, sep="; ")


def _tried(
    table: pd.DataFrame, sides: list[pd.DataFrame], combo: Sequence[tuple[str, str]], name: str, t: Tables
) -> tuple[Match | None, str]:
    """One key (`combo`) of the table: a Match, or why it is none ("" for a key of two columns one of which already
    names each row: a smaller key says more)."""
    own = [a for _, a in combo]
    keys = key_text(table, own)
    label = "+".join(s for s, _ in combo)
    if (twice := repeated_key(keys)) is not None:
        if len(combo) > 1 and any(not keys[[a]].duplicated().any() for a in own):
            return None, ""
        key, line, again = twice
        return None, f"several rows per {label} ({key!r} on lines {line} and {again})"
    match = _match(combo, keys, sides)
    if match.train > MIN_SHARE and match.test > MIN_SHARE:
        return match, ""
    why = f"its {label} holds the keys of {match.train:.0%} of {t.train}'s rows and {match.test:.0%} of {t.test}'s"
    return None, why + _date_forms(table, sides, combo, name, t)


def _match(combo: Sequence[tuple[str, str]], keys: pd.DataFrame, sides: list[pd.DataFrame]) -> Match:
    """The key `combo` ((train's name, the table's) per column) with the shares of train's and test's rows (`sides`:
    their key columns as written, _sides) whose key the table's `keys` (key_text) hold."""
    held = set(_joined_text(keys))
    train, test = (float(_joined_text(side[[s for s, _ in combo]]).isin(held).mean()) for side in sides)
    return Match(tuple(s if s == a else (s, a) for s, a in combo), train, test)


def _sides(source: Source, t: Tables, columns: list[str]) -> list[pd.DataFrame]:
    """Train's and test's `columns` as written and stripped (key_text), as a table's keys are compared."""
    return [key_text(source.as_written(f, columns), columns) for f in (t.train, t.test)]


def _joined_text(keys: pd.DataFrame) -> pd.Series:
    """Each row's key as one string (its columns' text joined by a character no CSV cell holds)."""
    return keys.astype(str).agg("\x1f".join, axis=1) if keys.shape[1] > 1 else keys.iloc[:, 0].astype(str)


def _date_forms(
    table: pd.DataFrame, sides: list[pd.DataFrame], combo: Sequence[tuple[str, str]], name: str, t: Tables
) -> str:
    """Where a key column's values are written in another form in the table than in train (2015-07-31 against
    31/07/2015: digits alike), the two forms; no format is guessed. "" when they are written alike."""
    for s, a in combo:
        ours = sides[0][s][sides[0][s] != ""]
        theirs = table[a].dropna().astype(str).str.strip()
        theirs = theirs[theirs != ""]
        if len(ours) and len(theirs) and _form(ours.iloc[0]) != _form(theirs.iloc[0]):
            return (
                f" ({s} written as {theirs.iloc[0]!r} in {PurePosixPath(name).name}, as {ours.iloc[0]!r} in "
                f"{t.train}: written otherwise, no format is guessed)"
            )
    return ""


def _form(value: str) -> str:
    """A value's form: its digits as 9 (2015-07-31: 9999-99-99)."""
    return re.sub(r"\d", "9", value)


def _named(source: Source, t: Tables, given: str, others: list[str], notes: list[str]) -> list[Join]:
    """--join FILE:KEY[+KEY],...: each join checked (the file among the download's other CSVs, each key column in
    the table and in both train and test, one row per key), noted as inferred joins are."""
    joins: list[Join] = []
    taken = {str(c) for c in [*t.tr.columns, *t.te.columns]}
    for item in [i.strip() for i in given.split(",") if i.strip()]:
        file, _, key = item.partition(":")
        if not key.strip():
            raise ContractError(f"--join {item}: name a table and its key column, FILE:COLUMN (A+B for two columns).")
        file = _named_file(source, file.strip(), others, item)
        header = source.header(file)
        combo = [_named_column(header, c.strip(), file, t, item) for c in key.split("+") if c.strip()]
        table = source.read(file, written=True)
        keys = key_text(table, [a for _, a in combo])
        if (twice := repeated_key(keys)) is not None:
            value, line, again = twice
            raise ContractError(
                f"--join {item}: {'+'.join(a for _, a in combo)} is not unique in {file}: {value!r} is on line {line} "
                f"and again on line {again}; a joined table needs one row per key."
            )
        match = _match(combo, keys, _sides(source, t, [s for s, _ in combo]))
        notes.append(_joined_note(source, t, file, match, taken))
        joins.append((file, match.keys))
    if left := [n for n in others if n not in {f for f, _ in joins}]:
        notes.append(f"join: {listed(left)} left out (not named by --join)")
    return joins


def _named_file(source: Source, file: str, others: list[str], item: str) -> str:
    """The download's CSV --join names: by its name in the download, or by its file name alone."""
    if file in others:
        return file
    same = [n for n in others if PurePosixPath(n).name == file]
    if len(same) == 1:
        return same[0]
    why = f"its other tables: {listed(others)}" if others else "it holds no CSV beside its train, test and sample"
    raise ContractError(f"--join {item}: no such table in {source.path}; {why}.")


def _named_column(header: list[str], column: str, file: str, t: Tables, item: str) -> tuple[str, str]:
    """A key column --join names: (train's and test's name, the table's), each by that name, else but for case."""
    own = _same_name(column, header)
    if own is None:
        raise ContractError(f"--join {item}: {file} has no column {column!r}; its columns: {listed(header)}.")
    ours = _same_name(column, _shared(t))
    if ours is None:
        raise ContractError(
            f"--join {item}: {column!r} is not a column of both {t.train} and {t.test}, so no row has a key to join "
            f"{file} by."
        )
    return ours, own
