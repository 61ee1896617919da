"""`submissions`: the user's Kaggle submissions with public and private scores, matched to our runs."""

from __future__ import annotations

import argparse
import math
from typing import Any

HELP = "List your Kaggle submissions with public/private scores, matched to runs (updates the run folders)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `submissions`."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def print_table(slug: str, matches: list[tuple[dict[str, Any], dict | None]]) -> None:
    """Rich table: date, run, CV, public and private score, status, file, message."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Kaggle submissions: {slug}")
    for col in ("date", "run", "CV", "public", "private", "status", "file", "message"):
        t.add_column(col, overflow="fold")
    for sub, run in matches:
        status = sub["status"] + (f": {sub['error']}" if sub.get("error") else "")
        t.add_row(
            sub["date"] or "-",
            run["run_id"] if run else "-",
            _fmt(run.get("cv")) if run else "-",
            _fmt(sub["public_score"]),
            _fmt(sub["private_score"]),
            status,
            sub["file"],
            sub["message"],
        )
    Console().print(t)


def main(args: argparse.Namespace) -> int:
    """Fetch, match, record and print."""
    from pathlib import Path

    from pipeline import contract
    from pipeline.datadir import competition_arg
    from pipeline.kaggle.io import list_submissions
    from pipeline.kaggle.records import match_runs, refresh_records
    from pipeline.runfolder import list_runs

    module = contract.load_competition(args.competition)
    name, slug = contract.competition_name(module), module.KAGGLE_SLUG
    closed = getattr(module, "SUBMIT_CLOSED", None)
    if closed:
        print(closed)
        return 0
    subs = list_submissions(slug)
    if not subs:
        print(f"No submissions to {slug} yet. Submit a run: python -m pipeline submit {competition_arg(module)}")
        return 0
    runs = list_runs(name)
    for run in runs:
        run.setdefault("run_id", Path(run["run_dir"]).name)
    matches = match_runs(subs, runs)
    changed = refresh_records(matches)
    print_table(slug, matches)
    matched = sum(run is not None for _, run in matches)
    print(
        f"{_plural(len(subs), 'submission')}, {matched} matched to runs in runs/{name}/; "
        f"{_plural(changed, 'run folder')} updated."
    )
    return 0
