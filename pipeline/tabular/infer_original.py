"""What `python -m pipeline new --original PATH` finds in the original dataset: its CSV, the columns named otherwise,
the labels written otherwise; refused, naming the flag that settles it, when a target or a label cannot be matched."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from pipeline.contract import ContractError
from pipeline.listing import listed
from pipeline.tabular.headers import raw_header
from pipeline.tabular.infer_files import Source
from pipeline.tabular.original import Original, as_features, match_columns, original_targets, target_columns
from pipeline.tabular.values import AS_WRITTEN, as_names, class_names, read_csv, with_words, word_targets


@dataclass
class Found:
    """The Original to write, where its CSV is read from (a CSV file, or a zip or folder and the name inside), and
    the lines `new` prints about it."""

    original: Original
    path: Path
    member: str | None
    rows: int
    notes: list[str] = field(default_factory=list)


def pairs(text: str | None, flag: str) -> dict[str, str]:
    """ "A=B,C=D" as {A: B, C: D}; a part without "=" is refused naming the flag."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ContractError(f"{flag} {text!r}: each part is ORIGINAL=COMPETITION, got {part.strip()!r}.")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _table(path: Path, file: str | None, targets: Sequence[str]) -> tuple[str | None, pd.DataFrame]:
    """The original's CSV: the file itself, or --original-file inside a zip or folder, else its only CSV, else the
    only one holding every target (by name compared loosely)."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return None, read_csv(path)
    source = Source(path)
    csvs = source.csvs()
    if file:
        if file not in source.names:
            raise ContractError(f"--original-file {file}: no such file in {path}; CSV files: {', '.join(csvs)}.")
        return file, source.read(file)
    if len(csvs) == 1:
        return csvs[0], source.read(csvs[0])
    frames = {n: source.read(n) for n in csvs}  # each read once, whichever is picked
    holding = [n for n, frame in frames.items() if _has(list(frame.columns), targets)]
    if len(holding) == 1:
        return holding[0], frames[holding[0]]
    raise ContractError(
        f"--original {path}: cannot tell which CSV is the original table among {', '.join(csvs) or 'no CSV files'}. "
        "Name it with --original-file FILE."
    )


def _as_written(path: Path, member: str | None) -> Callable[[list[str]], pd.DataFrame]:
    """Reads columns of the original table again with every cell as written (values.with_words): the CSV itself,
    or `member` of a download."""
    if member is None:
        return lambda cols: pd.read_csv(path, usecols=cols, **AS_WRITTEN)
    source = Source(path)
    return lambda cols: source.as_written(member, cols)


def _keep_words(
    frame: pd.DataFrame, theirs: list[str], path: Path, member: str | None, where: str
) -> tuple[pd.DataFrame, list[str]]:
    """The original's frame with the words pandas reads as missing put back in its class targets (`theirs`, its own
    names), as the generated load reads them (original.read_original: a class named None is a class), and the notes
    on them."""
    frame, found = with_words(frame, theirs, _as_written(path, member))
    notes = [
        f"original: {', '.join(f'{w!r} ({n} rows)' for w, n in words.items())} in {c} of {where} read as a value "
        "(a class), not as missing, as the competition's target is"
        for c, words in found.items()
    ]
    return frame, notes


def _header(path: Path, member: str | None) -> list[str]:
    """The original table's header row as written (headers.raw_header): the CSV itself, or `member` of a download."""
    return raw_header(path) if member is None else Source(path).header(member)


def _has(have: list[str], targets: Sequence[str]) -> bool:
    """Whether a CSV's columns hold every target, under its name or the same name compared loosely."""
    return all(t in have or t in match_columns(have, [t]).values() for t in targets)


def _labels(
    frame: pd.DataFrame,
    train: pd.DataFrame,
    targets: Sequence[str],
    given: dict[str, str],
    renames: dict[str, str],
    where: str,
) -> dict[str, str]:
    """Original target value -> competition class for the values written otherwise: --original-labels, then a
    class of the same name but for case ("yes" for "Yes"); any other value is refused, naming it."""
    labels = dict(given)
    for t in targets:
        classes = class_names(train[t])
        by_case = {c.lower(): c for c in classes}
        for v in sorted(set(as_names(frame[t]).dropna()) - set(classes) - set(labels)):
            if v.lower() in by_case:
                labels[v] = by_case[v.lower()]
            else:
                shown = next((o for o, c in renames.items() if c == t), t)
                raise ContractError(
                    f"--original {where}: {shown} holds {v!r}, not one of the competition's classes "
                    f"({', '.join(classes)}). Map it with --original-labels {v}={classes[-1]} (one pair a value, "
                    "comma-separated)."
                )
    return labels


def slug_of(path: Path) -> str:
    """A local dataset's name: the zip's, folder's or CSV's stem in Kaggle's slug spelling."""
    return re.sub(r"[^0-9a-z]+", "-", path.stem.lower()).strip("-") or "original"


def _notes(
    original: Original, name: str, rows: int, kept: list[str], lacking: list[str], unreadable: int, twice: str
) -> list[str]:
    """What `new` prints of the original it read: its rows, and what it renamed, relabelled, lacked or misread."""
    notes = [
        f"original: {rows} labelled rows of {name} ({original.slug}) join every fold's training rows, never scored",
        *kept,
    ]
    if original.columns:
        notes.append(
            "original: columns read as the competition's: "
            + ", ".join(f"{o} -> {c}" for o, c in original.columns.items())
        )
    if original.labels:
        notes.append(
            "original: labels read as the competition's: "
            + ", ".join(f"{o} -> {c}" for o, c in original.labels.items())
        )
    if lacking:
        notes.append(f"original: lacks {listed(lacking, 8)} (missing in its rows)")
    if unreadable:
        notes.append(f"original: {unreadable} values of number columns are not numbers (read as missing)")
    if twice:
        notes.append(f"warning: original: {twice}")
    return notes


def find(
    path: Path,
    train: pd.DataFrame,
    features: Sequence[str],
    targets: Sequence[str],
    task: str,
    *,
    file: str | None = None,
    slug: str | None = None,
    columns: str | None = None,
    labels: str | None = None,
) -> Found:
    """Read the original dataset and decide the Original the generated file states (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ContractError(f"--original {path}: no such file or folder.")
    member, frame = _table(path, file, targets)
    where = f"{path}" + (f" ({member})" if member else "")
    given = pairs(columns, "--original-columns")
    unknown = [o for o in given if o not in frame.columns]
    if unknown:
        raise ContractError(
            f"--original-columns: {where} has no column {unknown[0]!r}; columns: {listed(frame.columns)}."
        )
    renames = match_columns(list(frame.columns), [*features, *targets], given)
    theirs = [next((o for o, c in renames.items() if c == t), t) for t in targets]
    twice = target_columns(frame.columns, lambda: _header(path, member), where, theirs)
    frame, kept = _keep_words(frame, word_targets(task, theirs), path, member, where)
    frame = frame.rename(columns=renames)
    absent = [t for t in targets if t not in frame]
    if absent:
        raise ContractError(
            f"--original {where}: no column for the target {absent[0]!r} (columns: "
            f"{listed(frame.columns)}). Name it with --original-columns NAME={absent[0]}."
        )
    frame = frame[frame[list(targets)].notna().all(axis=1)]
    label_map = (
        _labels(frame, train, targets, pairs(labels, "--original-labels"), renames, where)
        if task != "regression"
        else {}
    )
    name = PurePosixPath(member).name if member else path.name
    original = Original(slug or slug_of(path), name, columns=renames, labels=label_map)
    for t in targets:
        classes = class_names(train[t]) if task != "regression" else None
        original_targets(frame, t, task, classes, original, Path(where))
    rows, lacking, unreadable = as_features(frame, train[list(features)])
    if len(lacking) == len(features):
        raise ContractError(
            f"--original {where}: none of the competition's feature columns is there (columns: "
            f"{listed(frame.columns)}); is it the right table? Name columns with --original-columns."
        )
    notes = _notes(original, name, len(rows), kept, lacking, unreadable, twice)
    return Found(original, path, member, len(rows), notes)
