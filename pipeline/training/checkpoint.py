"""Atomic training checkpoints in a fit's workdir: last.pt after every epoch, best.pt for early stopping, and the
learning curve (history.json). The file names and keys are those of every earlier version: old runs still resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.atomic import atomic_path, write_json

LAST = "last.pt"
BEST = "best.pt"
HISTORY = "history.json"


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save atomically: a killed process leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def found(workdir: Path | None, name: str) -> Path | None:
    """The checkpoint `name` (LAST, BEST) in a fit's workdir when there is one; None without a workdir or the file
    (what a rank that has the workdir locates for distributed.load_from_main)."""
    path = None if workdir is None else Path(workdir) / name
    return path if path is not None and path.is_file() else None


def load(path: Path) -> dict[str, Any] | None:
    """A checkpoint, or None when there is none."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def write_history(workdir: Path, history: list[dict[str, Any]]) -> None:
    """The per-epoch rows (losses, score, lr, seconds, images/s) the run's learning-curve plots read."""
    write_json(workdir / HISTORY, history)
