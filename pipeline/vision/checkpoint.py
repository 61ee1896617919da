"""Atomic training checkpoints in an estimator's workdir: last.pt after every epoch, best.pt for early stopping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.atomic import atomic_path

LAST = "last.pt"
BEST = "best.pt"


def save(path: Path, state: dict[str, Any]) -> None:
    """torch.save atomically: a killed process leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: Path) -> dict[str, Any] | None:
    """A checkpoint, or None when there is none."""
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
