"""The generic tabular recipe that `python -m pipeline new` competitions import: data, models, metrics, output."""

from pipeline.tabular.data import load_tables, load_test_table, validate, write_submission
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
    "MultiTarget",
    "Original",
    "Pixels",
    "Series",
    "TabularRecipe",
    "linear",
    "load_tables",
    "load_test_table",
    "model_set",
    "score",
    "validate",
    "write_submission",
]
