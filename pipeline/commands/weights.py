"""`weights`: the pretrained weights a competition's resolved config needs; download, export and import them.

For offline machines: `--export DIR` on a machine with the weights writes them with a manifest (sizes, sha256);
copy DIR (or upload it as a Kaggle dataset), then `--import DIR` puts them into the local caches, verified, where
the normal code path finds them without a network.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.contract import ContractError

HELP = "List the pretrained weights a competition's config needs; --download, --export DIR or --import DIR them."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `weights`: the config (as for `run`) and one action."""
    p.add_argument("competition", nargs="?", help="competition folder, e.g. competitions/dog_breeds")
    p.add_argument("--preset", help="a named set of Config overrides the competition defines")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a field")
    p.add_argument("--params", help="JSON file of Config overrides (e.g. best params from `tune`)")
    p.add_argument("--sample", action="store_true", help="the config of a --sample run (its sample preset)")
    p.add_argument("--models", help="comma-separated subset of the competition's models")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--download", action="store_true", help="fetch the missing files into the local caches")
    action.add_argument("--export", metavar="DIR", help="copy the cached files with a manifest into DIR")
    action.add_argument(
        "--import", dest="import_dir", metavar="DIR", help="verify an exported DIR and put it into the local caches"
    )


def _needs(args: argparse.Namespace) -> list:
    from pipeline.config import resolve_config
    from pipeline.contract import load_competition
    from pipeline.sample_preset import sample_config
    from pipeline.weights import needs_of

    module = load_competition(args.competition)
    params = Path(args.params) if args.params else None
    cfg, overrides = resolve_config(module, args.preset, params, args.sets)
    if args.sample:
        cfg, _ = sample_config(module, overrides)
    selected = module.models(cfg)
    if args.models:
        names = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = [m for m in names if m not in selected]
        if unknown:
            raise ContractError(f"Unknown model(s) {', '.join(unknown)}. Models: {', '.join(selected)}.")
        selected = {m: selected[m] for m in names}
    try:
        return needs_of(selected, sample=args.sample)
    except ValueError as e:
        raise ContractError(str(e)) from None


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.1f} KB"


def _beside(need: Any) -> str:
    """The files a snapshot holds beside its weights, one of each group: "config.json, tokenizer.json or ..."."""
    return ", ".join(" or ".join(group) for group in need.together)


def describe(needs: list, command: str, sizes: bool = True) -> str:
    """The listing: each weight's source, size and whether (and where) it is cached."""
    from pipeline.weights import _no_network, hf_cache_dir, missing, remote_size, torch_checkpoints

    fetch = [n for n in needs if n.fetchable]
    online = sizes and [n for n in fetch if n.cached() is None] and _no_network(fetch) is None
    lines = []
    for n in needs:
        lines.append(f"{n.arch}  (model: {', '.join(n.models)})")
        if n.kind == "none":
            lines.append(f"  random init: {n.why}; nothing to fetch")
            continue
        where = n.cached()
        if n.kind == "hf" and n.snapshot:  # a model's folder: the weights, the config and tokenizer beside them
            lines.append(f"  source: Hugging Face {n.source} (a snapshot: {' or '.join(n.files)}, {_beside(n)})")
        elif n.kind == "hf":
            lines.append(f"  source: Hugging Face {n.source} ({' or '.join(n.files)})")
        else:
            lines.append(f"  source: {n.source}")
        size = where.stat().st_size if where and where.is_file() else n.size
        if size is None and online:
            size = remote_size(n)
        lines.append(f"  size:   {_size(size) if size is not None or online else 'unknown (not cached, offline)'}")
        if where:
            lines.append(f"  cached: yes, {where}")
        elif n.kind == "file":
            lines.append("  cached: NO SUCH FILE")
        else:
            cache = hf_cache_dir() if n.kind == "hf" else torch_checkpoints()
            lines.append(f"  cached: no (goes into {cache})")
    gone = missing(needs)
    absent = [n for n in needs if n.kind == "file" and not n.cached()]
    if absent:  # a pretrained_file that is not there: `run` stops on it
        lines.append(f"missing {len(absent)} local weight file(s) (pretrained_file): run stops until the path is right")
    if not fetch:
        if not absent:
            lines.append("no pretrained weights needed: this config runs offline as it is")
    elif gone:
        lines.append(
            f"missing {len(gone)} of {len(fetch)}: `{command} --download` here, or `{command} --export DIR` on a "
            "machine with internet, copy DIR here, then `python -m pipeline weights --import DIR`"
        )
    else:
        lines.append(f"all {len(fetch)} cached: this config runs offline (`{command} --export DIR` copies them)")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """List, download, export or import."""
    from pipeline.weights import download, export, fetch_command, import_folder, missing

    if args.import_dir:
        placed = import_folder(Path(args.import_dir))
        for path in placed:
            print(f"imported {path}")
        print(f"{len(placed)} file(s) verified (size, sha256) and put into the local caches")
        if not args.competition:
            return 0
    if not args.competition:
        raise ContractError("weights: give a competition folder (e.g. competitions/dog_breeds), or --import DIR.")
    needs = _needs(args)
    command = fetch_command(args.competition, args.preset, args.sets, args.params, args.sample)
    if args.models:
        command += f" --models {args.models}"
    if args.download:
        files = [n for n in missing(needs) if n.kind == "file"]
        if files:
            raise ContractError(f"pretrained_file not found: {', '.join(n.source for n in files)}.")
        for n in missing(needs):
            print(f"downloading {n.arch}: {n.source}")
            print(f"  -> {download(n)}")
    if args.export:
        entries = export(needs, Path(args.export))
        print(f"exported to {args.export} ({len(entries)} file(s) listed in its manifest.json)")
        return 0
    print(f"weights for {args.competition}")
    print(describe(needs, command, sizes=not args.import_dir))
    return 0
