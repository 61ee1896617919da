"""`list [FOLDER ...]`: the competitions this checkout knows, and those in the folders named (where `new --into`
writes them).

Names and slugs are what a user copies into the next command, so they are printed whole: a table on a terminal
wide enough for them, else (a narrow terminal, a pipe, a file) one block per competition.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.contract import ContractError, available_competitions, load_competition

HELP = "List competitions with their Kaggle slug, metric and presets."
COLUMNS = ("competition", "kaggle slug", "metric", "presets")
MIN_OTHER = 24  # a table needs room for the metric and presets columns beside the whole names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folders",
        nargs="*",
        metavar="FOLDER",
        help="also list the competition packages in these folders (where `new --into FOLDER` wrote them), or the "
        "package a folder is",
    )


def rows(folders: list[str] | None = None) -> list[tuple[str, str, str, str]]:
    """(folder, slug, metric, presets) of every competition of the checkout, then of every package in `folders` (a
    folder that is a package itself, as `new --into DIR` prints DIR/NAME, is that one); a broken one says why in the
    metric column. A folder that does not exist is refused."""
    specs = [(f"competitions/{name}", name) for name in available_competitions()]
    for folder in folders or []:
        root = Path(folder)
        if not root.is_dir():
            raise ContractError(f"{folder}: no such folder (list FOLDER names a folder of competition packages).")
        packages = (
            [root]
            if (root / "__init__.py").is_file()
            else sorted(d for d in root.iterdir() if (d / "__init__.py").is_file())
        )
        specs += [(str(d), str(d)) for d in packages]
    out = []
    for shown, spec in specs:
        try:
            m = load_competition(spec)
        except (ContractError, ImportError) as e:
            out.append((shown, "", f"broken: {e}", ""))
            continue
        direction = "higher" if m.METRIC.greater_is_better else "lower"
        presets = ", ".join(getattr(m, "PRESETS", {}))
        out.append((shown, m.KAGGLE_SLUG, f"{m.METRIC.name} ({direction} is better)", presets))
    return out


def plain(table: list[tuple[str, str, str, str]]) -> str:
    """One block per competition: the folder on its own line, then its fields, nothing cut."""
    lines = []
    for folder, slug, metric, presets in table:
        lines += [folder, f"  kaggle slug: {slug}", f"  metric:      {metric}", f"  presets:     {presets or '-'}"]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Print the competitions: a rich table on a wide enough terminal, else plain blocks."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = rows(args.folders)
    console = Console()
    widest = [max((len(r[i]) for r in table), default=0) for i in range(2)]
    need = sum(widest) + MIN_OTHER + 3 * 4 + 1  # two whole columns, the others' minimum, borders and padding
    if not sys.stdout.isatty() or console.width < need:
        print(plain(table))
        return 0
    t = Table(title="competitions")
    for i, col in enumerate(COLUMNS):
        if i < 2:
            t.add_column(col, no_wrap=True, min_width=widest[i])
        else:
            t.add_column(col, overflow="fold")
    for r in table:
        t.add_row(*(Text(c) for c in r), style="red" if r[2].startswith("broken:") else None)
    console.print(t)
    return 0
