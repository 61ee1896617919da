"""Shared by the benchmark scripts: peak memory figures and the small JSON results committed in benchmarks/figures/."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "benchmarks" / "figures"


@contextlib.contextmanager
def scratch_cwd() -> Iterator[Path]:
    """A temporary folder as the working directory: run folders, submissions, tune's studies and the data cache go
    there, never into the repository; the directory is restored and the folder removed after."""
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(here)


def peak_memory() -> dict[str, float | None]:
    """Peak resident memory (MiB) of this process and of its finished children, and CUDA max allocated (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cuda = None
    try:
        import torch

        if torch.cuda.is_available():
            cuda = torch.cuda.max_memory_allocated() / 2**20
    except ImportError:
        pass
    return {"peak_rss_mib": round(own, 1), "children_peak_rss_mib": round(children, 1), "cuda_max_allocated_mib": cuda}


def reset_cuda_peak() -> None:
    """Start a new CUDA max-allocated window (no-op without a GPU)."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    except ImportError:
        pass


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or None
    except OSError:
        return None


def save(name: str, command: str, results: dict[str, Any]) -> Path:
    """Write benchmarks/figures/<name>.json: the command, machine, load, git sha and the results."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    record = {
        "command": command,
        "date": dt.date.today().isoformat(),
        "git": _git_sha(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        **results,
    }
    path = FIGURES / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=float) + "\n")
    tmp.replace(path)
    return path


@dataclasses.dataclass
class FastRun:
    """A finished `run --preset fast` of a generated competition: its folder, summary, module, Config, training
    targets and seconds."""

    run_dir: Path
    summary: dict[str, Any]
    module: Any
    cfg: Any
    y: Any
    seconds: float


def fast_run(comp: Path, data: Path, seed: int, folds: int, epochs: int, sets: tuple[str, ...] = ()) -> FastRun:
    """`python -m pipeline run COMP --preset fast` on `data` with `folds` folds of `epochs` epochs, no holdout, the
    seed given (and the Config `sets`, "field=value"); the run's folder is the one new under runs/<COMP's name>, and
    the training targets are `load`'s."""
    from pipeline.cli import main
    from pipeline.contract import load_competition

    runs = comp.parent.parent / "runs" / comp.name
    before = set(runs.glob("*"))
    t0 = time.perf_counter()
    sets = ("holdout=0", f"folds={folds}", f"epochs={epochs}", *sets)
    command = ["run", str(comp), "--data", str(data), "--preset", "fast", "--seed", str(seed), "--quiet"]
    assert main([*command, *(a for s in sets for a in ("--set", s))]) == 0
    seconds = time.perf_counter() - t0
    (run_dir,) = set(runs.glob("*")) - before
    module = load_competition(str(comp))
    cfg = module.Config()
    summary = json.loads((run_dir / "summary.json").read_text())
    return FastRun(run_dir, summary, module, cfg, module.load(cfg, data).y, seconds)
