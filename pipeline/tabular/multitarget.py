"""Several targets with single-target models: one clone of the model per target column, predictions rows x targets.

Each per-target model gets the runner's FitContext with its own target's validation column (early stopping on it)
and an equal share of the time left to the fit's deadline; bagging and the rest are the wrapped model's own. For
binary targets (multi-label) the predictions are each target's positive-class probability, so the runner, the blend
and the stack see rows x targets numbers either way (Data.classes is None); a label metric (accuracy, f1) thresholds
them at 0.5 when it scores, and the submission writer does the same when the sample asks for labels. A regression
target missing on some rows (NaN: Facial Keypoints' unmarked keypoints) is fitted on the rows that have it, and
validated on those too; every row gets a prediction of every target.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from pipeline.fitting import accepts_context


class MultiTarget(BaseEstimator):
    """`estimator` fitted once per column of y (rows x targets); `task` "regression" or "binary" (multi-label)."""

    def __init__(
        self, estimator: Any = None, task: str = "regression", per_target_params: list[dict[str, Any]] | None = None
    ) -> None:
        self.estimator = estimator
        self.task = task
        self.per_target_params = per_target_params  # set_params of each target's clone (the runner's refit)

    def fit(self, X: Any, y: Any, context: Any = None) -> MultiTarget:
        """One fitted clone per target column (a column with a single value in these rows: that value)."""
        y = np.asarray(y)
        if y.ndim != 2:
            raise ValueError(f"MultiTarget: y must be rows x targets, got shape {y.shape}.")
        takes_context = self.takes_context
        self.estimators_: list[Any] = []
        k = y.shape[1]
        for j in range(k):
            if self.task != "regression" and len(np.unique(y[:, j])) < 2:
                self.estimators_.append(float(y[0, j]))  # nothing to learn in this fold: the only value seen
                continue
            est = clone(self.estimator)
            if self.per_target_params:
                est.set_params(**self.per_target_params[j])
            X_j, y_j = _present(X, y[:, j])
            if len(y_j) == 0:
                raise ValueError(f"MultiTarget: target {j} has no value on any of the fold's training rows.")
            if takes_context and context is not None:
                est.fit(X_j, y_j, context=self._context(context, j, k))
            else:
                est.fit(X_j, y_j)
            self.estimators_.append(est)
        return self

    @property
    def takes_context(self) -> bool:
        """Whether the wrapped model's fit takes the runner's context: only then does this one fit to a deadline (the
        runner cuts off, or projects from its first fold, a linear model or svm wrapped here as it does one alone)."""
        return accepts_context(self.estimator)

    @property
    def deadline_reached_(self) -> bool:
        """Whether the fit's deadline stopped any target's model short."""
        return any(bool(getattr(est, "deadline_reached_", False)) for est in self.estimators_)

    def refit_params(self, n_rows: int) -> dict[str, Any]:
        """The parameters that refit every target's model on `n_rows` rows with no validation rows: each target's own
        (Boosted.refit_params: the trees its fit stopped at), {} for a model that needs none."""
        params = [
            est.refit_params(n_rows) if hasattr(est, "refit_params") else {}
            for est in self.estimators_  # a float: a target with one value in the fold, nothing fitted
        ]
        return {"per_target_params": params} if any(params) else {}

    def refit_holdout(self) -> dict[str, Any]:
        """What the targets' models, refitted with no validation rows, keep out of training to stop early (their
        refit_holdout, with each target's per_target_params set): the first target's that keeps any, else {}."""
        if not hasattr(self.estimator, "refit_holdout"):
            return {}
        for params in self.per_target_params or [{}]:
            held = clone(self.estimator).set_params(**params).refit_holdout()
            if held:
                return held
        return {}

    @property
    def supports_ddp(self) -> bool:
        """Whether every rank of a torchrun run trains it together: as the wrapped model does (the cnn's networks)."""
        return bool(getattr(self.estimator, "supports_ddp", False))

    @staticmethod
    def _context(context: Any, j: int, k: int) -> Any:
        """The runner's context for target j of k: its validation column, an equal share of the time left, and a
        checkpoint folder of its own (a network's last.pt: a resumed fit of target 1 read target 0's)."""
        changes: dict[str, Any] = {}
        if context.workdir is not None:
            changes["workdir"] = Path(context.workdir) / f"target{j}"
        if context.eval_set is not None:
            X_va, y_va = _present(context.eval_set[0], np.asarray(context.eval_set[1])[:, j])
            changes["eval_set"] = (X_va, y_va) if len(y_va) else None
        if context.deadline is not None:
            now = time.monotonic()
            changes["deadline"] = now + max(0.0, context.deadline - now) / (k - j)
        return dataclasses.replace(context, **changes)

    def predict(self, X: Any) -> np.ndarray:
        """Rows x targets: values (regression) or each target's positive-class probability (binary)."""
        return np.column_stack([self._column(est, X) for est in self.estimators_])

    def _column(self, est: Any, X: Any) -> np.ndarray:
        if isinstance(est, float):
            return np.full(len(X), est)
        if self.task == "regression":
            return np.asarray(est.predict(X), dtype=float).reshape(len(X))
        return np.asarray(est.predict_proba(X), dtype=float)[:, -1]


def _present(X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """The rows of X and of one target column y where the target is present (not NaN: a regression's value missing
    on that row); all of them where none is missing (classes never are)."""
    if not np.issubdtype(np.asarray(y).dtype, np.floating):
        return X, y
    rows = ~np.isnan(y)
    if rows.all():
        return X, y
    taken = X.iloc[rows].reset_index(drop=True) if hasattr(X, "iloc") else np.asarray(X)[rows]
    return taken, y[rows]
