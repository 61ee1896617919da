"""House Prices - Advanced Regression Techniques: tabular regression scored by RMSE of log prices."""

from competitions.house_prices.config import PRESETS, Config
from competitions.house_prices.data import EXPECTED_FILES, load, load_test, score, validate, write_submission
from competitions.house_prices.recipe import models, search_space
from competitions.house_prices.sample import sample
from pipeline.contract import Metric

KAGGLE_SLUG = "house-prices-advanced-regression-techniques"
METRIC = Metric("rmse_log", greater_is_better=False)
FOLDS = "kfold"

__all__ = [
    "EXPECTED_FILES",
    "FOLDS",
    "KAGGLE_SLUG",
    "METRIC",
    "PRESETS",
    "Config",
    "load",
    "load_test",
    "models",
    "sample",
    "score",
    "search_space",
    "validate",
    "write_submission",
]
