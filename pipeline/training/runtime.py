"""Where and how a network trains: the Runtime a trainer receives, device, precision, workers and seeding."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.machine import usable_cores

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class Runtime:
    """Where and how to run, and what the runner asked for (from the FitContext, or defaults for plain use)."""

    device: str = "cpu"
    dtype: torch.dtype | None = None  # autocast dtype; None: fp32
    channels_last: bool = False
    num_workers: int = 0
    workdir: Path | None = None  # checkpoints and history.json; None: nothing written
    deadline: float | None = None  # time.monotonic() by which fit and the predictions after it must be done
    # keep -> the deadline re-shared when the training starts (FitContext.training_deadline); None: keep `deadline`
    training_deadline: Callable[[float], float | None] | None = None
    resume: bool = False
    progress: bool = False
    log: Callable[[str], Any] = lambda s: None
    score: Callable[[Any, Any], float] | None = None
    greater_is_better: bool = True
    metric_name: str = "score"
    predict_rows: int = 0  # rows the runner predicts after fit (OOF + test): the time kept for them
    predict_views: int = 1  # TTA views per row
    # epoch, validation score -> the runner's FitContext.report_epoch (tune's pruner); it may raise to stop the fit
    report: Callable[[int, float], None] | None = None
    sync_bn: bool = False  # torchrun on GPUs: SyncBatchNorm over the global batch (FitContext.sync_bn)
    plots_dir: Path | None = None  # where this fit's own plots go (FitContext.plots_dir); None: workdir/plots
    plot_tag: str = "fit"  # file name prefix of those plots: "<model>_fold<k>" in a run

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision in `dtype` on the device; a no-op in fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.split(":")[0], dtype=self.dtype)

    @property
    def memory_format(self) -> torch.memory_format:
        """channels_last when asked (faster convolutions under AMP), else the default layout."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def with_context(rt: Runtime, context: Any) -> Runtime:
    """`rt` with what the runner's FitContext asks of every network's fit: its checkpoint folder (kept when the context
    has none: the ranks > 0 of a torchrun run), deadlines, resume, progress, log, metric, the rows predicted after fit,
    tune's pruner, SyncBatchNorm and where its plots go. No context (plain use, predicting from a saved model): `rt`."""
    if context is None:
        return rt
    metric = getattr(context, "metric", None)
    return dataclasses.replace(
        rt,
        workdir=Path(context.workdir) if context.workdir is not None else rt.workdir,
        deadline=context.deadline,
        training_deadline=context.training_deadline,
        resume=bool(context.resume),
        progress=bool(context.progress),
        log=context.log or rt.log,
        score=context.score,
        greater_is_better=metric.greater_is_better if metric is not None else rt.greater_is_better,
        metric_name=metric.name if metric is not None else rt.metric_name,
        predict_rows=context.predict_rows,
        report=context.report_epoch,
        sync_bn=context.sync_bn,
        plots_dir=context.plots_dir,
        plot_tag=f"{context.model}_fold{context.fold}" if context.model else rt.plot_tag,
    )


def resolve_device(device: str | None) -> str:
    """'cuda' when available unless a device is given."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(precision: str, device: str, cpu_autocast: bool = True) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. 'auto': bf16 where the hardware runs it natively, else fp16 on CUDA.

    cpu_autocast=False keeps a CPU run in fp32 whatever was asked (CPU autocast slows detectors down).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision '{precision}'. Valid values: {', '.join(PRECISIONS)}.")
    kind = device.split(":")[0]
    if precision == "fp32" or (kind != "cuda" and not cpu_autocast):
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
    return max(0, min(8, usable_cores() - 1))


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
