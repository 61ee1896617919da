"""Series lags for a model of the tabular recipe: its target's own past per series as features, fitted per fold.

A competition whose rows are series over time (Store Sales: a store's sales of a family, day by day; SERIES of the
generated file) and whose test follows its training rows by HORIZON steps wraps each model in `Lagged`: at fit it
keeps the training rows' target per (series, step) (features.lags.SeriesLags) and gives the model, beside the raw
columns, each row's target `lag` steps back for each lag >= HORIZON (so every test row has them, the latest test row
being HORIZON steps after the last training time) and its means over `windows` steps ending at the first lag. The
validation rows the runner hands over for early stopping (FitContext.eval_set) and every row predicted get the same
features from the training rows' table only: a validation row's lag never reads a validation target, and where its
lag points inside the validated period it is NaN (the boosters take NaN; the linear model imputes it and flags it
missing). Each forward fold validates HORIZON distinct times (Data.horizon, pipeline/folds.py) so that, as on the
test, every validated row has its lags.

The lags are of the target on the scale the model fits (`target_transform`: log(1 + y) for rmsle), so a lag is the
value the model learns to predict, HORIZON steps earlier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from features.lags import SeriesLags, parse_times, time_step
from pipeline.fitting import accepts_context
from pipeline.tabular.models import transform_target

SEASONS = {"day": 7, "week": 52, "month": 12, "hour": 24}  # the season a step's lags add a whole one of
WINDOWS = {"day": (7, 28), "week": (4, 13), "month": (3, 12), "hour": (24, 168)}  # rolling means per step
OTHER_WINDOWS = (4, 16)


def default_lags(horizon: int, step: str) -> tuple[int, ...]:
    """The lags (in steps) a series gets when the Config names none: days: HORIZON to HORIZON + 6, a week of them (one
    falls on the row's weekday); other steps: HORIZON, HORIZON + 1, HORIZON + 2 and the first whole season at or
    after HORIZON (52 weeks, 12 months, 24 hours)."""
    if step == "day":
        return tuple(range(horizon, horizon + 7))
    lags = [horizon, horizon + 1, horizon + 2]
    if (season := SEASONS.get(step)) is not None:
        lags.append(-(-horizon // season) * season)
    return tuple(sorted(set(lags)))


def default_windows(step: str) -> tuple[int, ...]:
    """The rolling means' widths (in steps) when the Config names none: 7 and 28 days, 4 and 13 weeks, 3 and 12
    months, 24 and 168 hours, else 4 and 16 steps."""
    return WINDOWS.get(step, OTHER_WINDOWS)


@dataclasses.dataclass(frozen=True)
class Series:
    """What model_set wraps each model with: the series columns, the time column, the horizon in steps, and the
    Config's lags and windows (None: default_lags, default_windows; lags (): no series features at all)."""

    columns: Sequence[str]
    time: str
    horizon: int
    lags: tuple[int, ...] | None = None
    windows: tuple[int, ...] | None = None


class Lagged(BaseEstimator):
    """`estimator` fitted on the raw columns plus its series' lags and rolling means (SeriesLags, fitted on the fit's
    own rows, the target on the model's fitting scale)."""

    def __init__(
        self,
        estimator: Any = None,
        series: tuple[str, ...] = (),
        time: str = "",
        horizon: int = 1,
        lags: tuple[int, ...] | None = None,
        windows: tuple[int, ...] | None = None,
        target_transform: str | None = None,
    ) -> None:
        self.estimator = estimator
        self.series = series
        self.time = time
        self.horizon = horizon
        self.lags = lags
        self.windows = windows
        self.target_transform = target_transform

    def check_params(self) -> None:
        """Refuse lags the test rows could not all have (shorter than the horizon) or that are no whole steps."""
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ValueError(f"HORIZON must be a whole number of steps, at least 1; got {self.horizon!r}.")
        for name, values in (("lags", self.lags), ("windows", self.windows)):
            if values is not None and any(not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{name} must be whole numbers of steps, at least 1; got {values!r}.")
        short = [lag for lag in self.lags or () if lag < self.horizon]
        if short:
            raise ValueError(
                f"lag {short[0]} is shorter than HORIZON {self.horizon}: the test rows more than {short[0]} steps "
                f"after the last training time would have no value at it; use lags of {self.horizon} steps or more."
            )

    @property
    def takes_context(self) -> bool:
        """Whether the wrapped model's fit takes the runner's context (fitting.accepts_context)."""
        return accepts_context(self.estimator)

    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> Lagged:
        """Fit the lag table on these rows, then the model on them with their lags; the context's validation rows get
        their lags from the same table."""
        self.check_params()
        X = pd.DataFrame(X).reset_index(drop=True)
        unfitted, times = self._step_lags(X)
        self.lags_ = unfitted.fit(X, self._fit_scale(y), times=times)
        self.estimator_ = clone(self.estimator)
        if self.takes_context and context is not None:
            if context.eval_set is not None:
                X_va, y_va = context.eval_set
                context = dataclasses.replace(context, eval_set=(self._with_lags(X_va), y_va))
            self.estimator_.fit(self.lags_.transform(X), y, context=context)
        else:
            self.estimator_.fit(self.lags_.transform(X), y)
        return self

    def _fit_scale(self, y: Any) -> np.ndarray:
        """The target on the scale the wrapped model fits (a regression's target_transform), whose lags it reads."""
        return transform_target(np.asarray(y, dtype=float), self.target_transform)

    def _step_lags(self, X: pd.DataFrame) -> tuple[SeriesLags, tuple[str | None, np.ndarray]]:
        """The unfitted SeriesLags of these rows' time step (the Config's lags and windows, else the step's defaults)
        and the time column as read (parse_times), which its fit reads again."""
        if self.time not in X:
            raise ValueError(f"series lags: no time column {self.time!r} among the features (is it in Config.drop?).")
        times = parse_times(X[self.time])
        step = time_step(times[1])
        name = step.name if step is not None else ""
        lags = default_lags(self.horizon, name) if self.lags is None else tuple(self.lags)
        windows = default_windows(name) if self.windows is None else tuple(self.windows)
        return SeriesLags(self.series, self.time, lags, windows if lags else ()), times

    def _with_lags(self, X: Any) -> pd.DataFrame:
        """Rows with their lag and mean columns, from the fitted table."""
        return self.lags_.transform(pd.DataFrame(X).reset_index(drop=True))

    def predict(self, X: Any) -> np.ndarray:
        """The wrapped model's predictions for rows given their lags from the training rows."""
        return self.estimator_.predict(self._with_lags(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """The wrapped model's class probabilities for rows given their lags."""
        return self.estimator_.predict_proba(self._with_lags(X))

    @property
    def classes_(self) -> Any:
        """The wrapped model's classes."""
        return self.estimator_.classes_

    @property
    def deadline_reached_(self) -> bool:
        """Whether the fit's deadline stopped the wrapped model short."""
        return bool(getattr(self.estimator_, "deadline_reached_", False))

    @property
    def feature_importances_(self) -> np.ndarray:
        """The wrapped model's importance per input column (the lag and mean columns among them)."""
        return self.estimator_.feature_importances_

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The wrapped model's input columns: the raw ones and the lag and mean columns."""
        return self.estimator_.feature_names_in_

    def refit_params(self, n_rows: int) -> dict[str, Any]:
        """The wrapped model's refit parameters (the trees its fit stopped at), as this wrapper's nested ones."""
        inner = self.estimator_.refit_params(n_rows) if hasattr(self.estimator_, "refit_params") else {}
        return {f"estimator__{k}": v for k, v in inner.items()}

    def refit_holdout(self) -> dict[str, Any]:
        """What the wrapped model, refitted with no validation rows, keeps out of training to stop early."""
        return self.estimator.refit_holdout() if hasattr(self.estimator, "refit_holdout") else {}
