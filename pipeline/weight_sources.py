"""What a pretrained weight is and where it is found, without the network: a Need (an arch's file and its source),
the libraries' cache folders, HF_HUB_OFFLINE, the download mirror and a quick reachability check.

The bottom layer under pipeline/weights.py (fetch, export, import, the runner's check) and under the code that knows
which file an arch needs (pipeline/vision/pretrained.py, pipeline/detection/models.py).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

MIRROR_ENV = "PIPELINE_WEIGHTS_MIRROR"


@dataclass
class Need:
    """One weights file a model needs, or the reason it needs none.

    kind: "hf" (a Hugging Face Hub repo, `source` = repo id, optionally `@revision`), "url" (a download URL into
    the torch hub cache), "file" (a local file the config names), "none" (random initialisation).
    An "hf" need with `snapshot` patterns is a whole model folder (a transformer's config, tokenizer and weights):
    those of the repo's files are fetched together, and it is cached when the weights (`files`) lie in a snapshot
    folder holding one file of each `together` group too.
    """

    arch: str
    kind: str
    source: str = ""
    files: tuple[str, ...] = ()  # hf: candidate file names in the repo, best first
    url: str | None = None  # hf: timm's fallback URL (a copy in the torch hub cache is used too)
    size: int | None = None  # bytes, when known without a download (torchvision publishes it)
    why: str = ""  # kind "none": why no weights (e.g. "sample run", "pretrained=False")
    models: list[str] = field(default_factory=list)  # the competition's model names using it
    snapshot: tuple[str, ...] = ()  # hf: glob patterns of the repo's files fetched together; (): the one file
    together: tuple[tuple[str, ...], ...] = ()  # hf snapshot: files beside the weights, one of each tuple

    @property
    def fetchable(self) -> bool:
        """Whether it comes from the network (and so can be downloaded, exported and imported)."""
        return self.kind in ("hf", "url")

    @property
    def repo_id(self) -> str:
        return self.source.partition("@")[0]

    @property
    def revision(self) -> str:
        return self.source.partition("@")[2] or "main"

    def cached(self) -> Path | None:
        """The local copy the loading code will use, looked up without the network."""
        if self.kind == "file":
            path = Path(self.source).expanduser()
            return path if path.exists() else None
        if self.kind == "hf":
            from huggingface_hub import try_to_load_from_cache

            rev = self.source.partition("@")[2] or None
            for name in self.files:
                found = try_to_load_from_cache(self.repo_id, name, cache_dir=hf_cache_dir(), revision=rev)
                if isinstance(found, str) and Path(found).is_file() and self._complete(Path(found).parent):
                    return Path(found)
        url = self.url if self.kind == "hf" else self.source if self.kind == "url" else None
        if url:
            path = torch_checkpoints() / url_filename(url)
            if path.is_file():
                return path
        return None

    def _complete(self, folder: Path) -> bool:
        """Whether a snapshot folder holds one file of each `together` group (always, for a single file)."""
        return all(any((folder / name).is_file() for name in group) for group in self.together)

    def cached_files(self) -> list[Path]:
        """Every local file it needs: a snapshot's files matching its patterns, else the one file (none: [])."""
        found = self.cached()
        if found is None or not self.snapshot:
            return [] if found is None else [found]
        return sorted(
            p for p in found.parent.iterdir() if p.is_file() and any(fnmatch(p.name, pat) for pat in self.snapshot)
        )

    def describe(self) -> str:
        """One line: what is used, for the console and the run log."""
        if self.kind == "none":
            return f"{self.arch}: random init: {self.why}"
        where = self.cached()
        src = {"hf": "Hugging Face", "url": "", "file": "file"}[self.kind]
        state = f"cached at {where}" if where else "not cached"
        return f"{self.arch}: pretrained, {src + ' ' if src else ''}{self.source} ({state})"

    def record(self) -> dict[str, Any]:
        """JSON for the run folder."""
        where = self.cached()
        return {
            "models": self.models,
            "arch": self.arch,
            "kind": self.kind,
            "source": self.source or None,
            "why": self.why or None,
            "path": str(where) if where else None,
        }


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment says now: HF_HUB_CACHE, else HF_HOME/hub, else the default."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def torch_checkpoints() -> Path:
    """torch hub's download folder (`$TORCH_HOME/hub/checkpoints`), where torchvision and timm look for URLs."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def url_filename(url: str) -> str:
    return os.path.basename(urlparse(url).path)


def offline() -> bool:
    """HF_HUB_OFFLINE set: no download of any weights (the framework applies it to torchvision URLs too)."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def mirrored(url: str) -> str:
    """A download URL with its scheme and host replaced by $PIPELINE_WEIGHTS_MIRROR when set."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return url
    return mirror.rstrip("/") + urlparse(url).path


def reachable(url: str, timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine fails in seconds instead of a client's minute of retries."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # the proxy decides; let the client try
    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)), timeout=timeout).close()
    except OSError:
        return False
    return True
