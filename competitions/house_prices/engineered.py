"""Features for the linear models: the curvature and interactions that trees find on their own.

A linear model on log price sees OverallQual, the living area and the totals only as straight lines. Squares of the
strongest sizes and grades, products of quality with size, presence flags and the two overall grades as categories
(one-hot after `ToCategorical`) let it bend where prices do. Stateless: every value comes from the row itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

SQUARES = ["OverallQual", "GrLivArea", "TotalSF", "GarageCars", "TotalBath", "YearBuilt"]
PRODUCTS = {
    "QualxSF": ("OverallQual", "TotalSF"),
    "QualxLiv": ("OverallQual", "GrLivArea"),
    "QualxGarage": ("OverallQual", "GarageArea"),
    "CondxSF": ("OverallCond", "TotalSF"),
}
HAS = {
    "HasPool": "PoolArea",
    "Has2nd": "2ndFlrSF",
    "HasGarage": "GarageArea",
    "HasBsmt": "TotalBsmtSF",
    "HasFire": "Fireplaces",
}
GRADES_AS_CATEGORIES = {"OverallQualCat": "OverallQual", "OverallCondCat": "OverallCond"}


class HouseFeatures(TransformerMixin, BaseEstimator):
    """Squares, quality x size products, presence flags, remodelled/new flags and grade categories (after the totals
    and ordinal codes exist; before skew correction and one-hot)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> HouseFeatures:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        new: dict[str, pd.Series] = {f"{c}_sq": X[c].astype(float) ** 2 for c in SQUARES}
        new |= {name: X[a].astype(float) * X[b].astype(float) for name, (a, b) in PRODUCTS.items()}
        new |= {name: (X[c] > 0).astype(float) for name, c in HAS.items()}
        new["Remodeled"] = (X["YearRemodAdd"] != X["YearBuilt"]).astype(float)
        new["NewHouse"] = (X["YrSold"].astype(str) == X["YearBuilt"].astype(str)).astype(float)
        new |= {name: X[c].astype(str) for name, c in GRADES_AS_CATEGORIES.items()}
        return pd.concat([X, pd.DataFrame(new, index=X.index)], axis=1)
