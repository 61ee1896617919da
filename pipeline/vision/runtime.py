"""Engineering settings the framework owns: device, precision, memory format, seeding, optimizer."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch
from torch import nn

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("sgd", "adamw")


def resolve_device(device: str | None) -> str:
    """'cuda' when available unless a device is given."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. 'auto': bf16 where the hardware runs it natively, else fp16 on CUDA."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision '{precision}'. Valid values: {', '.join(PRECISIONS)}.")
    kind = device.split(":")[0]
    if precision == "fp32":
        return None
    if precision == "auto":
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if kind == "cpu" and _cpu_has_bf16():
            return torch.bfloat16
        return None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_workers(num_workers: int | None, device: str) -> int:
    """DataLoader worker processes. None: none on CPU (training already uses every core), else up to 8 on CUDA."""
    if num_workers is not None:
        return int(num_workers)
    if not device.startswith("cuda"):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(8, cores - 1))


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; deterministic cuDNN when asked (CPU kernels are deterministic already)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic


def epoch_seed(seed: int, epoch: int) -> int:
    """A seed for one epoch's shuffling, augmentation and mixing: resumed runs replay the same epochs."""
    return int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1)[0])


def make_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float, nesterov: bool
) -> torch.optim.Optimizer:
    """SGD or AdamW; no weight decay on biases and norm parameters; frozen parameters left out."""
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
