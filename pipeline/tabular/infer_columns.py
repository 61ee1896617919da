"""The id and the target columns `new` infers: the id (--id, else the sample's first column as test.csv holds it, or
the test rows' numbers when test.csv holds no id), the target(s) (--target, else the sample's value columns in train,
or train's one column that test lacks), checked against the sample and the headers; train's frame reads a text
target's words as values, as pipeline.tabular.load_tables does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.headers import checked
from pipeline.tabular.infer_files import Source, Tables, unclear
from pipeline.tabular.values import id_order, with_words


def id_and_targets(
    source: Source, t: Tables, id_col: str | None, target: str | None, notes: list[str], classes: bool = True
) -> tuple[str, int | None, list[str]]:
    """(id, Spec.id_start, targets): the id column (--id, else inferred; with the number of test.csv's first row when
    the ids are its rows' numbers) and the target(s) (--target, else guessed), checked against the headers, a text
    target's words read as its values in train's frame unless it holds no classes (`classes` False: --task
    regression, or a metric scoring values such as rmse or qwk, whose NA is missing, as pandas reads it), and its
    unlabelled rows noted."""
    id_col, id_start = _id_column(t, id_col, notes)
    targets = _target_columns(t, target, id_col, notes)
    _named_twice(t, targets, id_col, notes)
    if classes:
        _keep_words(source, t, targets, notes)
    _note_unlabelled(t, targets, notes)
    return id_col, id_start, targets


def _id_column(t: Tables, id_col: str | None, notes: list[str]) -> tuple[str, int | None]:
    """The id, and the number of test.csv's first row when the ids are its rows' numbers (Spec.id_start): --id, else
    the sample's first column as test.csv holds it (_sample_id). A column's values are unique and hold the sample's
    ids (_check_ids)."""
    first = str(t.sub.columns[0])
    if id_col is None or (id_col == first and id_col not in t.te):  # --id naming the sample's id: as if not given
        id_col, start = _sample_id(t, first, notes)
        if start is not None:
            return id_col, start
    elif id_col not in t.te:
        raise ContractError(f"--id {id_col}: not a column of {t.test}; columns: {listed(t.te.columns)}.")
    _check_ids(t, id_col, notes)
    return id_col, None


def _sample_id(t: Tables, first: str, notes: list[str]) -> tuple[str, int | None]:
    """The sample's first column as test.csv holds it: a column of that name, the one column of that name but for
    case (sample `id`, test `Id`), or none, when the sample's ids count test.csv's rows in order (Digit Recognizer's
    ImageId 1, 2, ...: test.csv holds pixels only, no column the sample's ids): then the first row's number. Refused
    otherwise."""
    if first in t.te:
        notes.append(f"id: {first} (the first column of {t.sample}, in {t.test}); change with --id COL")
        return first, None
    same = [c for c in t.te.columns if str(c).lower() == first.lower()]
    if len(same) == 1:
        notes.append(
            f"id: {same[0]} of {t.test} ({t.sample}'s first column {first}, but for case); the submission's header "
            f"writes {first}, as the sample does; change with --id COL"
        )
        return same[0], None
    unique = [c for c in t.te.columns if t.te[c].is_unique and t.te[c].notna().all()]
    holders = [c for c in unique if id_order(t.te[c], t.sub[first]) is not None]  # the ids under another name
    start, why = (None, "") if same or holders else _row_numbers(t, first)
    if start is None:
        if same:
            what = f"matches several columns of {t.test} but for case ({listed(same)})"
        elif holders:
            which = f"column {holders[0]} holds" if len(holders) == 1 else f"columns {listed(holders)} hold"
            what = f"is not a column of {t.test}, whose {which} its ids"
        else:
            hint = f" (test columns with unique values: {listed(unique)})" if unique else ""
            what = f"is not a column of {t.test}, and its ids are not the test rows' numbers in order ({why}){hint}"
        raise unclear(f"{t.sample}: its first column {first!r} {what}, so the id is unclear.", "--id COL")
    notes.append(
        f"id: {t.test} has no {first} column, but the {first} of {t.sample}, {start} to {start + len(t.te) - 1}, "
        f"number its {len(t.te)} rows in order: each test row's id is its row number, counting from {start} "
        f"(ROW_ID_START = {start} in the generated file; --id COL reads the ids from a column of {t.test} instead)"
    )
    return first, start


def _row_numbers(t: Tables, first: str) -> tuple[int | None, str]:
    """(s, "") when the sample's ids are consecutive whole numbers s, s + 1, ..., one a test row, in order; else
    (None, why not)."""
    raw = t.sub[first]
    if len(raw) != len(t.te) or not len(raw):
        return None, f"it has {len(raw)} rows, {t.test} {len(t.te)}"
    ids = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(ids[0]) or ids[0] % 1:
        return None, f"its first id {raw.iloc[0]} is no whole number"
    wrong = np.flatnonzero(ids != ids[0] + np.arange(len(ids)))  # a missing or non-number id is wrong too
    if not len(wrong):
        return int(ids[0]), ""
    k = int(wrong[0])
    return None, f"line {k + 2} holds {raw.iloc[k]} where {ids[0] + k:.0f} would follow {raw.iloc[k - 1]}"


def _check_ids(t: Tables, id_col: str, notes: list[str]) -> None:
    """An id column of test.csv: unique values, among them every id of the sample (once each, as written or as the
    same numbers)."""
    if t.te[id_col].duplicated().any():
        raise ContractError(f"{t.test}: id column {id_col!r} has duplicate values; name the real id with --id COL.")
    sample_ids = t.sub.iloc[:, 0].astype(str)
    if (twice := sample_ids.duplicated()).any():
        line = int(twice.to_numpy().argmax()) + 2
        raise ContractError(
            f"{t.sample}: id {sample_ids[twice].iloc[0]!r} appears twice (again on line {line}); a submission has one "
            "row per id: fix the sample submission."
        )
    test_ids = set(t.te[id_col].astype(str))
    absent = sample_ids[~sample_ids.isin(test_ids)]
    if len(absent) and id_order(t.te[id_col], sample_ids) is None:
        raise unclear(
            f"{len(absent)} id(s) of {t.sample} are not in the column {id_col!r} of {t.test} (first: "
            f"{absent.iloc[0]!r}), so no prediction can be written for them; is {id_col} the id?",
            "--id COL",
        )
    if len(absent):
        notes.append(
            f"id: {t.test} and {t.sample} write the same ids differently (first {absent.iloc[0]!r} in the sample); "
            "the submission writes them as the sample does"
        )
    if len(test_ids) > len(set(sample_ids)):
        notes.append(
            f"submission: {len(test_ids) - len(set(sample_ids))} of the {len(t.te)} rows of {t.test} have an id "
            f"that {t.sample} lacks; they are not written"
        )


def _in_test(t: Tables, column: str) -> bool:
    """Whether the test table has the column with a value on some row (an empty one is a placeholder, as some
    downloads leave the target's column in test.csv)."""
    return column in t.te and bool(t.te[column].notna().any())


def _target_columns(t: Tables, target: str | None, id_col: str, notes: list[str]) -> list[str]:
    """The target(s): --target (comma-separated for several), else guessed from the sample and the tables."""
    targets = [c.strip() for c in target.split(",") if c.strip()] if target else _guess_targets(t, id_col, notes)
    value_cols = list(t.sub.columns[1:])
    for c in targets:
        if c not in t.tr:
            raise ContractError(f"--target {c}: not a column of {t.train}; columns: {listed(t.tr.columns)}.")
        if _in_test(t, c) and c not in value_cols:
            raise ContractError(f"target {c!r} is also a column of {t.test}; is it really the target? Check --target.")
        if _in_test(t, c):  # named by --target and by the sample: the target, whatever test.csv holds in it
            notes.append(
                f"target: {c} is also a column of {t.test}, with values on {_filled(t, c)} rows: they are never read "
                "(a target is no feature)"
            )
    if len(targets) > 1 and len(targets) != len(value_cols):
        raise ContractError(
            f"--target {','.join(targets)} names {len(targets)} targets but {t.sample} has {len(value_cols)} value "
            f"column(s) ({listed(value_cols)}); name one target per value column, in the sample's order."
        )
    if len(targets) > 1 and set(targets) != set(value_cols):
        pairs = ", ".join(f"{v} <- {c}" for v, c in zip(value_cols, targets, strict=True))
        notes.append(f"submission: {pairs} (the order of --target)")
    return targets


def _guess_targets(t: Tables, id_col: str, notes: list[str]) -> list[str]:
    value_cols = list(t.sub.columns[1:])
    in_train = [c for c in value_cols if c in t.tr and not _in_test(t, c)]
    only_train = [c for c in t.tr.columns if not _in_test(t, c) and c != id_col]
    if len(value_cols) == 1 and in_train:
        notes.append(f"target: {in_train[0]} (the value column of {t.sample}, in {t.train}); change with --target COL")
        return in_train
    if in_train:  # several value columns, some of them train's: one target per value column
        missing = [c for c in value_cols if c not in in_train]
        if missing:
            raise ContractError(
                f"{t.sample} asks for several targets ({listed(value_cols)}) but {t.train} has no target column "
                f"{listed(missing)} (a column of {t.train} that {t.test} lacks); name the columns of {t.train} to "
                f"predict, one per value column in the sample's order, with --target A,B."
            )
        notes.append(f"targets: {listed(in_train)} (the sample's value columns); change with --target A,B")
        return in_train
    if len(only_train) == 1:
        notes.append(f"target: {only_train[0]} (the only column of {t.train} not in {t.test}); change with --target")
        return only_train
    cands = f"; columns only in {t.train}: {listed(only_train)}" if only_train else ""
    if both := [c for c in value_cols if c in t.tr]:  # in test.csv too, with values: a feature, or the target?
        raise ContractError(
            f"cannot tell the target: {t.sample}'s {listed(both)} is a column of {t.train}, but of {t.test} too, "
            f"with values on {_filled(t, both[0])} rows, so it may be a feature{cands}. If it is the target, name "
            f"it with --target {','.join(both)} ({t.test}'s values are then never read)."
        )
    raise unclear(
        f"cannot tell the target: no column of {t.sample} ({listed(value_cols)}) is in {t.train}{cands}.",
        "--target COL",
    )


def _filled(t: Tables, column: str) -> str:
    """How many test rows hold a value in the column, of how many: `12 of 100`."""
    return f"{int(t.te[column].notna().sum())} of {len(t.te)}"


def _named_twice(t: Tables, targets: list[str], id_col: str, notes: list[str]) -> None:
    """Columns train.csv or test.csv name more than once: refused when one is a target or the id, else a warning
    (headers.checked), as pipeline.tabular.load_tables does."""
    keys = [*(("target", c) for c in targets), ("id", id_col)]
    for name in (t.train, t.test):
        if warning := checked(t.twice.get(name, {}), name, keys):
            notes.append(f"warning: {warning}")


def _keep_words(source: Source, t: Tables, targets: list[str], notes: list[str]) -> None:
    """A text target's words that pandas reads as missing (None, NA ...) are its values, as
    pipeline.tabular.load_tables reads them (values.with_words): put back in train's frame, with a note."""
    t.tr, found = with_words(t.tr, targets, lambda cols: source.as_written(t.train, cols))
    for c, words in found.items():
        shown = ", ".join(f"{w!r} ({n} rows)" for w, n in words.items())
        notes.append(
            f"target: {shown} in {c} of {t.train} read as a value (a class), not as missing, as {c} holds text; "
            "only empty cells are unlabelled"
        )


def _note_unlabelled(t: Tables, targets: list[str], notes: list[str]) -> None:
    """Training rows without a target value are left out (pipeline.tabular.load_tables): say how many."""
    n = int(t.tr[targets].isna().any(axis=1).sum())
    if n:
        notes.append(
            f"unlabelled: {n} of the {len(t.tr)} rows of {t.train} have no {' or '.join(targets)}; they are left out "
            f"of training and CV"
        )
