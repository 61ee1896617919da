"""Reusable tabular feature transformers with the scikit-learn contract, fitted inside each fold."""

from features.edit import ColumnEdit
from features.encode import FrameOneHot, OrdinalMap, ToCategorical
from features.engineer import Differences, WeightedSums
from features.impute import ConstantFill, FrameImputer, GroupMedianImputer
from features.skew import SkewCorrector

__all__ = [
    "ColumnEdit",
    "ConstantFill",
    "Differences",
    "FrameImputer",
    "FrameOneHot",
    "GroupMedianImputer",
    "OrdinalMap",
    "SkewCorrector",
    "ToCategorical",
    "WeightedSums",
]
