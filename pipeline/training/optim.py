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


def _signature(group: Mapping[str, Any]) -> tuple[float, float, int]:
    return float(group.get("lr_scale", 1.0)), float(group.get("weight_decay", 0.0)), len(group["params"])


def load_optimizer(opt: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """opt.load_state_dict(saved), its parameter groups matched to opt's by learning-rate multiple, weight decay and
    size when they come in another order (a checkpoint from before fine-tuning's groups came largest multiple first):
    torch matches groups by position, and would refuse them, or give a group another's rates. Groups that match no
    one way are refused with both layouts named."""
    mine, theirs = [_signature(g) for g in opt.param_groups], [_signature(g) for g in saved["param_groups"]]
    if mine != theirs:
        if sorted(mine) != sorted(theirs) or len(set(mine)) < len(mine):
            raise ValueError(
                f"the checkpoint's optimizer has parameter groups (lr multiple, weight decay, size) {theirs}, this "
                f"model's optimizer {mine}: they do not match one to one. Delete the fold's last.pt (or run without "
                "--resume) to train the fold again."
            )
        groups, state, renumbered = [], {}, 0
        for signature in mine:
            group = dict(saved["param_groups"][theirs.index(signature)])
            ids = list(range(renumbered, renumbered + len(group["params"])))
            pairs = zip(ids, group["params"], strict=True)
            state.update({new: saved["state"][old] for new, old in pairs if old in saved["state"]})
            groups.append(group | {"params": ids})
            renumbered += len(ids)
        saved = {"state": state, "param_groups": groups}
    opt.load_state_dict(saved)


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
