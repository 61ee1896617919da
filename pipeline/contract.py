"""The competition contract: what a competition package must define, checked before any work starts."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

REQUIRED = ("KAGGLE_SLUG", "METRIC", "Config", "load", "models", "score", "write_submission")
OPTIONAL = (
    "PRESETS",
    "FOLDS",
    "EXPECTED_FILES",
    # load_test(cfg, data_dir[, trained]): the test side alone (X and y None), for predict to read a new test set
    # without the training data; `trained` is what the run's load put in Data.info["trained"] (its classes, columns
    # read as text, ...; None for runs before it). TrainingDataNeeded when the test rows cannot be read without them.
    "load_test",
    "transforms",
    "search_space",
    "sample",
    "blend",
    "apply_blend",  # the blend hook's saved weights applied to new test predictions (predict without training data)
    "merge_folds",
    "plots",
    # class_scores(y_true, pred[, cfg]) -> {class: score}: the metric of each class, reported beside the CV
    "class_scores",
    "validate",
    "SUBMISSION_FILE",
    "SUBMIT_CLOSED",
    "CALIBRATE",
    "CODE_COMPETITION",  # True: Kaggle scores a notebook, not a file; `push` reports the version to submit
    "IMAGE_SIZE",  # (width, height) every image of X and X_test has: checked with the images, before any fold
    "ORIGINAL",  # a Playground competition's original dataset (pipeline.tabular.Original): download, push, drift
)
# Values of a competition's CALIBRATE: post-blend calibration fitted on OOF predictions (pipeline/calibration.py).
CALIBRATIONS = ("temperature",)
# Config.threshold's one value besides True and False: tags get a cut each (pipeline/threshold.py, tag_cuts.py); here,
# where pipeline/config.py reads it too (a Config declaring `threshold: bool` refuses it)
PER_TAG = "per_tag"


class ContractError(ValueError):
    """A competition, its config or its input is not what the framework expects."""


class TrainingDataNeeded(ContractError):
    """A competition's load_test cannot read the test rows without the training rows (features computed over both,
    or a run that recorded too little of them): the message says why, and `predict` reads the training data too."""


@dataclass(frozen=True)
class Metric:
    """A competition metric: its name and whether larger values are better."""

    name: str
    greater_is_better: bool

    def better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.greater_is_better else a < b


@dataclass
class Data:
    """What `load` returns: raw training inputs, target, test inputs and their submission ids.

    X and X_test are whatever the competition's estimators take (a DataFrame of raw columns, an array of image
    paths, ...); the runner only indexes their rows. y holds numbers: values for regression, integer class
    indices for classification (class names in `classes`). `train_only`, a boolean mask over the training rows (or
    None), marks rows every fold trains on but no fold validates or scores: rows a competition documents as unfit
    to score (House Prices' partial sales of huge houses) that its models may still learn from. `time`, a date or
    number per training row (or None), orders the rows for FOLDS = "time": each fold validates a later period with
    models fitted on the earlier ones only (pipeline/folds.py); `horizon` (or None), how many steps the test lies
    after the training rows, makes each such fold validate that many distinct times, as the test.
    `info["warnings"]`, lines on what load found amiss in the data but read anyway (a column its header names twice,
    test values of a category column no training row has), are shown by `run` and `predict` as warnings.
    """

    X: Any
    y: Any
    X_test: Any
    test_ids: Any
    sample_submission: Path
    classes: list[str] | None = None
    groups: Any = None
    data_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    train_only: Any = None
    time: Any = None
    horizon: int | None = None


# What a fit may tell its caller after each validation epoch (FitContext.report_epoch builds it); tune's pruner
# reads it (pipeline/tuning/pruning.py). An exception the callback raises (optuna.TrialPruned) must leave `fit`.
EpochReport = dict[str, Any]  # {"model": str | None, "fold": int, "epoch": int (from 0), "score": float}


@dataclass
class FitContext:
    """Engineering the runner hands to an estimator whose `fit` takes `context=`: never set by competitions."""

    workdir: Path | None  # checkpoints of this fit; None on the ranks > 0 of a torchrun run (they write nothing)
    seed: int = 0
    device: str = "cpu"
    deadline: float | None = None  # time.monotonic() by which this fit must return
    # keep -> a new deadline, asked when the training starts: the runner's share from then (Budget.training_deadline),
    # so the fit's start-up is not taken from its training; it answers None without a time limit
    training_deadline: Callable[[float], float | None] | None = None
    eval_set: tuple[Any, Any] | None = None
    score: Any = None  # callable(y_true, pred) -> float, the competition's metric
    metric: Metric | None = None
    resume: bool = False
    progress: bool = True
    log: Any = print
    fold: int = 0  # the validation fold of this fit (0..k-1)
    model: str | None = None  # the model's name in the competition's models(cfg)
    n_classes: int | None = None  # classes of the competition (a fold's training rows may lack some)
    predict_rows: int = 0  # rows the runner predicts after fit (OOF + test): time to keep under a deadline
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm statistics over the global batch
    plots_dir: Path | None = None  # the run's plots/ folder for this fit's own plots; None: next to the checkpoints
    report: Callable[[EpochReport], None] | None = None  # tune's pruner (None outside `tune`); see report_epoch

    def report_epoch(self, epoch: int, score: float) -> None:
        """Tell the caller (tune's pruner) this fit's validation score after `epoch` (counted from 0).

        A no-op outside `tune`. The callback may raise (optuna.TrialPruned) to stop the fit: let it propagate.
        """
        if self.report is not None:
            self.report({"model": self.model, "fold": self.fold, "epoch": epoch, "score": score})


def resolve_competition_path(spec: str) -> tuple[str, Path]:
    """Map `competitions/cifar10`, `competitions.cifar10` or `cifar10` to (module name, folder).

    A folder outside competitions/ (a package of your own, e.g. `~/my_comp`) is imported by its folder name.
    """
    given = Path(spec).expanduser()
    root = Path(__file__).resolve().parent.parent / "competitions"
    if (given / "__init__.py").is_file() and given.resolve().parent != root.resolve():
        return given.resolve().name, given.resolve()
    name = Path(spec.replace(".", "/").rstrip("/")).name
    folder = root / name
    if not (folder / "__init__.py").is_file():
        raise ContractError(
            f"Unknown competition '{spec}': no package competitions/{name}/. "
            f"Available: {', '.join(available_competitions()) or '(none)'}."
        )
    return f"competitions.{name}", folder


def available_competitions() -> list[str]:
    """Names of the competition packages under competitions/."""
    root = Path(__file__).resolve().parent.parent / "competitions"
    return sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("_"))


def load_competition(spec: str) -> ModuleType:
    """Import a competition package and check it defines the contract's names."""
    module_name, folder = resolve_competition_path(spec)
    project = str(Path(__file__).resolve().parent.parent)
    parent = project if module_name.startswith("competitions.") else str(folder.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ContractError(f"Competition '{module_name}' cannot be imported: {e}") from e
    missing = [n for n in REQUIRED if not hasattr(module, n)]
    if missing:
        raise ContractError(
            f"Competition '{module_name}' is missing required names: {', '.join(missing)}. "
            f"A competition defines: {', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})."
        )
    if not (isinstance(module.Config, type) and dataclasses.is_dataclass(module.Config)):
        raise ContractError(f"{module_name}.Config must be a frozen dataclass with a default on every field.")
    if not isinstance(module.METRIC, Metric):
        raise ContractError(f"{module_name}.METRIC must be a pipeline.contract.Metric, got {module.METRIC!r}.")
    calibrate = getattr(module, "CALIBRATE", None)
    if calibrate is not None and calibrate not in CALIBRATIONS:
        raise ContractError(
            f"{module_name}.CALIBRATE must be None or one of {', '.join(CALIBRATIONS)}, got {calibrate!r}."
        )
    size = getattr(module, "IMAGE_SIZE", None)
    if size is not None and not (
        isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise ContractError(f"{module_name}.IMAGE_SIZE must be None or (width, height) in pixels, got {size!r}.")
    return module


def competition_name(module: ModuleType) -> str:
    """The short name of a competition module (its folder)."""
    return module.__name__.rsplit(".", 1)[-1]


def competition_hook(module: Any, name: str, cfg: Any) -> Callable[..., Any] | None:
    """The competition's optional hook `name` (blend, merge_folds, apply_blend; its score where the runner scores one
    model's predictions), given the run's Config as `cfg=` when it takes one; None when the competition has no such
    hook. Every caller of a hook goes through here."""
    hook = getattr(module, name, None)
    if hook is None:
        return None
    try:
        takes_cfg = "cfg" in inspect.signature(hook).parameters
    except (TypeError, ValueError):
        takes_cfg = False
    return functools.partial(hook, cfg=cfg) if takes_cfg else hook
