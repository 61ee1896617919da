"""Pretrained weights a resolved config needs: where they come from, whether they are cached, and fetching,
exporting and importing them (`python -m pipeline weights`, and the runner's check before any data is touched).

Two caches, the libraries' own, so the normal code path finds what was put there:
- Hugging Face (timm): `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; the Hub endpoint is
  `$HF_ENDPOINT` (a mirror) when set.
- torch hub (torchvision detectors, timm tags without a Hub repo): `$TORCH_HOME/hub/checkpoints`; a mirror of
  download URLs can be given with `$PIPELINE_WEIGHTS_MIRROR` (it replaces the URL's scheme and host).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pipeline import distributed
from pipeline.archives import sha256
from pipeline.contract import ContractError
from pipeline.weight_sources import (
    Need,
    hf_cache_dir,
    hf_endpoint,
    mirrored,
    offline,
    reachable,
    torch_checkpoints,
    url_filename,
)

MANIFEST = "manifest.json"
FORMAT = "pipeline-weights/1"


def needs_of(models: dict[str, Any], sample: bool = False) -> list[Need]:
    """The weights of a competition's models (name -> unfitted estimator), merged by source.

    Estimators the framework knows (pipeline.vision's image networks, pipeline.detection.Detector,
    pipeline.segmentation.Segmenter) declare their weights through their arch (encoder) and pretrained settings; any
    other estimator needs none.
    """
    merged: dict[tuple[str, str, str], Need] = {}
    for name, est in models.items():
        for need in _estimator_needs(est):
            if need.kind == "none" and sample:
                need.why = "sample run"
            key = (need.kind, need.source, need.arch if need.kind == "none" else "")
            merged.setdefault(key, need).models.append(name)
    return list(merged.values())


def _estimator_needs(est: Any) -> list[Need]:
    parts = getattr(est, "weighted_parts", None)
    if callable(parts):  # estimators of several (a detector and its "nothing here" classifier): each one's
        return [need for part in parts() for need in _estimator_needs(part)]
    owner = type(est).__module__
    if owner in ("pipeline.tabular.multitarget", "pipeline.tabular.series"):  # a wrapper: its estimator's weights
        return _estimator_needs(est.estimator)
    if owner.startswith("pipeline.vision"):
        from pipeline.vision.pretrained import weight_needs

        return weight_needs(est.arch, est.pretrained, est.pretrained_file)
    if owner.startswith("pipeline.detection"):
        from pipeline.detection.models import weight_needs as detector_needs

        return detector_needs(est.arch, est.pretrained, est.pretrained_file)
    if owner == "pipeline.tabular.transformer":
        from pipeline.tabular.transformer import weight_needs as transformer_needs

        return transformer_needs(est.arch)
    if owner.startswith("pipeline.segmentation"):
        from pipeline.segmentation.models import weight_needs as encoder_needs

        return encoder_needs(est.encoder, est.pretrained, est.pretrained_file)
    return []


def missing(needs: Iterable[Need]) -> list[Need]:
    """Needs whose file is not on this machine (a missing pretrained_file included)."""
    return [n for n in needs if n.kind in ("hf", "url", "file") and n.cached() is None]


def fetch_command(competition: str, preset: str | None, sets: list[str], params: str | None, sample: bool) -> str:
    """The `weights` command that lists the same resolved config."""
    parts = [competition] + (["--sample"] if sample else [])
    parts += ["--preset", preset] if preset else []
    parts += ["--params", params] if params else []
    for item in sets:
        parts += ["--set", item]
    return "python -m pipeline weights " + shlex.join(parts)


def ensure(needs: list[Need], command: str, say: Callable[[str], Any] = print) -> None:
    """Before a run touches data: every needed file is here, or is downloaded now, or the run stops naming the fix.

    A missing `pretrained_file` is an error. A missing Hub/URL file is downloaded when the network is there (and
    HF_HUB_OFFLINE is unset); otherwise the error prints the `weights` command that fetches it.
    """
    gone = missing(needs)
    files = [n for n in gone if n.kind == "file"]
    if files:
        raise ContractError(
            f"pretrained_file not found: {', '.join(n.source for n in files)} (needed by "
            f"{', '.join(m for n in files for m in n.models)}); nothing was extracted and no run folder was made."
        )
    if not gone:
        return
    why = _no_network(gone)
    if why is None:
        for need in gone:
            say(f"downloading pretrained weights for {need.arch}: {need.source}")
            download(need)
        return
    names = "; ".join(f"{n.arch} ({_source_words(n)})" for n in gone)
    raise ContractError(
        f"pretrained weights missing and {why}: {names}. Nothing was extracted and no run folder was made. "
        f"Fetch them with `{command} --download`, or on a machine with internet run `{command} --export DIR`, "
        f"copy DIR here and run `python -m pipeline weights --import DIR`; or {_local_copy(gone)}."
    )


def _local_copy(needs: list[Need]) -> str:
    """How a config names a local copy instead: a file, or a transformer's folder (a Hub snapshot's files)."""
    folders = "name a local folder of the model's files with --set transformer_arch=DIR"
    if all(n.snapshot for n in needs):
        return folders
    file = "pass a file with --set pretrained_file=PATH"
    return f"{file} ({folders.replace('name ', '', 1)})" if any(n.snapshot for n in needs) else file


def _source_words(n: Need) -> str:
    return f"Hugging Face {n.source}" if n.kind == "hf" else n.source


def _no_network(needs: list[Need]) -> str | None:
    """Why these cannot be downloaded now, or None when they can."""
    if offline():
        return "HF_HUB_OFFLINE is set"
    for n in needs:
        target = hf_endpoint() if n.kind == "hf" else mirrored(n.source)
        if not reachable(target):
            return f"{urlparse(target).hostname} cannot be reached"
    return None


def remote_size(need: Need) -> int | None:
    """The file's size from the server (a HEAD request), or None."""
    try:
        if need.kind == "hf":
            from huggingface_hub import get_hf_file_metadata, hf_hub_url

            for name in need.files:
                url = hf_hub_url(need.repo_id, name, revision=need.revision, endpoint=hf_endpoint())
                try:
                    return get_hf_file_metadata(url, timeout=5).size
                except Exception:
                    continue
            return None
        if need.kind == "url":
            import urllib.request

            req = urllib.request.Request(mirrored(need.source), method="HEAD")
            with urllib.request.urlopen(req, timeout=5) as r:
                return int(r.headers["Content-Length"])
    except Exception:
        return None
    return None


def download(need: Need, progress: bool = True) -> Path:
    """Fetch one file into its library's cache (with a progress bar); returns the cached path."""
    if offline():
        raise ContractError("HF_HUB_OFFLINE is set: unset it to download weights (or use --import DIR).")
    if need.kind == "hf" and need.snapshot:
        return _download_snapshot(need)
    if need.kind == "hf":
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        last: Exception | None = None
        for name in need.files:
            try:
                path = hf_hub_download(
                    need.repo_id,
                    name,
                    revision=need.revision,
                    cache_dir=hf_cache_dir(),
                    endpoint=hf_endpoint(),
                )
                return Path(path)
            except LocalEntryNotFoundError:  # the hub could not be reached (a kind of EntryNotFoundError): no file
                raise _unreachable(f"{need.source}/{name}") from None  # to blame; the next would wait as long again
            except EntryNotFoundError as e:
                last = e
            except Exception as e:
                raise ContractError(f"download of {need.source}/{name} from {hf_endpoint()} failed: {e}") from None
        raise ContractError(f"{need.source} has none of {', '.join(need.files)} ({last}).")
    if need.kind == "url":
        return _download_url(need.source, progress)
    raise ContractError(f"{need.arch}: nothing to download ({need.kind}).")


def _unreachable(what: str) -> ContractError:
    """The error of a download the Hub could not be reached for, saying how to bring the weights over instead."""
    return ContractError(
        f"cannot reach {hf_endpoint()} to download {what} (no network?). On a machine without internet, run "
        "`weights ... --export DIR` where there is, then `--import DIR` here."
    )


def _download_snapshot(need: Need) -> Path:
    """Fetch the repo's files matching the need's snapshot patterns into the Hub cache; returns its weights file."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(
            need.repo_id,
            revision=need.revision,
            allow_patterns=list(need.snapshot),
            cache_dir=hf_cache_dir(),
            endpoint=hf_endpoint(),
        )
    except LocalEntryNotFoundError:
        raise _unreachable(need.source) from None
    except Exception as e:
        raise ContractError(f"download of {need.source} from {hf_endpoint()} failed: {e}") from None
    found = need.cached()
    if found is None:
        wanted = [need.files, *need.together]
        raise ContractError(
            f"{need.source} lacks files a model needs: one of each of {'; '.join(', '.join(g) for g in wanted)}."
        )
    return found


def _download_url(url: str, progress: bool) -> Path:
    """torch hub's download, checking the sha256 prefix a torchvision file name carries (as torchvision does)."""
    import torch

    dest = torch_checkpoints() / url_filename(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dest.name)
    source = mirrored(url)
    try:  # download_url_to_file writes a temporary file next to dest and renames it only when complete
        torch.hub.download_url_to_file(source, str(dest), match.group(1) if match else None, progress=progress)
    except RuntimeError as e:  # the hash prefix check
        raise ContractError(f"download of {source} refused: {e}") from None
    except OSError as e:
        raise ContractError(f"download of {source} failed: {e}") from None
    return dest


def export(needs: list[Need], dest: Path) -> list[dict[str, Any]]:
    """Copy the cached files of `needs` into dest with a manifest (merged with one already there)."""
    from pipeline import atomic

    fetchable = [n for n in needs if n.fetchable]
    absent = [n for n in fetchable if n.cached() is None]
    if absent:
        raise ContractError(
            f"not cached here, so nothing to export: {', '.join(n.arch for n in absent)}; fetch them first "
            "(the same command with --download)."
        )
    dest.mkdir(parents=True, exist_ok=True)
    entries = {_key(e): e for e in _read_manifest(dest, required=False)}
    for need in fetchable:
        for path in need.cached_files():  # a snapshot's files each get an entry, imported one by one as any file
            entry = _entry(need, path)
            target = dest / entry["path"]
            if not (target.is_file() and target.stat().st_size == entry["size"] and sha256(target) == entry["sha256"]):
                atomic.write_with(target, lambda tmp, p=path: shutil.copyfile(p, tmp))
            entries[_key(entry)] = entry
    atomic.write_json(dest / MANIFEST, {"format": FORMAT, "weights": list(entries.values())})
    return list(entries.values())


def _entry(need: Need, path: Path) -> dict[str, Any]:
    base = {"arch": need.arch, "size": path.stat().st_size, "sha256": sha256(path)}
    if need.kind == "hf" and "snapshots" in path.parts:
        commit = path.parent.name
        return base | {
            "kind": "hf",
            "repo": need.repo_id,
            "revision": need.revision,
            "commit": commit,
            "filename": path.name,
            "path": f"hf/{need.repo_id.replace('/', '--')}/{path.name}",
        }
    url = need.source if need.kind == "url" else need.url
    assert url is not None
    return base | {"kind": "url", "url": url, "filename": path.name, "path": f"torch/{path.name}"}


def _key(entry: dict[str, Any]) -> str:
    return f"hf:{entry['repo']}:{entry['filename']}" if entry["kind"] == "hf" else f"url:{entry['filename']}"


def _read_manifest(folder: Path, required: bool = True) -> list[dict[str, Any]]:
    path = folder / MANIFEST
    if not path.is_file():
        if required:
            raise ContractError(f"{path}: no such file; --import takes a folder written by `weights --export`.")
        return []
    try:
        data = json.loads(path.read_text())
        entries = data["weights"]
        if data.get("format") != FORMAT or not isinstance(entries, list):
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        for i, e in enumerate(entries):
            keys = ("kind", "path", "size", "sha256", "filename") + (
                ("repo", "revision", "commit") if e.get("kind") == "hf" else ("url",)
            )
            lacking = [k for k in keys if k not in e]
            if lacking or e["kind"] not in ("hf", "url"):
                raise ValueError(f"entry {i} lacks {', '.join(lacking) or 'a valid kind'}")
    except (ValueError, KeyError, TypeError) as e:
        raise ContractError(f"{path}: not a weights manifest ({e}).") from None
    return entries


def verify(folder: Path) -> list[dict[str, Any]]:
    """The manifest's entries after checking every file's size and sha256; a bad or missing file is refused."""
    entries = _read_manifest(folder)
    for e in entries:
        path = folder / e["path"]
        if folder.resolve() not in path.resolve().parents:
            raise ContractError(f"{folder / MANIFEST}: path {e['path']!r} leaves the folder; refusing to import.")
        if not path.is_file():
            raise ContractError(f"{path}: listed in {MANIFEST} but missing; copy the whole folder again.")
        size = path.stat().st_size
        if size != e["size"]:
            raise ContractError(
                f"{path}: {size} bytes, the manifest says {e['size']}: the copy is incomplete; nothing was imported."
            )
        if sha256(path) != e["sha256"]:
            raise ContractError(
                f"{path}: sha256 differs from the manifest: the file is corrupted; nothing was imported."
            )
    return entries


def import_folder(folder: Path) -> list[Path]:
    """Put an exported folder's files into the local caches, after verifying all of them; returns the cache paths."""
    entries = verify(folder)
    return [_place_hf(folder, e) if e["kind"] == "hf" else _place_url(folder, e) for e in entries]


def _place_url(folder: Path, e: dict[str, Any]) -> Path:
    from pipeline import atomic

    dest = torch_checkpoints() / e["filename"]
    if not (dest.is_file() and dest.stat().st_size == e["size"] and sha256(dest) == e["sha256"]):
        atomic.write_with(dest, lambda tmp: shutil.copyfile(folder / e["path"], tmp))
    return dest


def _place_hf(folder: Path, e: dict[str, Any]) -> Path:
    """The Hub cache layout: blobs/<sha256>, snapshots/<commit>/<file> -> blob, refs/<revision> = commit."""
    from pipeline import atomic

    repo = hf_cache_dir() / f"models--{e['repo'].replace('/', '--')}"
    blob = repo / "blobs" / e["sha256"]
    if not (blob.is_file() and blob.stat().st_size == e["size"]):
        atomic.write_with(blob, lambda tmp: shutil.copyfile(folder / e["path"], tmp))
    snap = repo / "snapshots" / e["commit"] / e["filename"]
    snap.parent.mkdir(parents=True, exist_ok=True)
    if snap.is_symlink() or snap.exists():
        snap.unlink()
    try:
        snap.symlink_to(os.path.relpath(blob, snap.parent))
    except OSError:  # no symlinks (Windows without developer mode): the Hub client copies too
        shutil.copyfile(blob, snap)
    if e["revision"] != e["commit"]:
        atomic.write_text(repo / "refs" / e["revision"], e["commit"])
    return snap


def prepare_for_run(opts: Any, models: dict[str, Any]) -> list[Need]:
    """The runner's check before any data is extracted or a run folder made: the weights of the selected models,
    present (or downloaded now), else a ContractError that prints the `weights` command fixing it."""
    try:
        needs = needs_of(models, sample=opts.sample)
    except ValueError as e:  # an unknown arch or pretrained setting
        raise ContractError(str(e)) from None
    command = fetch_command(opts.competition, opts.preset, list(opts.sets), opts.params, opts.sample)
    distributed.in_turn(lambda: ensure(needs, command))
    return needs
