"""House Prices: model families tried for the recipe and not adopted, each scored alone and inside the blend.

    python benchmarks/house_prices_candidates.py [--data ../shared/data/house-prices-advanced-regression-techniques.zip]
                                                 [--slow]

One default run of competitions/house_prices gives the recipe's ten models' out-of-fold predictions and its folds
(5-fold KFold, seed 0, the 1458 rows left after the documented outlier rule). Each candidate is then fitted on
exactly those folds, with the recipe's own preprocessing fitted inside each training fold, and added to the ten.
"blend + candidate" is the framework's own out-of-fold blend (pipeline.finish.blend_results: each fold's rows
blended with weights fitted on the other folds' rows only), so it is comparable with the run's reported CV.

A last row is not a model but a level-2 correction: the blend's out-of-fold residual averaged per category
(MSZoning and SaleCondition, where the largest errors sit), shrunk towards 0, fitted on the other folds' rows and
subtracted. `--slow` adds a Gaussian process and CatBoost (about 2 and 3 minutes on 2 cores).
Results go to benchmarks/figures/house_prices_candidates.json.

`--more monotone|boosters|linear` runs a part of the second round instead (house_prices_more.py: monotone boosters;
histogram boosting and LightGBM's extra-trees and dart modes; extra trees, a laplacian kernel ridge, SVR variants and
four level-2 models scored out of fold); its results go to benchmarks/figures/house_prices_candidates_<part>.json.
`--more third` runs the third round (house_prices_third.py: an Explainable Boosting Machine, nested-tuned svr and
lasso, a comparable-sales column, Gaussian-rank inputs, a monthly price index, svr + EBM on its residuals); its results
go to benchmarks/figures/house_prices_candidates_third.json.
`--reuse RUN_DIR` reads a finished default run back instead of running one (the parts share one run's folds); a run
made with `--seed 1` (other folds) gives figures named ..._seed1.json. `--only TEXT` fits only the candidates whose
name contains TEXT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import house_prices_more  # noqa: E402
import house_prices_third  # noqa: E402
from benchutil import save  # noqa: E402
from house_prices_oof import DATA, blend_score, recipe_run  # noqa: E402

import competitions.house_prices as hp  # noqa: E402
from competitions.house_prices import recipe  # noqa: E402
from competitions.house_prices.outliers import SeparateOutliers  # noqa: E402
from pipeline.fitting import prepare  # noqa: E402


def _on_log(model: Any) -> Any:
    from sklearn.compose import TransformedTargetRegressor

    return TransformedTargetRegressor(model, func=np.log, inverse_func=np.exp, check_inverse=False)


def _linear(est: Any, scaler: Any = None) -> Callable[[Any], Any]:
    """The recipe's linear preprocessing (its RobustScaler swapped for `scaler` if given), then `est`."""
    from sklearn.pipeline import Pipeline

    def make(cfg: Any) -> Any:
        steps = recipe.preprocess(cfg, linear=True)
        if scaler is not None:
            steps[-1] = ("scale", scaler)
        return _on_log(Pipeline([*steps, ("model", est)]))

    return make


class PerArea(RegressorMixin, BaseEstimator):
    """A tree model on log(price per sq ft of living area): the size effect taken out before the trees split."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PerArea:
        self.model.fit(X, np.log(y) - np.log(X["GrLivArea"].to_numpy(float)))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.model.predict(X) + np.log(X["GrLivArea"].to_numpy(float)))


class Splines(TransformerMixin, BaseEstimator):
    """Cubic B-splines (knots at quantiles, fitted on the training fold) of the log of the main sizes and years,
    appended as columns: a linear model bends with them wherever prices do, not only as a square."""

    COLUMNS = ("GrLivArea", "TotalSF", "LotArea", "YearBuilt", "OverallQual", "Age", "GarageArea")

    def __init__(self, n_knots: int = 8) -> None:
        self.n_knots = n_knots

    def _logs(self, X: pd.DataFrame) -> np.ndarray:
        return np.log1p(X[list(self.COLUMNS)].astype(float).clip(lower=0).to_numpy())

    def fit(self, X: pd.DataFrame, y: Any = None) -> Splines:
        from sklearn.preprocessing import SplineTransformer

        self.spline_ = SplineTransformer(n_knots=self.n_knots, knots="quantile", extrapolation="linear")
        self.spline_.fit(self._logs(X))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        Z = self.spline_.transform(self._logs(X))
        return pd.concat([X, pd.DataFrame(Z, index=X.index, columns=[f"spline{i}" for i in range(Z.shape[1])])], axis=1)


def _splines(est: Any) -> Callable[[Any], Any]:
    """The recipe's linear preprocessing with Splines inserted before the categorical steps, then `est`."""
    from sklearn.pipeline import Pipeline

    def make(cfg: Any) -> Any:
        steps = recipe.preprocess(cfg, linear=True)
        at = [name for name, _ in steps].index("categorical")
        return _on_log(Pipeline([*steps[:at], ("splines", Splines()), *steps[at:], ("model", est)]))

    return make


UNUSUAL_SALES = ("Abnorml", "Family", "AdjLand", "Alloca")  # as the data spells them


class WithoutUnusualSales(RegressorMixin, BaseEstimator):
    """A model trained without the sales that are not arm's length (SaleCondition in UNUSUAL_SALES, where the largest
    errors sit), or with those rows weighted by `weight` (passed to the final step as its sample_weight); every row
    is still priced and scored."""

    def __init__(self, model: Any = None, weight: float = 0.0) -> None:
        self.model = model
        self.weight = weight

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WithoutUnusualSales:
        from sklearn.base import clone

        unusual = X["SaleCondition"].astype(str).isin(UNUSUAL_SALES).to_numpy()
        self.model_ = clone(self.model)
        if self.weight == 0.0:
            self.model_.fit(X[~unusual], np.asarray(y)[~unusual])
        else:
            self.model_.fit(X, y, model__sample_weight=np.where(unusual, self.weight, 1.0))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(X)


class NeighbourhoodPrice(TransformerMixin, BaseEstimator):
    """The neighbourhood's mean log price per sq ft of living area, shrunk towards the overall mean by `k` rows, as
    a column: fitted on the training rows, each training row's value cross-fitted (5 inner folds) so the model
    never sees a value its own price made."""

    def __init__(self, k: float = 10.0) -> None:
        self.k = k

    def _table(self, hood: np.ndarray, r: np.ndarray) -> tuple[pd.Series, float]:
        mean = float(r.mean())
        g = pd.DataFrame({"n": hood, "r": r}).groupby("n")["r"].agg(["sum", "count"])
        return (g["sum"] + self.k * mean) / (g["count"] + self.k), mean

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> NeighbourhoodPrice:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray = None, **fit_params: Any) -> pd.DataFrame:
        from sklearn.model_selection import KFold

        r = np.asarray(y, dtype=float) - np.log(X["GrLivArea"].to_numpy(float))  # y: log price (TransformedTarget)
        hood = X["Neighborhood"].astype(str).to_numpy()
        self.table_, self.mean_ = self._table(hood, r)
        out = np.zeros(len(X))
        for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
            table, mean = self._table(hood[tr], r[tr])
            out[va] = pd.Series(hood[va]).map(table).fillna(mean).to_numpy()
        return X.assign(NeighbourhoodPrice=out)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        hood = X["Neighborhood"].astype(str)
        return X.assign(NeighbourhoodPrice=hood.map(self.table_).fillna(self.mean_).to_numpy())


class OnLog(RegressorMixin, BaseEstimator):
    """`model` fitted on log(price), its fit parameters passed on (TransformedTargetRegressor routes none)."""

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def fit(self, X: pd.DataFrame, y: np.ndarray, **fit_params: Any) -> OnLog:
        from sklearn.base import clone

        self.model_ = clone(self.model).fit(X, np.log(y), **fit_params)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.model_.predict(X))


def _recipe_linear(name: str, first: tuple[str, Any] | None = None) -> Any:
    """The recipe's own linear pipeline for `name` (its settings), with a step put first if given."""
    from sklearn.pipeline import Pipeline

    def make(cfg: Any) -> Any:
        pipe = recipe._model(cfg, name)
        return Pipeline([first, *pipe.steps]) if first is not None else pipe

    return make


def _per_area(name: str) -> Callable[[Any], Any]:
    from sklearn.pipeline import Pipeline

    return lambda cfg: PerArea(Pipeline([*recipe.preprocess(cfg, linear=False), ("model", recipe._trees(cfg)[name])]))


class CatBoostNative(RegressorMixin, BaseEstimator):
    """CatBoost on the recipe's tree features with the categorical columns passed natively (not one-hot)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CatBoostNative:
        from catboost import CatBoostRegressor

        self.cats_ = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        self.model_ = CatBoostRegressor(
            iterations=2000,
            learning_rate=0.03,
            depth=6,
            random_seed=0,
            verbose=0,
            thread_count=2,
            allow_writing_files=False,
        )
        self.model_.fit(self._frame(X), np.log(y), cat_features=self.cats_)
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**{c: X[c].astype(str) for c in self.cats_})

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.model_.predict(self._frame(X)))


def _catboost(cfg: Any) -> Any:
    from sklearn.pipeline import Pipeline

    steps = [s for s in recipe.preprocess(cfg, linear=False) if s[0] != "onehot"]
    return Pipeline([*steps, ("model", CatBoostNative())])


def _linear_trees(cfg: Any) -> Any:
    """LightGBM whose leaves each fit a linear model (linear_tree) on the linear models' features."""
    from sklearn.pipeline import Pipeline

    trees = recipe._lightgbm(1500, 0.02, 5, linear_tree=True, linear_lambda=1.0, colsample_bytree=0.3, subsample_freq=1)
    return _on_log(Pipeline([*recipe.preprocess(cfg, linear=True), ("model", trees)]))


def _svr_gbr(cfg: Any) -> Any:
    """The recipe's svr_boosted with scikit-learn's gradient boosting (huber loss) on the residuals, not LightGBM."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    from competitions.house_prices.boosted import ResidualBoosted

    gbr = GradientBoostingRegressor(
        n_estimators=300,
        learning_rate=0.02,
        max_depth=3,
        max_features="sqrt",
        min_samples_leaf=15,
        subsample=0.8,
        loss="huber",
    )
    trees = Pipeline([*recipe.preprocess(cfg, linear=False), ("model", gbr)])
    return _on_log(ResidualBoosted(recipe._model(cfg, "svr"), trees))


def candidates(slow: bool) -> dict[str, Callable[[Any], Any]]:
    """name -> factory(cfg) of an unfitted model predicting prices."""
    from sklearn.linear_model import BayesianRidge, HuberRegressor, Lasso
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    found = {
        "lasso, standard scaling": _linear(Lasso(alpha=0.002, max_iter=50000), StandardScaler()),
        "svr, standard scaling": _linear(SVR(C=20.0, epsilon=0.008, gamma=0.0003), StandardScaler()),
        "lasso + cubic splines of sizes, years": _splines(Lasso(alpha=0.0005, max_iter=50000)),
        "bayesian ridge": _linear(BayesianRidge()),
        "huber regression (robust loss)": _linear(HuberRegressor(epsilon=1.5, alpha=10.0, max_iter=5000)),
        "mlp (128 units, L2 3.0)": _linear(
            MLPRegressor(hidden_layer_sizes=(128,), alpha=3.0, max_iter=2000, random_state=0)
        ),
        "k nearest neighbours (10)": _linear(KNeighborsRegressor(10, weights="distance")),
        "lightgbm on log price per sq ft": _per_area("lightgbm"),
        "xgboost on log price per sq ft": _per_area("xgboost"),
        "gbr on log price per sq ft": _per_area("gbr"),
        "lightgbm, linear trees": _linear_trees,
        "svr + gbr on its residuals": _svr_gbr,
        "lasso trained without unusual sales": lambda cfg: WithoutUnusualSales(_on_log(_recipe_linear("lasso")(cfg))),
        "svr trained without unusual sales": lambda cfg: WithoutUnusualSales(_on_log(_recipe_linear("svr")(cfg))),
        "svr, unusual sales weighted 0.3": lambda cfg: WithoutUnusualSales(OnLog(_recipe_linear("svr")(cfg)), 0.3),
        "svr + neighbourhood price per sq ft": lambda cfg: _on_log(
            _recipe_linear("svr", ("hood", NeighbourhoodPrice()))(cfg)
        ),
    }
    if slow:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, DotProduct, WhiteKernel
        from sklearn.gaussian_process.kernels import ConstantKernel as C

        kernel = C(0.01) * DotProduct(1.0) + C(0.01) * RBF(30.0) + WhiteKernel(0.01)
        found["gaussian process (linear + rbf)"] = _linear(
            GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
        )
        found["catboost, native categoricals"] = _catboost
    return found


def fit_oof(
    make: Callable[[Any], Any], cfg: Any, X: pd.DataFrame, y: np.ndarray, folds: np.ndarray, seed: int = 0
) -> np.ndarray:
    """Out-of-fold price predictions on the run's folds, each model wrapped as the recipe wraps its own (the outlier
    rule's rows, fold -1, are left out of every fit and priced separately; they are not scored), its random_state
    and thread parameters set as the runner sets them (the run's seed, 0 by default, and 2 threads), so every figure
    reproduces."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    out = np.zeros(len(y))
    out[folds < 0] = np.nan
    for f in np.unique(folds[folds >= 0]):
        tr, va = folds != f, folds == f
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = prepare(SeparateOutliers(make(cfg), cfg.outlier_area, cfg.outlier_price), seed=seed, n_jobs=2)
            model.fit(X[tr], y[tr])
        out[va] = np.asarray(model.predict(X[va])).reshape(-1)
    return out


def category_correction(blend_oof: np.ndarray, X: pd.DataFrame, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """The blend minus its per-category mean log residual (shrunk by 20 rows), fitted on the other folds only."""
    log_oof = np.log(np.where(folds >= 0, blend_oof.reshape(-1), y))  # unscored rows (fold -1) carry no prediction
    resid = log_oof - np.log(y)
    out = log_oof.copy()
    for f in np.unique(folds[folds >= 0]):
        tr, va = (folds != f) & (folds >= 0), folds == f
        for col in ("MSZoning", "SaleCondition"):
            values = X[col].astype(str).to_numpy()
            g = pd.DataFrame({"c": values[tr], "r": resid[tr]}).groupby("c")["r"].agg(["sum", "count"])
            shift = g["sum"] / (g["count"] + 20.0)
            out[va] -= pd.Series(values[va]).map(shift).fillna(0.0).to_numpy()
    return np.exp(out)


LEVEL2 = (
    ("ridge", "level 2: ridge on the ten + raw columns"),
    ("ridge_ten", "level 2: ridge on the ten alone"),
    ("positive_ten", "level 2: non-negative, the ten (= stack)"),
    ("gbm", "level 2: lightgbm on residual"),
)


def level2_rows(default: Any, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The second round's four level-2 models, scored out of fold on the run's folds."""
    X, y, folds, scored = default.data.X, default.data.y, default.folds, default.scored
    rows = []
    for kind, name in LEVEL2:
        t = time.perf_counter()
        pred = house_prices_more.level2(kind, default.oof, base["oof"], X, y, folds)
        rows.append({"candidate": name, "alone": None, "blend": hp.score(y[scored], pred[scored])})
        rows[-1]["seconds"] = time.perf_counter() - t
        print(f"{name}: {rows[-1]['blend']:.5f}", flush=True)
    return rows


def print_table(rows: list[dict[str, Any]], base: float, n: int) -> None:
    print(f"\nHouse Prices, {n} rows, 5-fold CV RMSE(log); blend = the recipe's models + the candidate\n")
    print(f"| {'candidate':40s} | {'alone':>8s} | {'blend':>8s} | {'vs recipe':>9s} | {'weight':>6s} | {'s':>6s} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 8}|{'-' * 8}|")
    for r in rows:
        alone = "" if r["alone"] is None else f"{r['alone']:.5f}"
        delta = f"{r['blend'] - base:+.5f}"
        weight = f"{r['weight']:.3f}" if "weight" in r else ""
        sec = f"{r['seconds']:.1f}" if r.get("seconds") is not None else ""
        print(f"| {r['candidate']:40s} | {alone:>8s} | {r['blend']:8.5f} | {delta:>9s} | {weight:>6s} | {sec:>6s} |")


def _round(more: str | None, slow: bool) -> dict[str, Callable[[Any], Any]]:
    """The candidates of the first round, a part of the second, or the third (house_prices_third.py)."""
    if more == "third":
        return house_prices_third.candidates()
    return house_prices_more.candidates(more) if more else candidates(slow)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--slow", action="store_true", help="also a Gaussian process and CatBoost")
    ap.add_argument(
        "--more", choices=(*house_prices_more.PARTS, "third"), help="a part of the second round, or the third"
    )
    ap.add_argument("--reuse", help="a finished default run's directory (runs/house_prices/...): no fresh run")
    ap.add_argument("--only", help="only the candidates whose name contains this text")
    args = ap.parse_args()
    default = recipe_run(args.data, "candidates", args.reuse)
    seed = int(json.loads((default.run_dir / "command.json").read_text())["options"]["seed"])  # the run's --seed
    cfg, X, y, folds, scored = default.cfg, default.data.X, default.data.y, default.folds, default.scored

    def blended(extra: dict[str, np.ndarray]) -> dict[str, Any]:
        return blend_score(y, folds, default.oof | extra)

    base = blended({})
    rows = [{"candidate": "(the recipe's blend, reported CV)", "alone": None, "blend": base["score"], "seconds": None}]
    oofs: dict[str, np.ndarray] = {}
    for name, make in _round(args.more, args.slow).items():
        if args.only and args.only not in name:
            continue
        t = time.perf_counter()
        oof = oofs[name] = fit_oof(make, cfg, X, y, folds, seed)
        seconds = time.perf_counter() - t
        b = blended({name: oof})
        alone = hp.score(y[scored], oof[scored])
        rows.append({"candidate": name, "alone": alone, "blend": b["score"], "seconds": seconds})
        rows[-1]["weight"] = b["weights"][name]
        print(f"{name}: alone {alone:.5f}, blend {b['score']:.5f}, {seconds:.1f} s", flush=True)
    if args.more == "third" and set(house_prices_third.TOGETHER) <= set(oofs):
        b = blended({n: oofs[n] for n in house_prices_third.TOGETHER})
        rows.append({"candidate": "the three that gained first, together", "alone": None, "blend": b["score"]})
        print(f"together: blend {b['score']:.5f}", flush=True)
    if args.more == "linear":
        rows += level2_rows(default, base)
    elif not args.more:
        corrected = category_correction(base["oof"], X, y, folds)
        shifted = hp.score(y[scored], corrected[scored])
        rows.append({"candidate": "level 2: per-category residual shift", "alone": None, "blend": shifted})
    print_table(rows, base["score"], int(scored.sum()))
    cmd = "python benchmarks/house_prices_candidates.py" + (" --slow" if args.slow else "")
    cmd += f" --more {args.more}" if args.more else ""
    cmd += f" --only '{args.only}'" if args.only else ""
    cmd += f" --reuse <a default run with --seed {seed}>" if seed else ""
    name = f"house_prices_candidates_{args.more}" if args.more else "house_prices_candidates"
    found = {"rows": rows, "recipe_cv": base["score"], "cv_rows": int(scored.sum()), "run_seed": seed}
    if args.more == "third":
        found["nested_choices"] = house_prices_third.CHOSEN
    save(name + (f"_seed{seed}" if seed else ""), cmd, found)


if __name__ == "__main__":
    main()
