"""`download`: a competition's files from Kaggle into data/<slug>/, extracted and checked, and its original dataset."""

from __future__ import annotations

import argparse

HELP = (
    "Download a competition's data from Kaggle into data/<slug>/ (extracted, checked; skipped when intact), and its "
    "original dataset (ORIGINAL) into data/datasets/<owner>/<name>/."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `download`."""
    p.add_argument("competition", help="competition folder, e.g. competitions/house_prices")
    p.add_argument(
        "--force",
        action="store_true",
        help="download and extract again even if data/<slug>/ (or the original dataset) looks complete (repair)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Download, extract and check the competition's files, then its original dataset's when it has one on Kaggle."""
    from pipeline import contract
    from pipeline.archives import display_path
    from pipeline.datadir import cache_root, competition_arg, default_data_dir
    from pipeline.kaggle.io import dataset_parts, download_competition, download_dataset

    module = contract.load_competition(args.competition)
    slug = module.KAGGLE_SLUG
    expected = list(getattr(module, "EXPECTED_FILES", []))
    dest = download_competition(slug, default_data_dir(slug), expected, force=args.force, progress=not args.quiet)
    original = getattr(module, "ORIGINAL", None)
    also = ""
    if original is not None and dataset_parts(original.slug) is not None:
        folder = download_dataset(
            original.slug,
            cache_root() / original.folder,
            [original.file],
            force=args.force,
            progress=not args.quiet,
        )
        also = f", and the original dataset's {original.file} in {display_path(folder)}/"
    print(
        f"Data ready: {len(expected) or 'all'} expected files in data/{dest.name}/{also}. "
        f"Next: python -m pipeline run {competition_arg(module)}"
    )
    return 0
