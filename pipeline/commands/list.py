"""`list`: the competitions this checkout knows."""

from __future__ import annotations

import argparse

from pipeline.contract import ContractError, available_competitions, load_competition

HELP = "List competitions with their Kaggle slug and metric."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def main(args: argparse.Namespace) -> int:
    """Print a table of competitions."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title="competitions")
    for col in ("competition", "kaggle slug", "metric", "presets"):
        t.add_column(col)
    for name in available_competitions():
        try:
            m = load_competition(name)
        except (ContractError, ImportError) as e:
            t.add_row(name, "", f"[red]broken: {e}[/red]", "")
            continue
        direction = "higher" if m.METRIC.greater_is_better else "lower"
        t.add_row(
            f"competitions/{name}",
            m.KAGGLE_SLUG,
            f"{m.METRIC.name} ({direction} is better)",
            ", ".join(getattr(m, "PRESETS", {})),
        )
    Console().print(t)
    return 0
