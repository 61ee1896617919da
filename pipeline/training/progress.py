"""A per-epoch progress bar (rich) with loss and images/s, silent when disabled or not on a terminal; the epoch log."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class EpochBar:
    """Progress over one epoch's batches."""

    def __init__(self, total: int, description: str, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total
        self.description = description
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> EpochBar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[ips]:.0f} img/s"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, loss=float("nan"), ips=0.0)
        return self

    def update(self, completed: int, loss: float, images_per_s: float) -> None:
        """Show batches done, the running loss and throughput."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, loss=loss, ips=images_per_s)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)


def epoch_line(
    row: dict[str, Any], planned: int, metric: str, extras: tuple[str, ...] = (), ips_digits: int = 0
) -> str:
    """The log line of one epoch: losses, the validation score (and `extras` of the row beside it), lr, time, speed."""
    parts = [f"epoch {row['epoch']}/{planned}", f"train_loss {row['train_loss']:.4f}"]
    if row["valid_loss"] is not None:
        parts.append(f"valid_loss {row['valid_loss']:.4f}")
    if row["valid_score"] is not None:
        parts.append(f"valid_{metric} {row['valid_score']:.4f}")
        parts += [f"{k} {row[k]:.4f}" for k in extras if k in row]
    parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.1f}s", f"{row['images_per_s']:.{ips_digits}f} img/s"]
    return "  ".join(parts)
