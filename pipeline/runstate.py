"""What the steps of a run share: the options `run` takes (RunOptions), what they settle before any data is read
(Plan), the state every fit of the run reads (RunState) and one fit's job (FoldJob).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import pseudo
from pipeline.budget import Budget
from pipeline.finish import FittedRun
from pipeline.fitting import ENGINEERING
from pipeline.folds import FoldPlan


@dataclass
class RunOptions:
    """Everything `python -m pipeline run` accepts."""

    competition: str
    data: str | None = None
    sample: bool = False
    preset: str | None = None
    sets: list[str] = field(default_factory=list)
    params: str | None = None
    seed: int = 0
    folds: int | None = None
    time_limit: float | None = None
    tag: str | None = None
    models: list[str] | None = None
    jobs: int | None = None
    resume: str | None = None
    # the --params file's overrides as read when the run started (command.json keeps them): a resume uses these, not
    # the file as it is by then (`tune` rewrites best_params.json); None: read `params` (runs saved before)
    params_values: dict[str, Any] | None = None
    runs_root: str | None = None
    submissions_root: str | None = None
    quiet: bool = False
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)
    # Device settings of deep estimators (pipeline.fitting.ENGINEERING), set on every estimator with such a
    # parameter; None: the estimator's own default
    precision: str | None = None  # auto | fp32 | fp16 | bf16 (mixed precision on CUDA)
    num_workers: int | None = None  # DataLoader worker processes
    cache_mb: int | None = None  # decoded images kept in memory up to this many MiB
    # False: no refit on every training row even where Config.refit asks for one (tune's trials, scored by their CV)
    refit: bool = True
    # Called after every finished fold with {"model", "fold", "score", "folds_done", "running_mean"}; an exception
    # it raises (e.g. optuna.TrialPruned) stops the run. Estimators taking a context also get it as
    # context.report, for epoch-level reports (FitContext.report_epoch). Not saved in command.json.
    report: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)
    # time.monotonic() when the process began (the `run` command's: the interpreter's imports count against
    # --time-limit, which bounds the command's whole wall time); None: when run() is called. Not saved in command.json.
    started: float | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Plan:
    """What the options and the competition settle before any data is read: the Config, its folds, the models and
    the device they fit on."""

    opts: RunOptions  # device settings given as Config keys moved to their own fields (_engineering)
    cfg: Any
    folding: FoldPlan
    selected: dict[str, Any]  # model name -> unfitted estimator, in fitting order
    device: str
    # The Config as config.json records it and the parts' key hashes it: config_dict(cfg), plus the device settings
    # a run from before they left the Config saved in it (so a resumed run keeps its saved parts)
    config_json: dict[str, Any]
    overrides: dict[str, Any]  # the user's (--preset, --params, --set)
    sample_overrides: dict[str, Any]  # the --sample preset applied, else {}
    notes: list[str]  # log lines on device settings given the old way
    refit: bool = False  # each model refitted on every training row after its folds (Config.refit, RunOptions.refit)


@dataclass(kw_only=True)
class RunState(FittedRun):
    """What every fit of a run shares, settled by `_prepare` before the first fold; `results` fills as models
    finish, and the state is the FittedRun that finish_run receives."""

    opts: RunOptions
    plan: Plan
    budget: Budget
    jobs: int  # threads for tabular models
    # Config.pseudo_label: each first-round model's test predictions per fold, its students' teachers
    fold_tests: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    @property
    def engineering(self) -> dict[str, Any]:
        """The runner's device settings for fit_fold (None: the estimator's own)."""
        return {k: getattr(self.opts, k) for k in ENGINEERING}

    @property
    def n_classes(self) -> int | None:
        return len(self.data.classes) if self.data.classes is not None else None


@dataclass(frozen=True)
class FoldJob:
    """One model on one fold: its estimator and the part file that keeps its predictions while `key` still matches."""

    model: str
    estimator: Any
    fold: int | str  # the validation fold, or runfolder.FULL: the refit on every training row
    key: str  # _config_hash of config, seed, folds and model: a saved part with another key is fitted again
    part_path: Path
    solo: bool  # under torchrun, a model without DDP support: rank 0 fits, the other ranks receive its predictions
    pseudo: pseudo.PseudoRows | None = None  # a student's fit: the test rows its training rows gain, and their labels
