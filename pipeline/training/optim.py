"""The optimizer factory, per-group learning rates and one optimizer step (AMP-scaled, optionally clipped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float, nesterov: bool = False
) -> torch.optim.Optimizer:
    """SGD or AdamW; no weight decay on biases and norm parameters (1-d); frozen parameters left out."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{name}'. Valid optimizers: {', '.join(OPTIMIZERS)}.")
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
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
