"""The generic tabular recipe that `python -m pipeline new` competitions import: data, models, metrics, output."""

from pipeline.tabular.data import load_tables, load_test_table, validate, write_submission
from pipeline.tabular.lookup import Lookup, present_rmse, validate_lookup, write_lookup
from pipeline.tabular.metrics import METRICS, score
from pipeline.tabular.models import Boosted, linear
from pipeline.tabular.multitarget import MultiTarget
from pipeline.tabular.original import Original
from pipeline.tabular.pixels import Pixels
from pipeline.tabular.recipe import PRESETS, TabularRecipe, model_set
from pipeline.tabular.series import Series

__all__ = [
    "METRICS",
    "PRESETS",
    "Boosted",
    "Lookup",
    "MultiTarget",
    "Original",
    "Pixels",
    "Series",
    "TabularRecipe",
    "linear",
    "load_tables",
    "load_test_table",
    "model_set",
    "present_rmse",
    "score",
    "validate",
    "validate_lookup",
    "write_lookup",
    "write_submission",
]
