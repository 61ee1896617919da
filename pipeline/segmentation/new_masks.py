"""`new` on a download of run-length masks (pipeline/segmentation/infer.py): the competition written from
pipeline/segmentation/template.py, what was decided printed with the next command."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

from pipeline.contract import ContractError
from pipeline.tabular.infer_files import Source

# the flags of `new` a download of masks has no use for
UNUSED = ("target", "id_col", "task", "test", "time", "series", "groups", "kind", "original", "join")


def write_masks(args: argparse.Namespace, dest: Path, source: Source, write: Callable[[Path, str], None]) -> bool:
    """For a download of masks (infer.holds_masks): write its competition with `write` (new's: whole, checked by the
    contract), print what was decided and the next command, and say True; False for any other download."""
    from pipeline.archives import display_path
    from pipeline.segmentation.infer import holds_masks, infer_masks
    from pipeline.segmentation.template import render
    from pipeline.tabular.infer import download_slug

    if not holds_masks(source):
        return False
    given = [f"--{k.replace('_col', '')}" for k in UNUSED if getattr(args, k, None)]
    if given:
        raise ContractError(f"{args.data} holds masks to segment: {', '.join(given)} are not for it; leave them out.")
    slug = args.slug or download_slug(Path(args.data)) or args.name
    spec = infer_masks(source, args.name, slug, args.metric, args.train, args.sample, getattr(args, "rle", None))
    write(dest, render(spec, str(dest) if args.into else None))
    shown = display_path(dest)
    what = spec.classes[0] if len(spec.classes) == 1 else f"{len(spec.classes)} classes"
    print(
        f"wrote {shown}/__init__.py: masks ({what}) of {spec.n_train} training images, id {spec.id_column}, "
        f"metric {spec.metric}"
    )
    for note in spec.notes:
        print(f"  {note}")
    where = f"{shlex.quote(shown)} --data {shlex.quote(args.data)}"
    print(f"next: python -m pipeline run {where} [--preset cpu | --preset fast]")
    return True
