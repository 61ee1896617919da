"""Atomic file writes: a reader sees the old file or the complete new one, never half of it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, obj: Any) -> None:
    """Write JSON atomically (indented, numpy scalars converted)."""
    write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def write_npy(path: Path | str, array: np.ndarray) -> None:
    """Write a .npy array atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_with(path: Path | str, writer: Callable[[Path], None]) -> None:
    """Call writer(tmp_path) and move the result to `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def read_json(path: Path | str) -> Any:
    """Read a JSON file; one that is not JSON (cut short, edited by hand) raises a ContractError naming it, which
    callers that skip unreadable records still catch as the ValueError it is."""
    from pipeline.contract import ContractError

    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ContractError(
            f"{path}: not valid JSON ({e.msg}: line {e.lineno}, column {e.colno}); the file is damaged: restore it, "
            "or make it again with the command that wrote it."
        ) from None


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def as_json(obj: Any) -> Any:
    """obj as write_json would store it and read_json return it (numpy scalars converted, tuples as lists)."""
    return json.loads(json.dumps(obj, default=_jsonable))
