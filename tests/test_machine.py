"""What a process may use of the machine: a container's CPU quota and memory limit, read from its control groups,
size the threads, loader workers and the decoded-image budget (pipeline/machine.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pipeline.machine as machine


@pytest.fixture
def cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A made-up /sys/fs/cgroup and /proc/self/cgroup, empty to start with: no limits."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc_self_cgroup"
    root.mkdir()
    monkeypatch.setattr(machine, "CGROUP_ROOT", root)
    monkeypatch.setattr(machine, "PROC_CGROUP", proc)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    return root, proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_the_cpu_quota_caps_the_cores_threads_and_workers_use(cgroups: tuple[Path, Path]) -> None:
    from pipeline.fitting import default_jobs
    from pipeline.training.runtime import resolve_workers

    root, proc = cgroups
    affinity = len(os.sched_getaffinity(0))
    assert machine.usable_cores() == affinity  # no control group files: the CPUs this process may run on
    # cgroup v2, the process's own group: 1.5 cores of quota (Docker's --cpus 1.5) -> 2 threads at most
    write(proc, "0::/job.slice")
    write(root / "cpu.max", "max 100000")  # the root: no quota
    write(root / "job.slice" / "cpu.max", "150000 100000")
    assert machine.cpu_quotas() == [1.5]
    assert machine.usable_cores() == min(affinity, 2)
    assert default_jobs(10**9) == min(affinity, 2)  # a big table's models get the quota's threads
    assert default_jobs(10) == 1  # a small one stays on one thread
    # cgroup v1 (cpu and cpuacct mounted together): 1 core of quota; no quota is -1
    write(proc, "3:cpu,cpuacct:/docker/abc\n0::/")
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1")
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "100000")
    for folder in (root / "cpu,cpuacct", root / "cpu,cpuacct" / "docker" / "abc"):
        write(folder / "cpu.cfs_period_us", "100000")
    assert machine.usable_cores() == 1
    assert resolve_workers(None, "cuda") == 0  # one core: the training process has it, no loader workers
    write(root / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1")
    write(root / "job.slice" / "cpu.max", "max 100000")
    assert machine.cpu_quotas() == [] and machine.usable_cores() == affinity


def test_the_decoded_image_budget_follows_a_containers_memory_limit(cgroups: tuple[Path, Path]) -> None:
    from pipeline.vision.decoded import default_mb

    root, proc = cgroups
    whole = default_mb()  # no control group files: a quarter of what sysconf says
    assert whole > 512  # over 2 GiB here; a container may see all of it and be allowed much less
    # cgroup v1 (Docker on older hosts): the limit of the process's own memory group
    write(proc, "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/")
    write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712")  # the root: unlimited
    write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", str(1 << 30))
    assert default_mb() == 256
    # cgroup v2: "max" at the root, 512 MiB on the process's group
    write(proc, "0::/job.slice")
    write(root / "memory.max", "max")
    write(root / "job.slice" / "memory.max", str(512 << 20))
    assert default_mb() == 128
    write(root / "job.slice" / "memory.max", "max")
    assert default_mb() == whole  # no limit anywhere: the machine's memory
    write(root / "memory.max", str(2 << 30))
    write(proc, "garbled")
    assert default_mb() == 512  # the root a container sees is read whatever /proc says


def test_a_fold_fit_caps_torchs_threads_at_the_cpu_quota(cgroups: tuple[Path, Path]) -> None:
    import torch
    from sklearn.linear_model import Ridge

    from pipeline.fitting import fit_fold

    root, proc = cgroups
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)  # what torch picks from the cores it sees, whatever the container may use
        fit_fold(Ridge(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=1, context=None)
        assert torch.get_num_threads() == min(4, machine.usable_cores())  # within the cores this process may use
        write(proc, "0::/")
        write(root / "cpu.max", "100000 100000")  # a quota of one core
        fit_fold(Ridge(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=1, context=None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


class _PoolsSeen:
    """A regressor that records the native thread pools (BLAS, OpenMP) as its fit finds them."""

    def fit(self, X: object, y: object) -> _PoolsSeen:
        from threadpoolctl import threadpool_info

        self.pools_ = {pool["prefix"]: pool["num_threads"] for pool in threadpool_info()}
        return self

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params: object) -> _PoolsSeen:
        return self


def test_a_fold_fit_caps_the_blas_threads_at_the_cpu_quota(cgroups: tuple[Path, Path]) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from pipeline.fitting import fit_fold

    root, proc = cgroups
    original = {pool["prefix"]: pool["num_threads"] for pool in threadpool_info()}
    try:
        threadpool_limits(limits=2, user_api="blas")  # OpenBLAS's pool as a 2-core host starts it
        blas = [p["prefix"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas, "numpy's BLAS is loaded"
        write(proc, "0::/")
        write(root / "cpu.max", "100000 100000")  # a quota of one core, where BLAS saw the host's two
        est, _ = fit_fold(_PoolsSeen(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=1, context=None)
        assert all(est.pools_[prefix] == 1 for prefix in blas)
        threadpool_limits(limits=1, user_api="blas")  # a pool already within the quota (OMP_NUM_THREADS=1) ...
        write(root / "cpu.max", "400000 100000")
        est, _ = fit_fold(_PoolsSeen(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=1, context=None)
        assert all(est.pools_[prefix] == 1 for prefix in blas)  # ... is not raised to it
    finally:
        threadpool_limits(limits=original)


def test_a_fold_fits_blas_threads_are_its_n_jobs_during_the_fit(cgroups: tuple[Path, Path]) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from pipeline.fitting import fit_fold

    original = {pool["prefix"]: pool["num_threads"] for pool in threadpool_info()}
    if machine.usable_cores() < 2:
        pytest.skip("one core: BLAS's pool is one thread already")
    try:
        threadpool_limits(limits=2, user_api="blas")
        blas = [p["prefix"] for p in threadpool_info() if p["user_api"] == "blas"]
        est, _ = fit_fold(_PoolsSeen(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=1, context=None)
        assert all(est.pools_[prefix] == 1 for prefix in blas)  # the runner's one thread for a small table
        est, _ = fit_fold(_PoolsSeen(), [[0.0], [1.0]], [0.0, 1.0], seed=0, n_jobs=2, context=None)
        assert all(est.pools_[prefix] == 2 for prefix in blas)
        assert all(p["num_threads"] == 2 for p in threadpool_info() if p["user_api"] == "blas")  # as before the fit
    finally:
        threadpool_limits(limits=original)


def test_predict_caps_torchs_threads_at_the_cpu_quota(
    cgroups: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from pipeline.cli import main

    root, proc = cgroups
    monkeypatch.chdir(tmp_path)
    assert main(["run", "competitions/house_prices", "--sample", "--folds", "2", "--models", "ridge", "--quiet"]) == 0
    run_dir = next((tmp_path / "runs" / "house_prices").iterdir())
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        write(proc, "0::/")
        write(root / "cpu.max", "100000 100000")  # a quota of one core
        data = tmp_path / "data" / "sample" / "house_prices"
        assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
