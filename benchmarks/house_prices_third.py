"""House Prices: the third round of candidates (`house_prices_candidates.py --more third`).

Each factory takes the recipe's Config and returns an unfitted model predicting prices, fitted by the candidates
script on the default run's folds like the first two rounds'. The round:
- an Explainable Boosting Machine (interpret-core: a cyclic-boosting GAM with pairwise interactions) on the tree
  models' features, the categorical columns passed natively;
- the recipe's svr and lasso tuned inside each outer training fold by an inner 5-fold grid search (NestedSearch):
  the outer fold's rows are priced by the inner winner refitted on the outer training rows, so their labels never
  choose anything;
- a "comparable sales" column for svr and lasso (ComparableSales): the mean log price per sq ft of the house's k
  nearest training sales, in the same neighbourhood where it has enough of them;
- Gaussian-rank inputs (GaussRank: each numeric column mapped through its training-fold quantiles to a normal)
  instead of the Box-Cox skew correction, for svr and kernel ridge;
- svr on prices deflated by a monthly sale-price index (SaleIndex), re-inflated at prediction;
- svr_boosted with an EBM instead of LightGBM on the svr's residuals.
None of the grids or settings was chosen by a score on the run's folds: the grids bracket the recipe's own settings,
and the EBM's 4 outer bags (the library's default is 14) were set for time. The EBM needs `pip install
interpret-core==0.7.8` (not a project dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from competitions.house_prices import recipe

SVR_GRID = [
    {"C": c, "gamma": g, "epsilon": e}
    for c in (5.0, 10.0, 20.0, 40.0, 80.0)
    for g in (1e-4, 2e-4, 3e-4, 5e-4, 1e-3)
    for e in (0.008, 0.03)
]
LASSO_GRID = [{"alpha": a} for a in (1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3)]
# Where comparable sales are looked for: size, grades, age, basement (standardised on the training rows).
COMPARABLE = ("GrLivArea", "OverallQual", "OverallCond", "YearBuilt", "TotalBsmtSF")
# The three that gained on the first run's folds (seed 0), blended together with the recipe's ten as one more row.
TOGETHER = ("svr + comparable sales (k=10)", "lasso + comparable sales (k=10)", "svr on prices deflated by month index")
CHOSEN: dict[str, list[dict[str, float]]] = {}  # NestedSearch label -> the inner winner of each outer fold, in order


def _on_log(model: Any) -> Any:
    from sklearn.compose import TransformedTargetRegressor

    return TransformedTargetRegressor(model, func=np.log, inverse_func=np.exp, check_inverse=False)


class NestedSearch(RegressorMixin, BaseEstimator):
    """`pipe` (preprocessing + a final model) with the final model's parameters chosen from `grid` by an inner
    `folds`-fold CV on the training rows only (squared error on the target, which is the log price), then refitted
    with the winner on all of them. Each inner fold's preprocessing is fitted on that fold's training rows once and
    shared by the grid; the winner is recorded in CHOSEN[label]."""

    def __init__(self, pipe: Any = None, grid: list[dict[str, float]] | None = None, folds: int = 5,
                 random_state: int = 0, label: str = "") -> None:  # fmt: skip
        self.pipe = pipe
        self.grid = grid
        self.folds = folds
        self.random_state = random_state
        self.label = label

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> NestedSearch:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        y = np.asarray(y, dtype=float)
        grid = list(self.grid or [{}])
        sse = np.zeros(len(grid))
        for tr, va in KFold(self.folds, shuffle=True, random_state=self.random_state).split(X):
            prep = clone(self.pipe[:-1]).fit(X.iloc[tr], y[tr])
            Ztr, Zva = prep.transform(X.iloc[tr]), prep.transform(X.iloc[va])
            for i, params in enumerate(grid):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model = clone(self.pipe[-1]).set_params(**params).fit(Ztr, y[tr])
                sse[i] += float(np.sum((model.predict(Zva) - y[va]) ** 2))
        self.best_params_ = grid[int(np.argmin(sse))]
        CHOSEN.setdefault(self.label, []).append(self.best_params_)
        last = self.pipe.steps[-1][0]
        self.pipe_ = clone(self.pipe).set_params(**{f"{last}__{k}": v for k, v in self.best_params_.items()})
        self.pipe_.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipe_.predict(X)


class ComparableSales(TransformerMixin, BaseEstimator):
    """A column as an appraiser prices a house: the mean log price per sq ft of living area of its `k` nearest
    training sales in the COMPARABLE columns (standardised on the training rows), a sale in another neighbourhood
    counted `penalty` standard deviations further away (so the comparables come from the house's own neighbourhood
    where it has enough of them). Fitted on the training rows; each training row's value cross-fitted (5 inner
    folds), so a row never uses its own price. y is the log price (the step runs inside TransformedTargetRegressor)."""

    def __init__(self, k: int = 10, penalty: float = 2.0) -> None:
        self.k = k
        self.penalty = penalty

    def _space(self, X: pd.DataFrame) -> np.ndarray:
        v = X[list(COMPARABLE)].astype(float).fillna(0.0).to_numpy()
        v[:, [0, 4]] = np.log1p(v[:, [0, 4]])  # the areas on a log scale
        z = (v - self.centre_) / self.scale_
        hood = X["Neighborhood"].astype(str).to_numpy()[:, None] == self.hoods_[None, :]
        return np.hstack([z, hood * (self.penalty / np.sqrt(2.0))])

    def _comparables(self, space: np.ndarray, ppsf: np.ndarray, query: np.ndarray) -> np.ndarray:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=min(self.k, len(space))).fit(space)
        return ppsf[nn.kneighbors(query, return_distance=False)].mean(axis=1)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ComparableSales:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray = None, **fit_params: Any) -> pd.DataFrame:
        v = X[list(COMPARABLE)].astype(float).fillna(0.0).to_numpy()
        v[:, [0, 4]] = np.log1p(v[:, [0, 4]])
        self.centre_, self.scale_ = v.mean(axis=0), v.std(axis=0) + 1e-9
        self.hoods_ = np.unique(X["Neighborhood"].astype(str).to_numpy())
        self.ppsf_ = np.asarray(y, dtype=float) - np.log(X["GrLivArea"].to_numpy(float))
        self.space_ = self._space(X)
        out = np.zeros(len(X))
        for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
            out[va] = self._comparables(self.space_[tr], self.ppsf_[tr], self.space_[va])
        return X.assign(ComparableSales=out)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(ComparableSales=self._comparables(self.space_, self.ppsf_, self._space(X)))


class GaussRank(TransformerMixin, BaseEstimator):
    """Each numeric column with more than two values on the training rows mapped to a standard normal through its
    training-fold quantiles (QuantileTransformer), in place of the recipe's Box-Cox skew correction."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> GaussRank:
        from sklearn.preprocessing import QuantileTransformer

        num = X.select_dtypes(include="number")
        self.columns_ = [c for c in num.columns if num[c].nunique() > 2]
        n = min(1000, len(X))
        self.quantiles_ = QuantileTransformer(n_quantiles=n, output_distribution="normal", random_state=0)
        self.quantiles_.fit(num[self.columns_].astype(float).to_numpy())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        X[self.columns_] = self.quantiles_.transform(X[self.columns_].astype(float).to_numpy())
        return X


class SaleIndex(RegressorMixin, BaseEstimator):
    """`model` fitted on log prices deflated by a monthly sale-price index and re-inflated at prediction. The index:
    the training rows' residuals from a hedonic ridge (log sizes, grades, year built, neighbourhood; no sale date),
    averaged over each month +- `window` months and shrunk towards 0 by `shrink` rows."""

    def __init__(self, model: Any = None, window: int = 1, shrink: float = 20.0) -> None:
        self.model = model
        self.window = window
        self.shrink = shrink

    @staticmethod
    def _month(X: pd.DataFrame) -> np.ndarray:
        return X["YrSold"].astype(int).to_numpy() * 12 + X["MoSold"].astype(int).to_numpy() - 1

    @staticmethod
    def _hedonic(X: pd.DataFrame) -> pd.DataFrame:
        sizes = np.log1p(X[["GrLivArea", "TotalBsmtSF", "LotArea", "GarageArea"]].astype(float).fillna(0.0))
        grades = X[["OverallQual", "OverallCond", "YearBuilt"]].astype(float)
        return pd.concat([sizes, grades, pd.get_dummies(X["Neighborhood"].astype(str), dtype=float)], axis=1)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SaleIndex:
        from sklearn.linear_model import Ridge

        y = np.asarray(y, dtype=float)
        H = self._hedonic(X)
        resid = y - Ridge(alpha=1.0).fit(H, y).predict(H)
        month = self._month(X)
        self.index_ = {}
        for m in np.unique(month):
            near = np.abs(month - m) <= self.window
            self.index_[int(m)] = float(resid[near].sum() / (near.sum() + self.shrink))
        self.model_ = clone(self.model).fit(X, y - self._index(X))
        return self

    def _index(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([self.index_.get(int(m), 0.0) for m in self._month(X)])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(X) + self._index(X)


def _ebm(cfg: Any) -> Any:
    from interpret.glassbox import ExplainableBoostingRegressor

    return ExplainableBoostingRegressor(interactions=10, outer_bags=4, n_jobs=2, random_state=0)


def _ebm_pipeline(cfg: Any) -> Pipeline:
    """The tree models' preprocessing without the one-hot step (the EBM bins categories itself), then an EBM."""
    steps = [s for s in recipe.preprocess(cfg, linear=False) if s[0] != "onehot"]
    return Pipeline([*steps, ("model", _ebm(cfg))])


def _nested(name: str, grid: list[dict[str, float]]) -> Callable[[Any], Any]:
    return lambda cfg: _on_log(NestedSearch(recipe._model(cfg, name), grid, label=name))


def _first(name: str, step: tuple[str, Any]) -> Callable[[Any], Any]:
    return lambda cfg: _on_log(Pipeline([step, *recipe._model(cfg, name).steps]))


def _gauss_rank(name: str) -> Callable[[Any], Any]:
    def make(cfg: Any) -> Any:
        steps = [("rank", GaussRank()) if s[0] == "skew" else s for s in recipe.preprocess(cfg, linear=True)]
        return _on_log(Pipeline([*steps, ("model", recipe._linear(cfg)[name])]))

    return make


def _svr_ebm(cfg: Any) -> Any:
    from competitions.house_prices.boosted import ResidualBoosted

    return _on_log(ResidualBoosted(recipe._model(cfg, "svr"), _ebm_pipeline(cfg)))


def candidates() -> dict[str, Callable[[Any], Any]]:
    """name -> factory(cfg) of an unfitted model predicting prices: the third round."""
    return {
        "explainable boosting machine (EBM)": lambda cfg: _on_log(_ebm_pipeline(cfg)),
        "svr, nested-tuned C/gamma/epsilon": _nested("svr", SVR_GRID),
        "lasso, nested-tuned alpha": _nested("lasso", LASSO_GRID),
        "svr + comparable sales (k=10)": _first("svr", ("comps", ComparableSales())),
        "lasso + comparable sales (k=10)": _first("lasso", ("comps", ComparableSales())),
        "svr, gaussian-rank inputs": _gauss_rank("svr"),
        "kernel ridge, gaussian-rank inputs": _gauss_rank("kernel_ridge"),
        "svr on prices deflated by month index": lambda cfg: _on_log(SaleIndex(recipe._model(cfg, "svr"))),
        "svr + EBM on its residuals": _svr_ebm,
    }
