"""One trial: the competition's search space -> a params file -> a runner run under the study folder -> its CV."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pipeline import atomic
from pipeline.config import apply_overrides
from pipeline.contract import ContractError, competition_name
from pipeline.tuning.pruning import Reporter, StepPlan
from pipeline.tuning.storage import ClaimLock, host
from pipeline.tuning.study import TuneSpec


def trial_overrides(spec: TuneSpec, suggested: dict[str, Any]) -> dict[str, Any]:
    """A trial's complete Config overrides: preset and --params, then the search space, then --set (fixed)."""
    if not isinstance(suggested, dict):
        raise ContractError(f"search_space(trial) must return a dict of Config overrides, got {type(suggested)}.")
    merged = {**spec.base, **suggested, **spec.fixed}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}


def step_plan(
    module: Any, overrides: dict[str, Any], folds: int | None, models: list[str] | None, sample: bool = False
) -> StepPlan:
    """The model order and fold count the runner will use for these overrides (resolved as the runner does: on the
    built-in sample, over the competition's sample preset)."""
    from pipeline.fitting import accepts_context
    from pipeline.folds import resolve_folds
    from pipeline.sample_preset import sample_config

    if sample:
        config = sample_config(module, overrides)[0]
    else:
        config = apply_overrides(module.Config, overrides, source="search space")
    cfg, folding = resolve_folds(module, config, folds)
    selected = module.models(cfg)
    names = tuple(models) if models else tuple(selected)
    return StepPlan(names, folding.n_folds, epochs=any(accepts_context(selected[m]) for m in names if m in selected))


def trial_tag(number: int) -> str:
    """Run folder tag of a trial."""
    return f"trial{number:04d}"


def find_run_dir(study_dir: Path, competition: str, number: int) -> Path | None:
    """A trial's run folder (also when it was pruned and run() returned nothing)."""
    found = sorted((study_dir / competition).glob(f"*-{trial_tag(number)}*"))
    return found[-1] if found else None


class Objective:
    """Optuna objective: runs the pipeline for one trial and returns its blended CV score."""

    def __init__(self, spec: TuneSpec, module: Any, lock: ClaimLock, jobs: int) -> None:
        self.spec, self.module, self.lock, self.jobs = spec, module, lock, jobs
        self.name = competition_name(module)
        self.study_dir = Path(spec.study_dir)
        self.last: int | None = None
        self.warned: set[str] = set()

    def __call__(self, trial: Any) -> float:
        """Run one trial; the runner's fold reports drive the pruner."""
        from pipeline.runner import RunOptions, run

        try:  # tag the new RUNNING trial with its worker, then let the next local worker claim a trial
            trial.set_user_attr("host", host())
            trial.set_user_attr("pid", os.getpid())
        finally:
            self.lock.release()
        self.last = trial.number
        suggested = self.module.search_space(trial)
        overrides = trial_overrides(self.spec, suggested)
        clash = sorted((set(suggested) & set(self.spec.fixed)) - self.warned)
        if clash and not self.spec.quiet:
            print(f"tune: --set fixes {', '.join(clash)}; the search space's values for them are ignored", flush=True)
        self.warned |= set(clash)
        plan = step_plan(self.module, overrides, self.spec.folds, self.spec.models, self.spec.sample)
        params = self.study_dir / "params" / f"{trial_tag(trial.number)}.json"
        atomic.write_json(params, overrides)
        trial.set_user_attr("params_file", str(params))
        trial.set_user_attr("overrides", overrides)  # in the storage too: other machines see the best params
        opts = RunOptions(
            competition=self.spec.competition,
            data=self.spec.data,
            sample=self.spec.sample,
            params=str(params),
            seed=self.spec.seed,
            folds=self.spec.folds,
            tag=trial_tag(trial.number),
            models=self.spec.models,
            jobs=self.jobs,
            runs_root=str(self.study_dir),
            submissions_root=str(self.study_dir / "submissions"),
            quiet=True,
            refit=False,  # a trial is scored by its CV: a refit on every row would only add a fit per model
            report=Reporter(trial, plan),
        )
        t0 = time.monotonic()
        try:
            run_dir = run(opts)
        finally:
            found = find_run_dir(self.study_dir, self.name, trial.number)
            if found is not None:
                trial.set_user_attr("run_dir", str(found))
            trial.set_user_attr("seconds", round(time.monotonic() - t0, 3))
        summary = atomic.read_json(run_dir / "summary.json")
        trial.set_user_attr("models", {m: r["mean"] for m, r in summary["models"].items()})
        return float(summary["cv"])
