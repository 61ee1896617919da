"""The study: its settings, sampler and pruner, and the trial accounting shared by all workers."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.contract import ContractError
from pipeline.tuning.pruning import StepPlan
from pipeline.tuning.storage import host, open_storage, pid_alive

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
# Settings that change what a trial's score means: a study resumed with different ones would mix incomparable trials
# (the data path is left out: it differs between machines that share a study).
SCORED_SETTINGS = ("competition", "sample", "base", "fixed", "folds", "seed", "models")


@dataclass
class TuneSpec:
    """Everything a tuning worker needs (picklable: it is sent to spawned worker processes)."""

    competition: str
    study: str
    storage: str
    study_dir: str
    direction: str
    data: str | None = None
    sample: bool = False
    base: dict[str, Any] = field(default_factory=dict)  # preset + --params file: the search space overrides these
    fixed: dict[str, Any] = field(default_factory=dict)  # --set: fixed, win over the search space
    folds: int | None = None
    seed: int = 0
    models: list[str] | None = None
    jobs: int | None = None
    trials: int | None = None  # the study's total of finished (complete + pruned) trials
    deadline: float | None = None  # time.time() after which no new trial starts
    sampler: str = "tpe"
    pruner: str = "median"
    startup: int = 5
    warmup_folds: int = 0  # the median pruner judges a trial from its N-th finished fold on (0: from the start)
    workers: int = 1
    quiet: bool = False

    def settings(self) -> dict[str, Any]:
        """The settings that must stay equal when a study is resumed."""
        d = asdict(self)
        return {k: d[k] for k in SCORED_SETTINGS}


def make_sampler(spec: TuneSpec, worker: int, n_existing: int) -> Any:
    """Seeded sampler; the seed also depends on the worker and on the study's progress, so parallel workers and a
    resumed study do not replay the same random draws."""
    import optuna

    seed = (spec.seed * 1_000_003 + worker * 10_007 + n_existing) % 2**32
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup, constant_liar=spec.workers > 1)


def make_pruner(spec: TuneSpec, plan: StepPlan) -> Any:
    """Median (after `startup` finished trials and `warmup_folds` folds), Hyperband over the step axis, or none."""
    import optuna

    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup, n_warmup_steps=plan.warmup(spec.warmup_folds))
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto", reduction_factor=3)
    return optuna.pruners.NopPruner()


def create_or_check(spec: TuneSpec) -> Any:
    """Create the study (or load it to resume) and refuse to resume it with different settings."""
    import optuna

    storage = open_storage(spec.storage)
    study = optuna.create_study(study_name=spec.study, storage=storage, direction=spec.direction, load_if_exists=True)
    if study.direction.name.lower() != spec.direction:
        raise ContractError(
            f"Study '{spec.study}' {study.direction.name.lower()}s, but the metric of "
            f"{spec.competition} needs {spec.direction}. Use another --study name."
        )
    saved = study.user_attrs.get("tune_settings")
    now = spec.settings()
    if saved is None:
        study.set_user_attr("tune_settings", now)
    else:
        diff = [k for k in now if saved.get(k) != _jsonish(now[k])]
        if diff:
            shown = "; ".join(f"{k}: was {saved.get(k)!r}, now {now[k]!r}" for k in diff)
            raise ContractError(
                f"Study '{spec.study}' was created with other settings ({shown}). Resume it with "
                "the same options, or pick a new --study name."
            )
    return study


def enqueue_start(study: Any, module: Any, spec: TuneSpec) -> dict[str, Any]:
    """Queue the settings the study starts from (Config defaults, --preset, --params, --set) as its first trial, so
    its best is never worse on CV than not tuning. Unless a start trial is already queued, running or finished: one
    that failed (a tune killed during it) is queued again. Each search-space parameter named after a Config field
    whose starting value lies in the space is queued, the others are sampled. Returns them."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    from pipeline.config import apply_overrides

    starts = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("start")]
    if any(t.state != TrialState.FAIL for t in starts):
        return {}
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=spec.seed)).ask()
    module.search_space(probe)  # which parameters the space asks for, and their ranges
    cfg = apply_overrides(module.Config, {**spec.base, **spec.fixed})
    start = {}
    for name, dist in probe.distributions.items():
        value = getattr(cfg, name, None)
        if isinstance(dist, CategoricalDistribution):
            inside = value in dist.choices
        else:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            inside = number and dist.low <= value <= dist.high
        if inside:
            start[name] = value
    if start:
        study.enqueue_trial(start, user_attrs={"start": True})
    return start


def _jsonish(v: Any) -> Any:
    """What a value looks like after a JSON round trip through the storage."""
    import json

    return json.loads(json.dumps(v))


def fail_dead_trials(study: Any) -> list[int]:
    """Fail RUNNING trials whose worker process on this machine has died (killed tune, crash); return their numbers.

    Trials of other machines are left to the storage's heartbeat (RDB storages).
    """
    from optuna.trial import TrialState

    me, dead = host(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") == me and isinstance(pid, int) and not pid_alive(pid):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            dead.append(t.number)
    return dead


def claimed(study: Any) -> int:
    """Trials that count towards --trials: finished (complete or pruned) and running ones."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))


def study_dir_for(runs_root: Path, competition: str, study: str) -> Path:
    """runs/<competition>/tune-<study>/: the study's trial run folders, params, plots and results."""
    return runs_root / competition / f"tune-{study}"
