"""`runs`: past runs with their CV and leaderboard scores."""

from __future__ import annotations

import argparse

HELP = "Table of past runs: time, CV, leaderboard score, models, tag, submission."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Optional competition filter."""
    p.add_argument("competition", nargs="?", help="only runs of this competition folder")


def main(args: argparse.Namespace) -> int:
    """Print the runs table."""
    from pipeline.contract import resolve_competition_path
    from pipeline.report import print_runs
    from pipeline.runfolder import list_runs

    name = resolve_competition_path(args.competition)[0].rsplit(".", 1)[-1] if args.competition else None
    print_runs(list_runs(name))
    return 0
