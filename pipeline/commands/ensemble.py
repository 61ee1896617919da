"""`ensemble`: blend saved runs."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "Blend saved runs on their OOF predictions (their folds must match): of one competition, or of competitions of one "
    "download that answer one question (an image network and the table of its photo metadata: new --kind table)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Run folders and an optional tag."""
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders of one competition, or of one download's")
    p.add_argument("--tag", help="suffix for the new run folder name")
    p.add_argument("--quiet", action="store_true")


def main(args: argparse.Namespace) -> int:
    """Blend and write a new run folder with its submission."""
    from pipeline.commands.run import check_name
    from pipeline.ensemble_runs import ensemble_runs

    check_name("--tag", args.tag, "the run folder and the submission")
    ensemble_runs([Path(r) for r in args.runs], tag=args.tag, quiet=args.quiet)
    return 0
