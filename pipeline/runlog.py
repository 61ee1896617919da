"""The run's log: every line to log.txt in the run folder as plain text, and to the console through rich."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
import warnings
from collections.abc import Iterator
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
        """Log one line: plain text in log.txt, the message's rich markup (e.g. [bold]) on the console only."""
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(f"{stamp} {plain(message)}\n")
        if not self.quiet:
            from rich.text import Text

            line = Text.assemble((stamp, "dim"), " ", rich_text(message))
            self.console.print(line, style=style or "", soft_wrap=True)

    def warn(self, message: str) -> None:
        """A warning line."""
        self(f"[yellow]warning:[/yellow] {message}")


@contextlib.contextmanager
def route_warnings(log: RunLog) -> Iterator[None]:
    """Python warnings raised while the block runs (a model that did not converge, a library's deprecation) become
    the run's warning lines: kept in log.txt, on the console unless --quiet. Python's filters still decide which
    are raised; each distinct one is logged once (a model that warns every fold gives one line). Warnings of worker
    processes (joblib) stay on their own stderr."""
    previous = warnings.showwarning
    seen: set[str] = set()

    def show(message: Any, category: type[Warning], filename: str, lineno: int, *_: Any, **__: Any) -> None:
        line = f"{category.__name__}: {' '.join(str(message).split())} ({Path(filename).name}:{lineno})"
        if line not in seen:
            seen.add(line)
            log.warn(line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def rich_text(message: str) -> Any:
    """A message's rich Text: tags that name a rich style ([bold], [yellow], [/]) apply it; any other bracketed
    text ([hflip, shift], [0.5, 1]) stays as written."""
    from rich.errors import MarkupError
    from rich.markup import escape
    from rich.text import Text

    markup, pos = [], 0
    for m in _TAG.finditer(message):
        markup += [escape(message[pos : m.start()]), m.group(0) if _is_style(m.group(1)) else escape(m.group(0))]
        pos = m.end()
    markup.append(escape(message[pos:]))
    try:
        return Text.from_markup("".join(markup))
    except MarkupError:  # e.g. a closing tag without its opening one
        return Text(plain(message))


def plain(message: str) -> str:
    """A message without its rich style tags, as log.txt holds it."""
    return _TAG.sub(lambda m: "" if _is_style(m.group(1)) else m.group(0), message)


_TAG = re.compile(r"\[(/?[^\[\]]*)\]")


def _is_style(tag: str) -> bool:
    """Whether `tag` (the text between brackets) is rich markup: a style, its closing tag, or [/]."""
    from rich.errors import StyleSyntaxError
    from rich.style import Style

    name = tag[1:] if tag.startswith("/") else tag
    if not name:
        return tag == "/"
    try:
        Style.parse(name)
    except StyleSyntaxError:
        return False
    return True


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
