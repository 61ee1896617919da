"""The generic tabular recipe that `python -m pipeline new` competitions import: data, models, metrics, output."""

from pipeline.tabular.data import load_tables, validate, write_submission
from pipeline.tabular.metrics import METRICS, score
from pipeline.tabular.models import Boosted, linear

__all__ = ["METRICS", "Boosted", "linear", "load_tables", "score", "validate", "write_submission"]
