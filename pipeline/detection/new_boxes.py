"""`new` on a download of boxes in a CSV (pipeline/detection/infer.py): the competition written from
pipeline/detection/template.py, what was decided printed with the next command."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

from pipeline.contract import ContractError
from pipeline.tabular.infer_files import Source

# the flags of `new` a download of boxes has no use for
UNUSED = ("target", "id_col", "task", "test", "time", "series", "groups", "kind", "original", "rle")


def write_boxes(args: argparse.Namespace, dest: Path, source: Source, write: Callable[[Path, str], None]) -> bool:
    """For a download of boxes (infer.holds_boxes): write its competition with `write` (new's: whole, checked by the
    contract), print what was decided and the next command, and say True; False for any other download."""
    from pipeline.archives import display_path
    from pipeline.detection.infer import holds_boxes, infer_boxes
    from pipeline.detection.template import render
    from pipeline.tabular.infer import download_slug

    if not holds_boxes(source):
        return False
    given = [f"--{k.replace('_col', '')}" for k in UNUSED if getattr(args, k, None)]
    if given:
        raise ContractError(f"{args.data} holds boxes to detect: {', '.join(given)} are not for it; leave them out.")
    slug = args.slug or download_slug(Path(args.data)) or args.name
    spec = infer_boxes(source, args.name, slug, args.metric, args.train, args.sample)
    write(dest, render(spec, str(dest) if args.into else None))
    shown = display_path(dest)
    what = f"boxes ({spec.n_boxes}) of {len(spec.classes.tokens)} classes" if spec.classes else None
    print(
        f"wrote {shown}/__init__.py: {what or f'{spec.class_name} boxes ({spec.n_boxes})'} of {spec.n_train} images, "
        f"id {spec.id_column}, metric {spec.metric}"
    )
    for note in spec.notes:
        print(f"  {note}")
    where = f"{shlex.quote(shown)} --data {shlex.quote(args.data)}"
    print(f"next: python -m pipeline run {where} [--preset cpu | --preset fast]")
    return True
