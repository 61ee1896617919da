"""Optuna tuning: `python -m pipeline tune competitions/<name>` (study setup, workers, pruning, results)."""
