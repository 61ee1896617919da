"""What this process may use of the machine: its cores and its memory.

A container often shows the host's cores and memory to `os.cpu_count`, `sysconf` and /proc/meminfo: Docker's
`--cpus 2` and `--memory 8g`, Kubernetes' limits and many notebook services set a CPU quota and a memory limit in
the process's control group instead. Threads sized by the host's 64 cores then crowd 2 cores' worth of quota, and a
memory budget taken from the host's RAM gets the process killed. So both are read here, from cgroup v2 (`cpu.max`,
`memory.max`) or v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`, `memory.limit_in_bytes`), at the root a container
sees and at the process's own group (/proc/self/cgroup); the tightest limit found wins.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at most its CPU quota rounded up; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quotas = cpu_quotas()
    if quotas:
        cores = min(cores, math.ceil(min(quotas)))
    return max(1, cores)


def cap_threads() -> None:
    """torch's thread pool and the native ones (OpenBLAS's or MKL's, OpenMP's) size themselves by the cores they see,
    not by a container's quota: each capped at usable_cores(), so that a fit's threads do not crowd a 2-core quota
    on a 64-core host; a pool already smaller (OMP_NUM_THREADS=1, torch.set_num_threads) is left as it is."""
    from threadpoolctl import threadpool_info, threadpool_limits

    cores = usable_cores()
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
    over = {pool["prefix"]: cores for pool in threadpool_info() if pool["num_threads"] > cores}
    if over:
        threadpool_limits(limits=over)  # kept after the call returns, for the rest of the process


def memory_bytes() -> int | None:
    """The memory this process may use: the machine's, or its container's limit when lower; None when the machine's
    cannot be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return min([total, *memory_limits()])


def cpu_quotas() -> list[float]:
    """The CPU quotas, in cores, of this process's control groups (none when unlimited)."""
    v2, v1 = _own_groups()
    out = []
    for group in {"", v2}:
        fields = _read(CGROUP_ROOT / group / "cpu.max").split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit() and int(fields[1]) > 0:
            out.append(int(fields[0]) / int(fields[1]))
    for group in {"", v1.get("cpu", "")}:
        for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            quota = _read(CGROUP_ROOT / folder / group / "cpu.cfs_quota_us")
            period = _read(CGROUP_ROOT / folder / group / "cpu.cfs_period_us")
            if quota.isdigit() and period.isdigit() and int(period) > 0:  # v1's "-1" (no quota) is not a digit
                out.append(int(quota) / int(period))
    return out


def memory_limits() -> list[int]:
    """The memory limits in bytes of this process's control groups ("max", and v1's near-2**63 for none, are left
    to the caller's min)."""
    v2, v1 = _own_groups()
    files = [CGROUP_ROOT / group / "memory.max" for group in {"", v2}]
    files += [CGROUP_ROOT / "memory" / group / "memory.limit_in_bytes" for group in {"", v1.get("memory", "")}]
    texts = [_read(file) for file in files]
    return [int(text) for text in texts if text.isdigit()]


def _own_groups() -> tuple[str, dict[str, str]]:
    """This process's cgroup v2 path and its v1 path per controller, from /proc/self/cgroup (relative; "" when the
    file is missing or unreadable: the root a container sees is read either way)."""
    v2, v1 = "", {}
    for line in _read(PROC_CGROUP).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            v2 = path.lstrip("/")
        for controller in controllers.split(","):
            v1[controller] = path.lstrip("/")
    return v2, v1


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""
