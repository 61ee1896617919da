"""`validate`: check any submission file with exactly the rules the runner and `submit` use."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from pipeline.contract import ContractError

HELP = "Check a submission file (written by hand or in a notebook) with the rules the runner and submit use."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The competition, the file, and where its data is."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument("file", help="the submission file to check")
    p.add_argument("--data", help="Kaggle's zip or an extracted folder (default data/<slug>/)")
    p.add_argument("--sample", action="store_true", help="check against the built-in sample's sample submission")


def main(args: argparse.Namespace) -> int:
    """Exit 0 with 'valid: N rows, ...' or raise the submission error (exit 2 through the CLI)."""
    from pipeline.contract import competition_name, load_competition
    from pipeline.datadir import competition_arg, resolve_data
    from pipeline.finish import validate_for
    from pipeline.submission import describe_valid

    module = load_competition(args.competition)
    path = Path(args.file).expanduser()
    if not path.is_file():
        raise ContractError(f"{path}: no such file." if not path.exists() else f"{path}: not a file.")
    if args.sample and args.data:
        raise ContractError("validate: give --data or --sample, not both.")
    again = f"validate {competition_arg(module)} {shlex.quote(args.file)}"  # the hint when there is no data
    data_dir, is_sample = resolve_data(module, args.data, args.sample, command=again)
    data = module.load(module.Config(), data_dir)
    validate_for(module, data, path)
    what = f"{path.stat().st_size:,} bytes" if path.suffix.lower() in (".zip", ".json") else describe_valid(path)
    against = "the built-in sample" if is_sample else str(data_dir)
    print(f"valid: {what} ({competition_name(module)}, checked against {against})")
    return 0
