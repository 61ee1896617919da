"""The recipe of strong public solutions: meaning-aware imputation, ordinal quality codes, engineered totals,
skew correction, one-hot; regularised linear models, kernel models and boosted trees on a log target."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.svm import SVR

from competitions.house_prices.boosted import ResidualBoosted
from competitions.house_prices.engineered import HouseFeatures
from competitions.house_prices.outliers import SeparateOutliers
from features import (
    ConstantFill,
    Differences,
    FrameImputer,
    FrameOneHot,
    GroupMedianImputer,
    OrdinalMap,
    SkewCorrector,
    ToCategorical,
    WeightedSums,
)

# NA in these columns means the house has none of the thing (data_description.txt), not that it is unknown.
NONE_CATEGORIES = [
    "PoolQC",
    "MiscFeature",
    "Alley",
    "Fence",
    "FireplaceQu",
    "GarageType",
    "GarageFinish",
    "GarageQual",
    "GarageCond",
    "BsmtQual",
    "BsmtCond",
    "BsmtExposure",
    "BsmtFinType1",
    "BsmtFinType2",
    "MasVnrType",
]
ZERO_NUMBERS = [
    "GarageYrBlt",
    "GarageArea",
    "GarageCars",
    "BsmtFinSF1",
    "BsmtFinSF2",
    "BsmtUnfSF",
    "TotalBsmtSF",
    "BsmtFullBath",
    "BsmtHalfBath",
    "MasVnrArea",
]
QUALITY = {"None": 0, "Po": 1, "Fa": 2, "TA": 3, "Gd": 4, "Ex": 5}
ORDINALS: dict[str, dict[str, int]] = {
    **{
        c: QUALITY
        for c in [
            "ExterQual",
            "ExterCond",
            "BsmtQual",
            "BsmtCond",
            "HeatingQC",
            "KitchenQual",
            "FireplaceQu",
            "GarageQual",
            "GarageCond",
            "PoolQC",
        ]
    },
    "BsmtExposure": {"None": 0, "No": 1, "Mn": 2, "Av": 3, "Gd": 4},
    "BsmtFinType1": {"None": 0, "Unf": 1, "LwQ": 2, "Rec": 3, "BLQ": 4, "ALQ": 5, "GLQ": 6},
    "BsmtFinType2": {"None": 0, "Unf": 1, "LwQ": 2, "Rec": 3, "BLQ": 4, "ALQ": 5, "GLQ": 6},
    "GarageFinish": {"None": 0, "Unf": 1, "RFn": 2, "Fin": 3},
    "Functional": {"Sal": 0, "Sev": 1, "Maj2": 2, "Maj1": 3, "Mod": 4, "Min2": 5, "Min1": 6, "Typ": 7},
    "LandSlope": {"Sev": 0, "Mod": 1, "Gtl": 2},
    "PavedDrive": {"N": 0, "P": 1, "Y": 2},
    "CentralAir": {"N": 0, "Y": 1},
    "Street": {"Grvl": 0, "Pave": 1},
    "LotShape": {"IR3": 0, "IR2": 1, "IR1": 2, "Reg": 3},
}
SUMS = {
    "TotalSF": {"TotalBsmtSF": 1, "1stFlrSF": 1, "2ndFlrSF": 1},
    "TotalBath": {"FullBath": 1, "HalfBath": 0.5, "BsmtFullBath": 1, "BsmtHalfBath": 0.5},
    "TotalPorchSF": {"OpenPorchSF": 1, "EnclosedPorch": 1, "3SsnPorch": 1, "ScreenPorch": 1, "WoodDeckSF": 1},
    "OverallScore": {"OverallQual": 1, "OverallCond": 0.5},
}
AGES = {"Age": ("YrSold", "YearBuilt"), "RemodAge": ("YrSold", "YearRemodAdd")}
AS_CATEGORIES = ["MSSubClass", "MoSold", "YrSold"]
# Utilities has one 'NoSeWa' row in 2,919: no signal, only a chance to overfit.
DROP = ["Utilities"]


class _Drop(ConstantFill):
    """Drop columns (kept tiny; a ColumnTransformer would lose the DataFrame)."""

    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def transform(self, X: Any) -> Any:
        return X.drop(columns=[c for c in self.columns or [] if c in X])


def preprocess(cfg: Any, linear: bool) -> list[tuple[str, Any]]:
    """Steps fitted on each training fold: imputation by meaning, encodings, totals, skew, one-hot; for linear models
    also the engineered curvature/interaction features (cfg.linear_features) and scaling."""
    steps: list[tuple[str, Any]] = [
        ("drop", _Drop(DROP)),
        ("none_na", ConstantFill({**{c: "None" for c in NONE_CATEGORIES}, **{c: 0 for c in ZERO_NUMBERS}})),
        ("lot_frontage", GroupMedianImputer("LotFrontage", by="Neighborhood")),
        ("impute", FrameImputer()),
        ("ordinal", OrdinalMap(ORDINALS)),
        ("sums", WeightedSums(SUMS)),
        ("ages", Differences(AGES)),
    ]
    if linear and cfg.linear_features:
        steps.append(("engineered", HouseFeatures()))
    steps += [
        ("categorical", ToCategorical(AS_CATEGORIES)),
        ("skew", SkewCorrector(cfg.skew_threshold, cfg.boxcox_lambda)),
        ("onehot", FrameOneHot()),
    ]
    if linear:
        steps.append(("scale", RobustScaler()))
    return steps


LINEAR = ("lasso", "elasticnet", "ridge", "kernel_ridge", "svr")
# A linear model plus LightGBM on its training residuals (boosted.py): "<linear>_boosted".
BOOSTED = ("lasso_boosted", "svr_boosted")


def _linear(cfg: Any) -> dict[str, Any]:
    return {
        "lasso": Lasso(alpha=cfg.lasso_alpha, max_iter=50000),
        "elasticnet": ElasticNet(alpha=cfg.enet_alpha, l1_ratio=cfg.enet_l1_ratio, max_iter=50000),
        "ridge": Ridge(alpha=cfg.ridge_alpha),
        "kernel_ridge": KernelRidge(
            alpha=cfg.krr_alpha, kernel="polynomial", degree=cfg.krr_degree, coef0=cfg.krr_coef0
        ),
        "svr": SVR(C=cfg.svr_c, epsilon=cfg.svr_epsilon, gamma=cfg.svr_gamma),
    }


def _trees(cfg: Any) -> dict[str, Any]:
    from xgboost import XGBRegressor

    return {
        "gbr": GradientBoostingRegressor(
            n_estimators=cfg.gbr_trees,
            learning_rate=cfg.gbr_learning_rate,
            max_depth=cfg.gbr_max_depth,
            max_features="sqrt",
            min_samples_leaf=15,
            min_samples_split=10,
            loss="huber",
        ),
        "lightgbm": _lightgbm(
            cfg.lgbm_trees,
            cfg.lgbm_learning_rate,
            cfg.lgbm_leaves,
            objective="regression",
            max_bin=55,
            subsample_freq=5,
            colsample_bytree=0.2319,
            min_child_samples=6,
            min_child_weight=11,
        ),
        "xgboost": XGBRegressor(
            n_estimators=cfg.xgb_trees,
            learning_rate=cfg.xgb_learning_rate,
            max_depth=cfg.xgb_max_depth,
            colsample_bytree=0.4603,
            gamma=0.0468,
            min_child_weight=1.7817,
            reg_alpha=0.464,
            reg_lambda=0.8571,
            subsample=0.5213,
            tree_method="hist",
        ),
    }


def _lightgbm(trees: int, learning_rate: float, leaves: int, **params: Any) -> Any:
    """LightGBM with row subsampling, quiet and deterministic (the same trees on every machine)."""
    from lightgbm import LGBMRegressor

    fixed = {"subsample": 0.8, "verbose": -1, "deterministic": True, "force_row_wise": True}
    return LGBMRegressor(n_estimators=trees, learning_rate=learning_rate, num_leaves=leaves, **(fixed | params))


def _residual_trees(cfg: Any) -> Any:
    """Small, slow-learning LightGBM for a linear model's residuals."""
    return _lightgbm(
        cfg.boost_trees,
        cfg.boost_learning_rate,
        cfg.boost_leaves,
        min_child_samples=10,
        subsample_freq=1,
        colsample_bytree=0.3,
    )


def _model(cfg: Any, name: str) -> Pipeline | ResidualBoosted:
    """One model on the log target's scale, its preprocessing fitted inside it."""
    if name in LINEAR:
        return Pipeline([*preprocess(cfg, linear=True), ("model", _linear(cfg)[name])])
    if name in BOOSTED:
        trees = Pipeline([*preprocess(cfg, linear=False), ("model", _residual_trees(cfg))])
        return ResidualBoosted(_model(cfg, name.removesuffix("_boosted")), trees)
    return Pipeline([*preprocess(cfg, linear=False), ("model", _trees(cfg)[name])])


def models(cfg: Any) -> dict[str, Any]:
    """The configured subset of the recipe's models, unfitted. Prices are log-normal and the metric is on logs:
    each model fits log(price) and predicts exp. With the outlier rule on, each is wrapped by SeparateOutliers."""
    valid = (*LINEAR, "gbr", "lightgbm", "xgboost", *BOOSTED)
    unknown = [m for m in cfg.models if m not in valid]
    if unknown:
        raise ValueError(f"Unknown house_prices model(s) {unknown}; valid: {', '.join(valid)}.")
    found = {
        m: TransformedTargetRegressor(_model(cfg, m), func=np.log, inverse_func=np.exp, check_inverse=False)
        for m in cfg.models
    }
    if not cfg.drop_outliers:
        return found
    return {m: SeparateOutliers(model, cfg.outlier_area, cfg.outlier_price) for m, model in found.items()}


def search_space(trial: Any) -> dict[str, Any]:
    """Optuna define-by-run space over the recipe's strongest knobs (Config overrides)."""
    return {
        "lasso_alpha": trial.suggest_float("lasso_alpha", 1e-4, 3e-3, log=True),
        "enet_alpha": trial.suggest_float("enet_alpha", 1e-4, 3e-3, log=True),
        "ridge_alpha": trial.suggest_float("ridge_alpha", 1.0, 50.0, log=True),
        "svr_c": trial.suggest_float("svr_c", 2.0, 100.0, log=True),
        "skew_threshold": trial.suggest_float("skew_threshold", 0.5, 1.0),
        "lgbm_leaves": trial.suggest_int("lgbm_leaves", 4, 16),
    }
