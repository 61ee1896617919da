"""House Prices: the second round of candidates (`house_prices_candidates.py --more`), and four level-2 models.

Each factory takes the recipe's Config and returns an unfitted model predicting prices, fitted by the candidates
script on the default run's folds like the first round's. The round: monotone constraints (prices that only rise with
the overall grade, the living and total areas, the garage's cars and the year built) for LightGBM and XGBoost and for
scikit-learn's histogram boosting; LightGBM's extremely randomised and dart modes; extra trees on the linear models'
features; kernel ridge with a laplacian kernel; SVR on the features the lasso keeps; SVR with a wider epsilon. Their
gammas, alpha and epsilon were picked on one fold of another split (3-fold KFold, seed 1), not on the run's folds.
The level-2 models take the recipe's out-of-fold predictions (two of them also a few raw columns) and are themselves
scored out of fold on the same folds: each fold's rows are priced by a level-2 model fitted on the other folds' rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.pipeline import Pipeline

from competitions.house_prices import recipe

# Prices rise with these, all else equal (after the recipe's Box-Cox, which keeps every order).
INCREASING = ("OverallQual", "GrLivArea", "TotalSF", "GarageCars", "YearBuilt")
# Raw columns the level-2 models see beside the recipe's predictions.
LEVEL2_NUMBERS = ("GrLivArea", "OverallQual", "OverallCond", "TotalBsmtSF", "LotArea", "YearBuilt", "GarageCars")
LEVEL2_FLAGS = {"SaleCondition": ("Abnorml", "Family", "Partial"), "MSZoning": ("C (all)", "RM")}


def _on_log(model: Any) -> Any:
    from sklearn.compose import TransformedTargetRegressor

    return TransformedTargetRegressor(model, func=np.log, inverse_func=np.exp, check_inverse=False)


class Monotone(RegressorMixin, BaseEstimator):
    """A preprocessing + booster Pipeline whose booster is held increasing in the INCREASING columns: the names come
    from the preprocessing fitted on the training rows, the constraint goes to `param` of the final step."""

    def __init__(self, pipe: Any = None, param: str = "monotone_constraints", as_text: bool = False) -> None:
        self.pipe = pipe
        self.param = param
        self.as_text = as_text

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Monotone:
        self.pipe_ = clone(self.pipe)
        Z = self.pipe_[:-1].fit_transform(X, y)
        signs = [int(str(c) in INCREASING) for c in self.pipe_[-2].get_feature_names_out()]
        value: Any = "(" + ",".join(map(str, signs)) + ")" if self.as_text else signs
        self.pipe_[-1].set_params(**{self.param: value})
        self.pipe_[-1].fit(Z, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipe_.predict(X)


class Centred(RegressorMixin, BaseEstimator):
    """`model` fitted on the target minus its training mean: LightGBM's dart mode does not start from the mean, and
    500 trees at 0.1 do not climb to a log price of 12 (0.24 RMSE on a trial fold uncentred, 0.126 centred)."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def fit(self, X: Any, y: np.ndarray) -> Centred:
        self.mean_ = float(np.mean(y))
        self.model_ = clone(self.model).fit(X, np.asarray(y) - self.mean_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(X) + self.mean_


def _trees(model: Any, linear: bool = False) -> Callable[[Any], Any]:
    return lambda cfg: _on_log(Pipeline([*recipe.preprocess(cfg, linear=linear), ("model", model(cfg))]))


def _monotone(model: Callable[[Any], Any], param: str = "monotone_constraints", as_text: bool = False) -> Any:
    def make(cfg: Any) -> Any:
        pipe = Pipeline([*recipe.preprocess(cfg, linear=False), ("model", model(cfg))])
        return _on_log(Monotone(pipe, param, as_text))

    return make


def _hist(cfg: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        max_iter=600, learning_rate=0.06, max_leaf_nodes=6, min_samples_leaf=10, l2_regularization=1.0,
        max_features=0.3, early_stopping=False,
    )  # fmt: skip


def _lasso_svr(gamma: float) -> Callable[[Any], Any]:
    """The recipe's svr on the columns the recipe's lasso keeps (selected on the training fold)."""
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import Lasso
    from sklearn.svm import SVR

    def make(cfg: Any) -> Any:
        select = SelectFromModel(Lasso(alpha=cfg.lasso_alpha, max_iter=50000), threshold=1e-6)
        svr = SVR(C=cfg.svr_c, epsilon=cfg.svr_epsilon, gamma=gamma)
        return _on_log(Pipeline([*recipe.preprocess(cfg, linear=True), ("select", select), ("model", svr)]))

    return make


def _linear_model(est: Any) -> Callable[[Any], Any]:
    return lambda cfg: _on_log(Pipeline([*recipe.preprocess(cfg, linear=True), ("model", clone(est))]))


PARTS = ("monotone", "boosters", "linear")  # run apart: each part's run stays under 12 minutes on 2 busy cores


def candidates(part: str) -> dict[str, Callable[[Any], Any]]:
    """name -> factory(cfg) of an unfitted model predicting prices: one part of the second round."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.svm import SVR

    lgbm = lambda cfg: recipe._trees(cfg)["lightgbm"]  # noqa: E731
    monotone = {
        "lightgbm, monotone in sizes and grades": _monotone(lgbm),
        "xgboost, monotone in sizes and grades": _monotone(lambda cfg: recipe._trees(cfg)["xgboost"], as_text=True),
        "hist gradient boosting, monotone": _monotone(_hist, "monotonic_cst"),
    }
    boosters = {
        "hist gradient boosting": _trees(_hist),
        "lightgbm, extra trees": _trees(lambda cfg: clone(lgbm(cfg)).set_params(extra_trees=True, n_estimators=1500)),
        "lightgbm, dart": _trees(
            lambda cfg: Centred(clone(lgbm(cfg)).set_params(boosting_type="dart", n_estimators=300, learning_rate=0.15))
        ),
    }
    linear = {
        "extra trees on the linear features": _trees(
            lambda cfg: ExtraTreesRegressor(500, max_features=0.3, min_samples_leaf=2), linear=True
        ),
        "kernel ridge, laplacian kernel": _linear_model(KernelRidge(alpha=0.01, kernel="laplacian", gamma=0.0005)),
        "svr on the lasso's columns": _lasso_svr(0.0003),
        "svr, epsilon 0.05": _linear_model(SVR(C=20.0, epsilon=0.05, gamma=0.0003)),
    }
    return {"monotone": monotone, "boosters": boosters, "linear": linear}[part]


def _level2_frame(oof: dict[str, np.ndarray], X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """The models' log predictions, the logs of the raw sizes, the raw grades and the unusual-sale flags."""
    cols = {f"log_{m}": np.log(np.where(np.isfinite(v), v, y)) for m, v in oof.items()}  # fold -1: never used
    for c in LEVEL2_NUMBERS:
        v = X[c].astype(float).fillna(0.0).to_numpy()
        cols[c] = np.log1p(v) if v.max() > 100 else v
    for c, values in LEVEL2_FLAGS.items():
        cols |= {f"{c}={v}": (X[c].astype(str) == v).to_numpy(float) for v in values}
    return pd.DataFrame(cols, index=X.index)


def _level2_model(kind: str) -> Any:
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    if kind == "gbm":
        return recipe._lightgbm(200, 0.02, 4, min_child_samples=30, subsample_freq=1, random_state=0, n_jobs=2)
    if kind == "positive_ten":
        return LinearRegression(positive=True)
    return Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=10.0))])


def level2(
    kind: str, oof: dict[str, np.ndarray], blend_oof: np.ndarray, X: pd.DataFrame, y: np.ndarray, folds: np.ndarray
) -> np.ndarray:
    """Out-of-fold prices of a level-2 model: "ridge" (a ridge on the recipe's ten log predictions and the raw
    columns), "ridge_ten" (the ten alone), "positive_ten" (non-negative weights on the ten alone: the framework's
    stack, a check) or "gbm" (a shallow LightGBM on the raw columns and the blend's log price, fitted to the blend's
    log residual and added to it). Fold f's rows are priced by a model fitted on the other scored folds only."""
    Z = _level2_frame(oof, X, y)
    base = np.log(np.where(folds >= 0, blend_oof.reshape(-1), y))
    if kind == "gbm":
        Z = Z[[c for c in Z.columns if not c.startswith("log_")]].assign(blend=base)
    elif kind.endswith("_ten"):
        Z = Z[[c for c in Z.columns if c.startswith("log_")]]
    target = np.log(y) - (base if kind == "gbm" else 0.0)
    out = np.full(len(y), np.nan)
    for f in np.unique(folds[folds >= 0]):
        tr, va = (folds != f) & (folds >= 0), folds == f
        model = _level2_model(kind).fit(Z[tr], target[tr])
        out[va] = model.predict(Z[va]) + (base[va] if kind == "gbm" else 0.0)
    return np.exp(out)
