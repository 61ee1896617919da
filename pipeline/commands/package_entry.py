"""Offline inference: check the package, install its wheels offline, run `python -m pipeline predict`.

Usage (in a notebook cell): !python /kaggle/input/<this-dataset>/predict.py [--data PATH] [--out DIR]
Arguments after the script name are passed to `python -m pipeline predict`.

`python -m pipeline package` copies this file into the package as predict.py: it runs before the project is
installed, so it imports nothing but the standard library.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def wheels_for_another_python(manifest: dict[str, Any]) -> str:
    """Why the packaged wheels may not install here: they were fetched for another Python ('' when not, or unknown)."""
    target = manifest.get("wheels_python")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not target or target == here:
        return ""
    return (
        f"; its wheels were fetched for Python {target} and this notebook runs Python {here}: "
        f"package the run again with `python -m pipeline package RUN_DIR --out DIR --python {here}`"
    )


def install(manifest: dict[str, Any]) -> bool:
    """Install the project's wheel, then the pinned dependencies, from the package's wheels/ alone."""
    wheels = HERE / "wheels"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels)]
    project = sorted(wheels.glob("kaggle_pipeline-*.whl"))
    if subprocess.call([*pip, "--no-deps", "--force-reinstall", *map(str, project)]) != 0:
        print("error: installing the project wheel failed", file=sys.stderr)
        return False
    pinned = [f"{d}=={manifest['versions'][d]}" for d in manifest["deps"] if manifest["versions"].get(d)]
    if pinned and subprocess.call([*pip, *pinned]) != 0:
        why = wheels_for_another_python(manifest)
        print("error: installing " + " ".join(pinned) + " from the package failed" + why, file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    manifest = json.loads((HERE / "manifest.json").read_text())
    files = manifest["files"]
    bad = [rel for rel, digest in files.items() if not (HERE / rel).is_file() or sha256(HERE / rel) != digest]
    if bad:
        print(f"error: package file {bad[0]} is missing or damaged ({len(bad)} in all)", file=sys.stderr)
        return 2
    if not install(manifest):
        return 2
    for lib, trained in sorted(manifest["versions"].items()):
        here = version(lib)
        if trained and here != trained:
            note = " (from the notebook image)" if lib in manifest["check_only"] else ""
            print(f"version differs: {lib} trained with {trained}, here {here or 'not installed'}{note}")
    return subprocess.call([sys.executable, "-m", "pipeline", "predict", str(HERE / "run"), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
