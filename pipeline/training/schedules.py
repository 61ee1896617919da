"""Learning-rate schedules as a factor of the peak rate, over training progress from 0 to 1."""

from __future__ import annotations

import math

SCHEDULES = ("onecycle", "cosine", "constant", "step")


def lr_factor(kind: str, progress: float, warmup: float = 0.2, final: float = 0.0, start: float | None = None) -> float:
    """Factor of the peak learning rate at `progress` (0..1) through training; warmup is a fraction of it too.

    Warm-up rises linearly from `start` (default: a tenth of the peak for one-cycle, airbench/ResNet-9 style, else
    zero); the decay ends at `final`.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule '{kind}'. Valid schedules: {', '.join(SCHEDULES)}.")
    t = min(max(progress, 0.0), 1.0)
    if warmup > 0 and t < warmup:
        if start is None:
            start = 0.1 if kind == "onecycle" else 0.0
        return start + (1.0 - start) * t / warmup
    rest = (t - warmup) / max(1.0 - warmup, 1e-12)
    if kind == "onecycle":
        return final + (1.0 - final) * (1.0 - rest)
    if kind == "cosine":
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * rest))
    if kind == "step":
        return 0.1 ** (int(rest >= 0.5) + int(rest >= 0.75))
    return 1.0
