"""The optimizer factory, per-group learning rates and one optimizer step (AMP-scaled, optionally clipped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool = False,
    lr_scales: Mapping[str, float] | None = None,
) -> torch.optim.Optimizer:
    """SGD or AdamW; no weight decay on biases and norm parameters (1-d); frozen parameters left out. lr_scales: each
    parameter's learning rate as a multiple of lr, by name (layer-wise decay; 1 for a name it lacks), in groups of one
    multiple and one weight decay, the largest multiple first; without it, two groups at lr: decayed, then not."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{name}'. Valid optimizers: {', '.join(OPTIMIZERS)}.")
    split: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            scale = 1.0 if lr_scales is None else float(lr_scales.get(n, 1.0))
            split.setdefault((scale, p.ndim > 1), []).append(p)
    if lr_scales is None:
        groups: list[dict[str, Any]] = [
            {"params": split.get((1.0, True), []), "weight_decay": weight_decay},
            {"params": split.get((1.0, False), []), "weight_decay": 0.0},
        ]
    else:
        groups = [
            {"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr": lr * scale, "lr_scale": scale}
            for (scale, decay), ps in sorted(split.items(), key=lambda item: (-item[0][0], not item[0][1]))
        ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    return torch.optim.AdamW(groups, lr=lr)


def set_lrs(opt: torch.optim.Optimizer, peaks: Sequence[float], factor: float) -> None:
    """Each group's learning rate: its peak times the schedule's factor."""
    for group, base in zip(opt.param_groups, peaks, strict=True):
        group["lr"] = base * factor


def optimizer_step(
    opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, model: nn.Module, grad_clip: float | None
) -> None:
    """Clip (on unscaled gradients) when asked, step through the GradScaler (fp16), clear the gradients."""
    if grad_clip:
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()
    opt.zero_grad(set_to_none=True)
