"""Helpers shared by the tests: a preset's values reach the Config and the estimators; the built-in sample written once
per module, and a private copy of it per test (the image competitions); the environment of a `python -m pipeline`
child process, and a torchrun command run as one."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.commands.new import add_arguments
from pipeline.commands.new import main as new_main
from pipeline.config import resolve_config
from pipeline.contract import ContractError

ROOT = Path(__file__).resolve().parent.parent


def three_class_images(folder: Path, n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """n generated 32 px PNG images of three classes in `folder` (labels 0, 1, 2, 0, ...): their paths and labels."""
    from pipeline.vision.synthetic import write_images

    y = np.arange(n) % 3
    names = [f"{i}.png" for i in range(n)]
    write_images(folder, names, y, 3, 32, 0)
    return np.array([str(folder / name) for name in names]), y


def count_worker_starts(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Callable[[], int]:
    """From now on each loader worker process writes its pid to a file in `folder` as it starts; the function returned
    gives how many have started."""
    import pipeline.training.data as loader_data

    starts, init = folder / "worker_starts.txt", loader_data._worker_init

    def counted(worker_id: int) -> None:  # runs in the worker process
        with open(starts, "a") as f:
            f.write(f"{os.getpid()}\n")
        init(worker_id)

    monkeypatch.setattr(loader_data, "_worker_init", counted)
    return lambda: len(starts.read_text().split()) if starts.exists() else 0


def subprocess_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment for a `python -m pipeline` child: the project first on PYTHONPATH, then what was there (a
    machine whose dependencies live on PYTHONPATH keeps them), then `extra`."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env | extra


def free_port() -> int:
    """A TCP port free on the loopback now (a process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_environment(local_rank: int, world: int, port: int) -> None:
    """Make this process rank `local_rank` of `world` on the loopback rendezvous at `port`, as torchrun would (a
    test's spawned worker, before pipeline.distributed.init_from_env)."""
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        PIPELINE_DIST_TIMEOUT_S="120",
    )


def spawn_ranks(worker: Callable[..., None], args: tuple[Any, ...], seconds: float = 180) -> None:
    """Run `worker(local_rank, *args)` in 2 spawned processes (a test's ranks) and wait for both; kill them and fail
    the test if they have not finished in `seconds`."""
    import torch.multiprocessing as mp

    ctx = mp.start_processes(worker, args=args, nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + seconds
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"distributed workers did not finish in {seconds:g} s")


def launch(cmd: list[str], cwd: Path, timeout: float = 240, status: int = 0) -> str:
    """Run a command (torchrun and its workers) in its own process group, one thread each; kill the whole group on
    timeout; its exit status must be `status`. Its output, stdout and stderr together."""
    env = subprocess_env(OMP_NUM_THREADS="1", PIPELINE_DIST_TIMEOUT_S="240")
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd[:6])} ... did not finish in {timeout} s:\n{out[-3000:]}")
    assert proc.returncode == status, out[-3000:]
    return out


def preset_takes_effect(module: ModuleType, preset: str) -> None:
    """The preset's values reach the Config and the estimators built from it (epochs, lr, arch)."""
    cfg, _ = resolve_config(module, preset=preset)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in module.PRESETS[preset].items()}
    assert {k: getattr(cfg, k) for k in values} == values, preset
    assert cfg != module.Config()  # it changes something
    for est in module.models(cfg).values():
        params = est.get_params()
        for k in ("epochs", "lr", "batch_size"):
            if k in values and k in params:
                assert params[k] == values[k], (preset, k)


def sample_fixtures(write_sample: Callable[..., None], folder: str) -> tuple[Any, Any]:
    """The fixtures sample_dir (a small sample, 20 train and 6 test images, written once per module) and data_dir
    (a private copy named `folder` that a test may damage)."""

    @pytest.fixture(scope="module")
    def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        path = tmp_path_factory.mktemp(folder)
        write_sample(path, n_train=20, n_test=6)
        return path

    @pytest.fixture
    def data_dir(sample_dir: Path, tmp_path: Path) -> Path:
        """A private copy of the sample that a test may damage."""
        return Path(shutil.copytree(sample_dir, tmp_path / folder))

    return sample_dir, data_dir


def written_submission(module: ModuleType, sample_dir: Path, path: Path) -> tuple[Any, np.ndarray, pd.DataFrame]:
    """The sample loaded, random probabilities for its 6 test images and 5 classes written to `path` by the
    competition's write_submission and passed by its validate; returns (data, probabilities, the file read back)."""
    data = module.load(module.Config(), sample_dir)
    proba = np.random.default_rng(0).random((6, 5))
    module.write_submission(data, proba, path)
    module.validate(data, path)
    return data, proba, pd.read_csv(path)


def new_refuses(tmp_path: Path, name: str, data: Path, match: str, *extra: str) -> None:
    """`new NAME --data DATA` refuses the download with an error matching `match`, and writes nothing."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])
    with pytest.raises(ContractError, match=match):
        new_main(args)
    assert not (tmp_path / "comps" / name).exists()
