"""Tuning workers: K processes on one machine against one storage, one GPU each when there are several."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from pipeline.tuning.storage import ClaimLock, open_storage
from pipeline.tuning.study import TuneSpec, claimed, fail_dead_trials, make_pruner, make_sampler


def gpu_assignment(workers: int, n_gpus: int, visible: str | None = None) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES per worker: round-robin over the visible GPUs when there are several, else unchanged.

    `visible` is the parent's CUDA_VISIBLE_DEVICES (its ids are kept, so "2,3" gives workers GPU 2 and 3).
    """
    if n_gpus <= 1:
        return [None] * workers
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    ids = (ids or [str(i) for i in range(n_gpus)])[:n_gpus]
    return [ids[i % len(ids)] for i in range(workers)]


def cuda_device_count() -> int:
    """GPUs torch sees (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def jobs_per_worker(spec: TuneSpec) -> int:
    """Threads per trial: --jobs, or the cores shared out between the workers."""
    from pipeline.fitting import default_jobs

    return spec.jobs or max(1, default_jobs() // max(1, spec.workers))


def claim_lock_path(spec: TuneSpec) -> Path:
    """One lock file per (storage, study) on this machine, whatever the working directory of each tune."""
    key = hashlib.sha256(f"{spec.storage}\n{spec.study}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pipeline-tune-{key}.lock"


def work(spec: TuneSpec, worker: int = 0) -> int:
    """Run trials until the study holds spec.trials finished ones (or the deadline passes); return how many ran."""
    import optuna
    from optuna.trial import TrialState

    from pipeline.contract import load_competition
    from pipeline.tuning.objective import Objective, step_plan

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    module = load_competition(spec.competition)
    # the search space keeps the models
    plan = step_plan(module, {**spec.base, **spec.fixed}, spec.folds, spec.models, spec.sample)
    storage = open_storage(spec.storage)
    probe = optuna.load_study(study_name=spec.study, storage=storage)
    study = optuna.load_study(
        study_name=spec.study,
        storage=storage,
        pruner=make_pruner(spec, plan),
        sampler=make_sampler(spec, worker, len(probe.get_trials(deepcopy=False))),
    )
    lock = ClaimLock(claim_lock_path(spec))
    objective = Objective(spec, module, lock, jobs_per_worker(spec))
    prefix = f"[worker {worker}] " if spec.workers > 1 else ""
    ran = 0
    while spec.deadline is None or time.time() < spec.deadline:
        lock.acquire()
        try:
            if isinstance(storage, optuna.storages.RDBStorage):
                optuna.storages.fail_stale_trials(study)  # trials of dead workers elsewhere (heartbeat)
            fail_dead_trials(study)
            if spec.trials is not None and claimed(study) >= spec.trials:
                break
            objective.last = None
            study.optimize(objective, n_trials=1, catch=())  # the objective releases the lock once its trial runs
        finally:
            lock.release()
        ran += 1
        if not spec.quiet and objective.last is not None:
            print(prefix + _line(study, objective.last, TrialState), flush=True)
    return ran


def _line(study: Any, number: int, states: Any) -> str:
    t = study.get_trials(deepcopy=False)[number]
    secs = t.user_attrs.get("seconds", 0.0)
    if t.state == states.COMPLETE:
        best = study.best_trial  # exists: this trial is complete
        mark = "  (best)" if best.number == number else f"  best {best.value:.5f} (trial {best.number})"
        return f"trial {number}: {t.value:.5f} in {secs:.1f}s{mark}"
    if t.state == states.PRUNED:
        last = max(t.intermediate_values) if t.intermediate_values else None
        return f"trial {number}: pruned at step {last} in {secs:.1f}s"
    return f"trial {number}: {t.state.name.lower()}"


def _entry(spec: TuneSpec, worker: int, gpu: str | None) -> None:
    """Spawned worker process: pin the GPU before anything imports torch, then work."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    try:
        work(spec, worker)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(spec: TuneSpec) -> list[int]:
    """Run spec.workers worker processes (in this process when 1); return their exit codes."""
    if spec.workers <= 1:
        work(spec, 0)
        return [0]
    import multiprocessing as mp

    n_gpus = cuda_device_count()
    gpus = gpu_assignment(spec.workers, n_gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    if n_gpus > 1 and spec.workers > n_gpus and not spec.quiet:
        print(f"tune: {spec.workers} workers share {n_gpus} GPUs (one trial per GPU needs --workers {n_gpus})")
    ctx = mp.get_context("spawn")  # fresh interpreters: no forked CUDA or database connections
    procs = [ctx.Process(target=_entry, args=(spec, i, gpus[i]), name=f"tune-worker-{i}") for i in range(spec.workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:  # the workers got the same SIGINT: they fail their running trial and stop
        for p in procs:
            p.join()
        raise
    return [p.exitcode if p.exitcode is not None else 1 for p in procs]
