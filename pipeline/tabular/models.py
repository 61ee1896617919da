"""The generic tabular model set: LightGBM, XGBoost, CatBoost with early stopping, and a regularised linear model.

Each boosted model encodes the raw frame for its family (features.tabular.TabularEncoder, fitted on the training
rows only), stops early on the validation rows the runner hands over in FitContext.eval_set (the fold's validation
rows; `valid_fraction > 0` holds out a share of the training rows instead, and so does a fit without a context),
predicts with its best iteration, and returns when the fit's deadline passes (models already fitted are kept).
`early_stopping = 0` grows every tree of `n_estimators` on all the training rows, with no validation rows: how the
runner's refit on every training row fits it (`refit_params`: the trees a fold stopped at, scaled to the rows).

Bagging: `bag > 1` averages that many seeds (seed bagging). `bag_folds = k > 1` fits k models on k inner folds of
the training rows, each stopped early on its own inner validation rows, and averages them (k-fold bagging); with
`bag > 1` the inner folds are drawn again per seed (repeated k-fold). Inner bagging never looks at the runner's
validation rows, so the fold's score is fully out of sample, early stopping included.

Device: on a GPU (FitContext.device "cuda" or "cuda:N", which the runner sets when torch sees one) XGBoost trains
with device="cuda" and CatBoost with task_type="GPU"; both predict on the CPU, so a saved model predicts anywhere.
CatBoost's GPU mode takes no callbacks, which a fit's deadline needs, so under --time-limit it stays on the CPU; when
the GPU refuses a fit (no usable device, an option its GPU mode lacks) it fits on the CPU with a warning. LightGBM's
pip wheel has no CUDA build: it stays on the CPU.

Threads: each library gets n_jobs threads as given (thread_count for CatBoost; 0 or less: all cores). The runner
decides them (pipeline.fitting.default_jobs: one thread below 2M training cells unless --jobs) and sets every n_jobs
parameter; outside the runner a model uses one thread unless told otherwise.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from features.tabular import TabularEncoder
from pipeline.fitting import derived_seed

LIBRARIES = ("lightgbm", "xgboost", "catboost")
# each library's own parameter for a regression objective: absolute error, for competitions scored by MAE (the
# libraries' early stopping then watches absolute error too: their default validation metric follows the objective)
OBJECTIVES = {
    "l1": {
        "lightgbm": {"objective": "l1"},
        "xgboost": {"objective": "reg:absoluteerror"},
        "catboost": {"loss_function": "MAE"},
    }
}


def transform_target(y: np.ndarray, transform: str | None) -> np.ndarray:
    """A regression target on the scale its models fit: log(1 + y) for "log1p" (negatives clipped), else y."""
    y = np.asarray(y, dtype=float)
    return np.log1p(np.clip(y, 0, None)) if transform == "log1p" else y


def fit_target(y: np.ndarray, task: str, transform: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The target as a tabular model fits it, and the classes: a regression's on its fitting scale
    (transform_target) with None; a classification's as indices into its sorted classes (those of the rows given)."""
    if task == "regression":
        return transform_target(y, transform), None
    classes = np.unique(y)
    return np.searchsorted(classes, y), classes


def inverse_target(p: np.ndarray, transform: str | None) -> np.ndarray:
    """Predictions on that scale back on the target's."""
    return np.expm1(p) if transform == "log1p" else p


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class Boosted(BaseEstimator):
    """A gradient-boosted tree model on raw tabular data, early-stopped, for regression or classification."""

    library: str = "lightgbm"
    task: str = "regression"
    n_estimators: int = 3000
    learning_rate: float = 0.03
    early_stopping: int = 100
    params: dict[str, Any] | None = None
    target_transform: str | None = None
    objective: str | None = None  # regression: "l1" (absolute error); None: squared error, or log loss for classes
    valid_fraction: float = 0.0
    bag: int = 1
    bag_folds: int = 0
    random_state: int = 0
    n_jobs: int = 1
    target_encoding: bool = True  # high-cardinality codes as their mean target (cross-fitted); False: not (drift)

    # ---- fit
    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> Boosted:
        """Encode the training rows, then fit each planned model stopped early on its validation rows."""
        if self.library not in LIBRARIES:
            raise ValueError(f"Boosted: library must be one of {LIBRARIES}, got {self.library!r}.")
        if self.objective is not None and (self.objective not in OBJECTIVES or self.task != "regression"):
            raise ValueError(
                f"Boosted: objective must be one of {tuple(OBJECTIVES)} for regression (or None), got "
                f"{self.objective!r} for {self.task}."
            )
        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.asarray(y)
        self.n_train_ = len(y)
        deadline = getattr(context, "deadline", None)
        eval_set = getattr(context, "eval_set", None)
        self.device_ = self._device(str(getattr(context, "device", None) or "cpu"), deadline)
        y_fit, classes = fit_target(y, self.task, self.target_transform)
        if classes is not None:
            self.classes_ = classes
        self.encoder_ = TabularEncoder(
            self.library, self.task, target_encoding=self.target_encoding, random_state=self.random_state
        )
        E = self.encoder_.fit_transform(X, y_fit)  # target encoding cross-fitted: inner validation rows stay clean
        self.threads_ = self.n_jobs if self.n_jobs and self.n_jobs > 0 else -1
        self.models_, self.best_iterations_ = [], []
        self.deadline_reached_ = False  # set when the deadline stopped a model or left a planned one out
        plans = list(self._plans(E, y_fit, eval_set))
        for i, (E_tr, y_tr, E_va, y_va, seed) in enumerate(plans):
            if deadline is not None and i > 0 and time.monotonic() > deadline:
                self.deadline_reached_ = True
                break
            share = None if deadline is None else time.monotonic() + (deadline - time.monotonic()) / (len(plans) - i)
            model, best = getattr(self, f"_fit_{self.library}")(E_tr, y_tr, E_va, y_va, seed, share)
            self.models_.append(model)
            self.best_iterations_.append(best)
        return self

    def refit_params(self, n_rows: int) -> dict[str, Any]:
        """The parameters that refit this model on `n_rows` rows with no validation rows (the runner's refit on every
        training row): the trees this fit stopped at on average, scaled by n_rows over the rows it trained on, and no
        early stopping. None needed when it stops on rows of its own (inner bagging folds, `valid_fraction`)."""
        if self.bag_folds > 1 or self.valid_fraction > 0 or self.early_stopping <= 0:
            return {}
        trees = float(np.mean(self.best_iterations_)) * n_rows / max(1, self.n_train_)
        return {"n_estimators": max(1, round(trees)), "early_stopping": 0}

    def refit_holdout(self) -> dict[str, Any]:
        """What a fit with no validation rows handed over (the runner's refit on every training row) still keeps out
        of training to stop early, as `_plans` does it: {"inner_folds": k, "bag": n} (n x k models, each stopped on
        the inner fold it leaves out), {"fraction": f} (a seeded share held out), or {} (every row, every tree)."""
        stopping = self._stopping(None)
        if stopping == "inner_folds":
            return {"inner_folds": int(self.bag_folds), "bag": max(1, int(self.bag))}
        return {"fraction": self._holdout_share()} if stopping == "holdout" else {}

    def _stopping(self, eval_set: Any) -> str:
        """Where the fit stops early: "none" (early stopping off: every row), "inner_folds" (bag_folds), "holdout"
        (valid_fraction, or no validation rows handed over) or "runner" (the runner's validation rows)."""
        if self.early_stopping <= 0 and self.bag_folds <= 1 and self.valid_fraction <= 0:
            return "none"
        if self.bag_folds > 1:
            return "inner_folds"
        return "holdout" if self.valid_fraction > 0 or eval_set is None else "runner"

    def _holdout_share(self) -> float:
        """The share of the training rows a "holdout" fit stops on: valid_fraction, else 10%."""
        return float(self.valid_fraction or 0.1)

    def _device(self, device: str, deadline: float | None) -> str:
        """Where this library trains: the runner's CUDA device for XGBoost, and for CatBoost without a deadline
        (its GPU mode refuses the deadline callback); else the CPU."""
        if not device.startswith("cuda") or self.library == "lightgbm":
            return "cpu"
        return device if self.library == "xgboost" or deadline is None else "cpu"

    def _plans(self, E: pd.DataFrame, y: np.ndarray, eval_set: Any) -> Any:
        """(train, y, valid, y, seed) per model: bag x inner folds, bag x holdout, bag x the runner's rows, or (early
        stopping off) bag x every row with no validation rows."""
        n_bag = max(1, int(self.bag))
        classify = self.task != "regression"
        stopping = self._stopping(eval_set)
        if stopping == "none":
            for r in range(n_bag):
                yield E, y, None, None, derived_seed(self.random_state, r)
            return
        if stopping == "inner_folds":
            for r in range(n_bag):
                seed = derived_seed(self.random_state, r)
                kind = StratifiedKFold if classify and np.bincount(y).min() >= self.bag_folds else KFold
                for tr, va in kind(self.bag_folds, shuffle=True, random_state=seed).split(E, y):
                    yield E.iloc[tr], y[tr], E.iloc[va], y[va], seed
            return
        if stopping == "holdout":
            stratify = y if classify and np.bincount(y).min() > 1 else None
            for r in range(n_bag):
                tr, va = train_test_split(
                    np.arange(len(y)),
                    test_size=self._holdout_share(),
                    random_state=derived_seed(self.random_state, r),
                    stratify=stratify,
                )
                yield E.iloc[tr], y[tr], E.iloc[va], y[va], derived_seed(self.random_state, r)
            return
        X_va, y_va = eval_set
        y_va = np.asarray(y_va)
        if classify:
            keep = np.isin(y_va, self.classes_)  # a class absent from the training rows cannot be validated on
            X_va, y_va = X_va.iloc[np.flatnonzero(keep)], np.searchsorted(self.classes_, y_va[keep])
        else:
            y_va = transform_target(y_va, self.target_transform)
        E_va = self.encoder_.transform(X_va)
        for r in range(n_bag):
            yield E, y, E_va, y_va, derived_seed(self.random_state, r)

    def _objective(self) -> dict[str, Any]:
        """This library's parameters for `objective` (none for the default)."""
        return OBJECTIVES[self.objective][self.library] if self.objective else {}

    def _n_classes(self) -> int:
        return len(self.classes_) if self.task != "regression" else 0

    def _fit_lightgbm(self, E: Any, y: Any, E_va: Any, y_va: Any, seed: int, deadline: float | None) -> tuple:
        import lightgbm as lgb

        params = {"num_leaves": 31, "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1}
        params |= {"colsample_bytree": 0.8, "reg_lambda": 1.0, "verbose": -1, "deterministic": True}
        params |= (
            {"force_row_wise": True, "min_data_per_group": 5, "cat_smooth": 10}
            | self._objective()
            | (self.params or {})
        )
        cls = lgb.LGBMRegressor if self.task == "regression" else lgb.LGBMClassifier
        model = cls(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, random_state=seed, n_jobs=self.threads_
        )
        model.set_params(**params)

        def stop_at_deadline(env: Any) -> None:
            if deadline is not None and time.monotonic() > deadline:
                self.deadline_reached_ = True
                raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

        if E_va is None:  # no validation rows: every tree, unless the deadline stops it
            model.fit(E, y, callbacks=[stop_at_deadline])
            return model, int(model.booster_.current_iteration())
        callbacks = [lgb.early_stopping(self.early_stopping, verbose=False), stop_at_deadline]
        model.fit(E, y, eval_X=(E_va,), eval_y=(y_va,), callbacks=callbacks)
        return model, int(model.best_iteration_ or self.n_estimators)

    def _fit_xgboost(self, E: Any, y: Any, E_va: Any, y_va: Any, seed: int, deadline: float | None) -> tuple:
        import xgboost as xgb

        owner = self

        class StopAtDeadline(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if deadline is not None and time.monotonic() > deadline:
                    owner.deadline_reached_ = True
                    return True
                return False

        params = {"max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 1.0}
        params |= {"tree_method": "hist", "max_cat_to_onehot": 8, "device": getattr(self, "device_", "cpu")}
        params |= self._objective() | (self.params or {})
        cls = xgb.XGBRegressor if self.task == "regression" else xgb.XGBClassifier
        model = cls(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            early_stopping_rounds=self.early_stopping if E_va is not None else None,
            enable_categorical=True,
            random_state=seed,
            n_jobs=self.threads_,
            callbacks=[StopAtDeadline()],
            **params,
        )
        model.fit(E, y, eval_set=None if E_va is None else [(E_va, y_va)], verbose=False)
        # the deadline closure is fit-time only (the fitted model must pickle); predict on the CPU, where the frames
        # are (a GPU model given CPU data falls back with a warning each call), and anywhere the model is loaded
        model.set_params(callbacks=None, device="cpu")
        grown = int(model.get_booster().num_boosted_rounds())
        if E_va is None:  # no validation rows: every tree grown (fewer when the deadline stopped it)
            return model, grown
        # no best iteration when the deadline stopped the first round: xgboost asks the callbacks in turn and stops
        # at the first that says stop, so early stopping never saw that round; then every tree grown (one)
        best = getattr(model, "best_iteration", None)
        return model, min(int(best) + 1, grown) if best is not None else grown

    def _fit_catboost(self, E: Any, y: Any, E_va: Any, y_va: Any, seed: int, deadline: float | None) -> tuple:
        import catboost as cb

        owner = self

        class StopAtDeadline:
            def after_iteration(self, info: Any) -> bool:
                if deadline is None or time.monotonic() < deadline:
                    return True
                owner.deadline_reached_ = True
                return False

        # CTR combinations of categorical pairs cost CatBoost 20x the time on House Prices' 43 categoricals
        params = {"depth": 6, "l2_leaf_reg": 3.0, "max_ctr_complexity": 1, "boosting_type": "Plain"}
        params |= {"one_hot_max_size": 10} | self._objective() | (self.params or {})
        if self.task == "multiclass":
            params.setdefault("loss_function", "MultiClass")
        cls = cb.CatBoostRegressor if self.task == "regression" else cb.CatBoostClassifier
        model = cls(
            iterations=self.n_estimators,
            learning_rate=self.learning_rate,
            random_seed=seed,
            thread_count=self.threads_,
            allow_writing_files=False,
            verbose=False,
            **params,
        )
        fit: dict[str, Any] = dict(cat_features=self.encoder_.cat_features_)
        if E_va is not None:
            fit |= dict(eval_set=(E_va, y_va), early_stopping_rounds=self.early_stopping, use_best_model=True)
        if self.device_.startswith("cuda"):  # no deadline here (_device): the GPU mode takes no callbacks
            index = self.device_.partition(":")[2] or "0"
            try:
                gpu = cls(**(model.get_params() | {"task_type": "GPU", "devices": index}))
                gpu.fit(E, y, **fit)
                return gpu, _catboost_trees(gpu, E_va is not None)
            except cb.CatBoostError as e:
                warnings.warn(f"catboost could not train on the GPU ({e}); it trains on the CPU", stacklevel=2)
                self.device_ = "cpu"
        model.fit(E, y, **fit, callbacks=[StopAtDeadline()])
        return model, _catboost_trees(model, E_va is not None)

    # ---- predict
    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        E = self.encoder_.transform(X)
        outs = []
        for model, best in zip(self.models_, self.best_iterations_, strict=True):
            if self.library == "lightgbm":
                kw: dict[str, Any] = {"num_iteration": best}
            elif self.library == "xgboost":
                kw = {"iteration_range": (0, best)}
            else:
                kw = {}
            p = model.predict(E, **kw) if self.task == "regression" else model.predict_proba(E, **kw)
            outs.append(np.asarray(p, dtype=float))
        return np.mean(outs, axis=0)

    # ---- importances
    @property
    def feature_names_in_(self) -> np.ndarray:
        """The raw input columns the model was fitted on."""
        return np.asarray(self.encoder_.feature_names_in_, dtype=object)

    @property
    def encoded_importances_(self) -> pd.Series:
        """Each encoded feature's share of the model's importance (gain; CatBoost: prediction values change), up to
        its best iteration, averaged over the bagged models; the shares sum to 1."""
        fitted = zip(self.models_, self.best_iterations_, strict=True)
        shares = [_importance(self.library, model, best) for model, best in fitted]
        return pd.concat(shares, axis=1).fillna(0.0).mean(axis=1)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Importance per input column (feature_names_in_): the shares of the features encoded from it, summed."""
        return self.encoder_.by_input_column(self.encoded_importances_)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels."""
        if self.task == "regression":
            return inverse_target(self._raw(X), self.target_transform)
        return self.classes_[self._raw(X).argmax(axis=1)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        return self._raw(X)


def _catboost_trees(model: Any, stopped: bool) -> int:
    """The trees a fitted CatBoost model predicts with: its best iteration's when it stopped on validation rows, else
    all it grew."""
    return int(model.get_best_iteration() or 0) + 1 if stopped else int(model.tree_count_)


def _importance(library: str, model: Any, best: int) -> pd.Series:
    """One fitted booster's importance per encoded feature up to its best iteration, as shares summing to 1."""
    if library == "lightgbm":
        booster = model.booster_
        raw = pd.Series(booster.feature_importance("gain", iteration=best), index=booster.feature_name())
    elif library == "xgboost":
        names = model.get_booster().feature_names
        raw = pd.Series(model.get_booster()[:best].get_score(importance_type="total_gain")).reindex(names)
    else:
        raw = pd.Series(model.get_feature_importance(), index=model.feature_names_)
    raw = raw.fillna(0.0).astype(float)
    total = raw.sum()
    return raw / total if total > 0 else raw


class LogTarget(BaseEstimator):
    """Fit a regressor on log(1 + y) and predict back on the original scale."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> LogTarget:
        from sklearn.base import clone

        self.estimator_ = clone(self.estimator).fit(X, transform_target(y, "log1p"))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return inverse_target(self.estimator_.predict(X), "log1p")


def linear(
    task: str, alpha: float = 1.0, target_transform: str | None = None, random_state: int = 0, clip: bool = True
) -> Any:
    """A regularised linear model on one-hot, scaled, target-encoded features: Ridge or logistic regression.

    `alpha` is the L2 strength for both (logistic regression's C is 1/alpha). `clip` holds each numeric feature of
    a predicted row within the training rows' range: a line fitted on ordinary houses, given one larger than any it
    saw, would otherwise price it far beyond any sale (House Prices: 2.4 million for a 160,000 sale).
    """
    encoder = TabularEncoder("linear", task, clip=clip, random_state=random_state)
    if task == "regression":
        model: Any = Ridge(alpha=alpha)
        pipe = Pipeline([("encode", encoder), ("model", model)])
        return LogTarget(pipe) if target_transform == "log1p" else pipe
    return Pipeline([("encode", encoder), ("model", LogisticRegression(C=1.0 / alpha, max_iter=2000))])


def svm(
    task: str,
    C: float = 1.0,
    gamma: float | str = "auto",
    epsilon: float = 0.1,
    target_transform: str | None = None,
    random_state: int = 0,
    clip: bool = True,
) -> Any:
    """A support vector machine with an RBF kernel on the linear model's features (one-hot, scaled, target-encoded):
    SVR on the standardised target, or SVC with Platt-scaled probabilities (a sigmoid fitted on 5 inner folds'
    decision values, scikit-learn's CalibratedClassifierCV). `gamma` "auto" is 1 / the number of features."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    encoder = TabularEncoder("linear", task, clip=clip, random_state=random_state)
    if task == "regression":
        model = TransformedTargetRegressor(SVR(C=C, gamma=gamma, epsilon=epsilon), transformer=StandardScaler())
        pipe = Pipeline([("encode", encoder), ("model", model)])
        return LogTarget(pipe) if target_transform == "log1p" else pipe
    svc = SVC(C=C, gamma=gamma, random_state=random_state)
    platt = CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False)
    return Pipeline([("encode", encoder), ("model", platt)])
