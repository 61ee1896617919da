"""The House Prices recipe's default run, read back for the benchmarks that refit its models on its folds.

`recipe_run` runs `python -m pipeline run competitions/house_prices` at default settings (5-fold KFold, seed 0, the
1458 rows left after the documented outlier rule) and returns its folds, its ten models' out-of-fold predictions and
the loaded data; `blend_score` is the framework's own out-of-fold blend of any such predictions, comparable with the
run's reported CV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import competitions.house_prices as hp
from pipeline.finish import blend_results
from pipeline.runner import RunOptions, run

DATA = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "data"
    / "house-prices-advanced-regression-techniques.zip"
)


@dataclass
class RecipeRun:
    run_dir: Path
    summary: dict[str, Any]
    cfg: Any
    data: Any
    folds: np.ndarray
    oof: dict[str, np.ndarray]  # model -> out-of-fold prices (fold -1, the outlier rule's rows, priced apart)

    @property
    def scored(self) -> np.ndarray:
        return self.folds >= 0


def recipe_run(data: str | Path, tag: str, reuse: str | Path | None = None) -> RecipeRun:
    """A fresh default run, or the finished default run in `reuse` (a run directory) read back without refitting."""
    run_dir = (
        Path(reuse) if reuse else run(RunOptions("competitions/house_prices", data=str(data), tag=tag, quiet=True))
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    cfg = hp.Config()
    loaded = hp.load(cfg, Path(summary["data_dir"]))
    oof = {m: np.load(run_dir / "oof" / f"{m}.npy").reshape(-1) for m in summary["models"]}
    return RecipeRun(run_dir, summary, cfg, loaded, np.load(run_dir / "folds.npy"), oof)


def blend_score(y: np.ndarray, folds: np.ndarray, oofs: dict[str, np.ndarray]) -> dict[str, Any]:
    """pipeline.finish.blend_results of these out-of-fold predictions (no test predictions needed)."""
    return blend_results(hp, y, folds, {m: {"oof": v, "test": v[:1]} for m, v in oofs.items()})
