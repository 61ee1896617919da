"""The built-in sample: Kaggle's 81 columns with their dtypes, levels and missing-value patterns (from schema.json,
marginals of the real data) and a SalePrice with learnable structure. Deterministic: the same files every time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA = Path(__file__).with_name("schema.json")
N_TRAIN, N_TEST = 400, 250
BASEMENT_CATS = ["BsmtQual", "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinType2"]
GARAGE_CATS = ["GarageType", "GarageFinish", "GarageQual", "GarageCond"]
QUAL_EFFECT = {"Ex": 0.12, "Gd": 0.06, "TA": 0.0, "Fa": -0.06, "Po": -0.12}


def _column(spec: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    if spec["kind"] == "cat":
        levels = list(spec["levels"])
        p = np.array(list(spec["levels"].values()), dtype=float)
        return rng.choice(levels, size=n, p=p / p.sum()).astype(object)
    if "values" in spec:
        vals = np.array([float(v) for v in spec["values"]])
        p = np.array(list(spec["values"].values()), dtype=float)
        out = rng.choice(vals, size=n, p=p / p.sum())
    else:
        q = np.array(spec["quantiles"], dtype=float)
        out = np.interp(rng.random(n), np.linspace(0, 1, len(q)), q)
        out[rng.random(n) < spec["zero"]] = 0.0
    return np.round(out) if spec["kind"] == "int" else np.round(out, 1)


def _frame(schema: list[dict], n: int, rng: np.random.Generator, split: str) -> pd.DataFrame:
    df = pd.DataFrame({s["name"]: _column(s, n, rng) for s in schema if s["name"] not in ("Id", "SalePrice")})
    # Keep the real data's identities and joint missing-value patterns.
    df["GrLivArea"] = df["1stFlrSF"] + df["2ndFlrSF"] + df["LowQualFinSF"]
    no_bsmt = rng.random(n) < 0.025
    for c in ("BsmtFinSF1", "BsmtFinSF2", "BsmtUnfSF"):
        df.loc[no_bsmt, c] = 0
    empty = ~no_bsmt & (df["BsmtFinSF1"] + df["BsmtFinSF2"] + df["BsmtUnfSF"] == 0)
    df.loc[empty, "BsmtUnfSF"] = rng.integers(200, 1200, int(empty.sum()))
    df["TotalBsmtSF"] = df["BsmtFinSF1"] + df["BsmtFinSF2"] + df["BsmtUnfSF"]
    df.loc[no_bsmt, BASEMENT_CATS] = np.nan
    no_garage = df["GarageArea"] == 0  # the real data's 5.5% of zero garage areas are the houses with no garage
    df.loc[no_garage, "GarageCars"] = 0
    df.loc[~no_garage & (df["GarageCars"] == 0), "GarageCars"] = 1
    df.loc[no_garage, GARAGE_CATS + ["GarageYrBlt"]] = np.nan
    df["YearRemodAdd"] = np.maximum(df["YearRemodAdd"], df["YearBuilt"])
    df["YrSold"] = np.maximum(df["YrSold"], df["YearBuilt"])
    df.loc[df["Fireplaces"] == 0, "FireplaceQu"] = np.nan
    df.loc[df["PoolArea"] == 0, "PoolQC"] = np.nan
    df.loc[df["MasVnrArea"] == 0, "MasVnrType"] = np.nan
    structural = set(BASEMENT_CATS + GARAGE_CATS + ["GarageYrBlt", "FireplaceQu", "PoolQC", "MasVnrType"])
    for s in schema:
        c = s["name"]
        if c in df and c not in structural and s[f"na_{split}"] > 0:
            df.loc[rng.random(n) < s[f"na_{split}"], c] = np.nan
    return df


def _price(df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    levels = sorted(df["Neighborhood"].dropna().unique())
    hood = {h: ((997 + 7919 * i) % 17 - 8) / 60 for i, h in enumerate(levels)}  # fixed pseudo-random effects
    area = np.log(df["GrLivArea"].clip(lower=400) / 1500)
    log_price = (
        11.9
        + 0.09 * (df["OverallQual"] - 6)
        + 0.45 * area
        + 0.00003 * df["TotalBsmtSF"].fillna(0)
        + 0.003 * (df["YearBuilt"] - 1970)
        + 0.05 * df["GarageCars"].fillna(0)
        + df["KitchenQual"].map(QUAL_EFFECT).fillna(0).astype(float)
        + df["Neighborhood"].map(hood).fillna(0)
        + 0.03 * (df["CentralAir"] == "Y")
        + rng.normal(0, 0.07, len(df))
    )
    return np.round(np.exp(log_price.to_numpy(dtype=float)), 0)


def sample(dest: Path) -> None:
    """Write train.csv, test.csv and sample_submission.csv in Kaggle's layout into dest."""
    schema = json.loads(SCHEMA.read_text())["columns"]
    rng = np.random.default_rng(20260501)
    order = [s["name"] for s in schema]
    train = _frame(schema, N_TRAIN, rng, "train")
    train["SalePrice"] = _price(train, rng)
    train["Id"] = np.arange(1, N_TRAIN + 1)
    test = _frame(schema, N_TEST, rng, "test")
    test["Id"] = np.arange(N_TRAIN + 1, N_TRAIN + N_TEST + 1)
    ints = [s["name"] for s in schema if s["kind"] == "int" and s["na_train"] == 0]
    for df in (train, test):
        for c in ints:
            if c in df and df[c].notna().all():
                df[c] = df[c].astype("int64")
    dest.mkdir(parents=True, exist_ok=True)
    train[order].to_csv(dest / "train.csv", index=False)
    test[[c for c in order if c != "SalePrice"]].to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"Id": test["Id"], "SalePrice": 180000.0}).to_csv(dest / "sample_submission.csv", index=False)
