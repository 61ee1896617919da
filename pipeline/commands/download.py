"""`download`: a competition's files from Kaggle into data/<slug>/, extracted and checked."""

from __future__ import annotations

import argparse

HELP = "Download a competition's data from Kaggle into data/<slug>/ (extracted, checked; skipped when intact)."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `download`."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument(
        "--force", action="store_true", help="download and extract again even if data/<slug>/ looks complete (repair)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Download, extract and check the competition's files."""
    from pipeline import contract
    from pipeline.datadir import default_data_dir
    from pipeline.kaggle.io import download_competition

    module = contract.load_competition(args.competition)
    slug = module.KAGGLE_SLUG
    expected = list(getattr(module, "EXPECTED_FILES", []))
    dest = download_competition(slug, default_data_dir(slug), expected, force=args.force, progress=not args.quiet)
    name = contract.competition_name(module)
    print(
        f"Data ready: {len(expected) or 'all'} expected files in data/{dest.name}/. "
        f"Next: python -m pipeline run competitions/{name}"
    )
    return 0
