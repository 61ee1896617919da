"""A framework for winning Kaggle-style competitions: raw download to validated, ensembled submission."""

__version__ = "0.1.0"
