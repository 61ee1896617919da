"""Pruning with cross-validation: intermediate values on a step axis that means the same thing in every trial.

A trial runs its models in a fixed order and each model over the same seeded folds, so the pair (model, fold) names
the same piece of work in every trial of a study. The step of a report is that pair's position in the run:

    fold-level (tabular):  step = model_index * n_folds + fold
    epoch-level (torch):   step = (model_index * n_folds + fold) * EPOCH_STRIDE + epoch
                           (and the end of that fold at ... + EPOCH_STRIDE - 1)

The value at a step is the running mean of the current model's finished folds; an epoch-level report counts the
current fold's validation score at that epoch as one more fold. Pruners (median, hyperband) then compare trials at
equal steps, that is on the same model, the same folds and the same epoch. This holds as long as every trial runs the
same models in the same order with the same folds: do not tune `models` or `folds` together with a pruner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Room for this many epochs per fold on the epoch-level step axis (later epochs share the last slot).
EPOCH_STRIDE = 1000


@dataclass(frozen=True)
class StepPlan:
    """How a trial's reports map to steps: the model order, the folds per model, epoch-level or not."""

    models: tuple[str, ...]
    n_folds: int
    epochs: bool = False

    def step(self, model: str, fold: int, epoch: int | None = None) -> int:
        """Monotone step of a report: fold end when epoch is None, else that epoch of the fold."""
        slot = self.models.index(model) * self.n_folds + fold
        if not self.epochs:
            return slot
        inner = EPOCH_STRIDE - 1 if epoch is None else min(max(int(epoch), 0), EPOCH_STRIDE - 2)
        return slot * EPOCH_STRIDE + inner

    def warmup(self, folds: int) -> int:
        """Pruners' warm-up in steps: no pruning before the `folds`-th fold (over the models in order) has finished."""
        if folds <= 0:
            return 0
        slot = folds - 1
        return slot if not self.epochs else slot * EPOCH_STRIDE + EPOCH_STRIDE - 1


@dataclass
class Reporter:
    """The runner's `report` callback for one trial: reports to Optuna and raises TrialPruned when told to.

    Fold-level dicts come from the runner: {"model", "fold", "score", "folds_done", "running_mean"}.
    Epoch-level dicts come from estimators via FitContext.report_epoch: {"model", "fold", "epoch", "score"}, with
    epoch counted from 0 and score the competition metric on the fold's validation rows after that epoch.
    """

    trial: Any
    plan: StepPlan
    done: dict[str, list[float]] = field(default_factory=dict)
    last_step: int = -1

    def __call__(self, report: dict[str, Any]) -> None:
        """Report one intermediate value; prune the trial when the pruner says so."""
        import optuna

        model, fold, score = report["model"], int(report["fold"]), float(report["score"])
        finished = self.done.setdefault(model, [])
        if "epoch" in report:
            step = self.plan.step(model, fold, int(report["epoch"]))
            value = (sum(finished) + score) / (len(finished) + 1)
        else:
            finished.append(score)
            step = self.plan.step(model, fold)
            value = float(report.get("running_mean", sum(finished) / len(finished)))
        if step <= self.last_step:  # a repeated epoch (e.g. resumed fit): keep the step axis strictly increasing
            return
        self.last_step = step
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"{model} fold {fold}"
                + (f" epoch {report['epoch']}" if "epoch" in report else "")
                + f": running mean {value:.5g} at step {step}"
            )

    def __deepcopy__(self, memo: dict[int, Any]) -> Reporter:
        # dataclasses.asdict(RunOptions) deep-copies every field; the trial (storage, locks) must not be copied.
        return self
