"""The run's log: every line to log.txt in the run folder, and to the console through rich."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any


class RunLog:
    """Append-only log file plus console echo."""

    def __init__(self, path: Path | None, quiet: bool = False) -> None:
        self.path = path
        self.quiet = quiet
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def __call__(self, message: str, *, style: str | None = None) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(f"{stamp} {message}\n")
        if not self.quiet:
            self.console.print(f"[dim]{stamp}[/dim] {message}", style=style, markup=True, soft_wrap=True)

    def warn(self, message: str) -> None:
        """A warning line."""
        self(f"[yellow]warning:[/yellow] {message}")


def interactive() -> bool:
    """True when stderr is a terminal (progress bars on)."""
    return sys.stderr.isatty()


def progress(enabled: bool) -> Any:
    """A rich Progress over models x folds, disabled when not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
