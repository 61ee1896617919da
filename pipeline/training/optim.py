"""The optimizer factory, per-group learning rates and one optimizer step (AMP-scaled, optionally clipped)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw")


def param_groups(
    model: nn.Module,
    weight_decay: float,
    lr_scales: Mapping[str, float] | None = None,
    no_decay: Sequence[str] = (),
    frozen: bool = False,
) -> list[dict[str, Any]]:
    """The parameters in groups of one learning-rate multiple (`lr_scale`, from lr_scales by name; 1 for a name it
    lacks) and one weight decay, the largest multiple first and, within one, the decayed first. The one rule of what
    is not decayed: 1-d parameters (biases, norms) and names matching a no_decay pattern (a timm model's
    no_weight_decay()). Frozen parameters are left out unless `frozen` (a fine-tuning that unfreezes them later)."""
    split: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for n, p in model.named_parameters():
        if p.requires_grad or frozen:
            decay = p.ndim > 1 and not any(fnmatch.fnmatch(n, pattern) for pattern in no_decay)
            split.setdefault((1.0 if lr_scales is None else float(lr_scales.get(n, 1.0)), decay), []).append(p)
    return [
        {"params": ps, "weight_decay": weight_decay if decay else 0.0, "lr_scale": scale}
        for (scale, decay), ps in sorted(split.items(), key=lambda item: (-item[0][0], not item[0][1]))
    ]


def make_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool = False,
    groups: list[dict[str, Any]] | None = None,
) -> torch.optim.Optimizer:
    """SGD or AdamW on `groups` (param_groups' form: each at lr times its lr_scale), by default two groups at lr of
    the trainable parameters, decayed then not (biases and norms, 1-d, not decayed)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{name}'. Valid optimizers: {', '.join(OPTIMIZERS)}.")
    if groups is None:  # both groups, even an empty one (a checkpoint's optimizer state has two)
        marked = param_groups(model, 1.0)  # weight decay 1: the decayed, 0: the others
        groups = [
            {"params": [p for g in marked if g["weight_decay"] == mark for p in g["params"]], "weight_decay": decay}
            for mark, decay in ((1.0, weight_decay), (0.0, 0.0))
        ]
    else:
        groups = [g | {"lr": lr * g["lr_scale"]} for g in groups]
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
