"""A framework for winning Kaggle-style competitions: raw download to validated, ensembled submission."""

__version__ = "0.1.0"

# time.monotonic() when `python -m pipeline` began (set by __main__.py before any other import): `run` counts its
# --time-limit from it, so the limit bounds the command's wall time, imports included. None when imported as a library.
PROCESS_STARTED: float | None = None
