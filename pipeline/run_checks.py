"""The checks that can refuse a run before its folder exists: the data load() returns, the models the settings
give (scikit-learn's parameter checks and the estimators' own), --folds against the rows, and the image files.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from pipeline import distributed, pseudo, stacking
from pipeline.contract import ContractError, Data, competition_name
from pipeline.datadir import checks_cache
from pipeline.folds import FoldPlan, make_folds
from pipeline.imagefiles import image_paths, verify_images
from pipeline.run_folds import check_fold_count
from pipeline.runlog import interactive
from pipeline.runstate import RunOptions
from pipeline.stacked import every_file


def check_data(data: Data, name: str) -> None:
    """Fail early when load() returned inconsistent shapes."""
    if not isinstance(data, Data):
        raise ContractError(f"{name}.load must return pipeline.contract.Data, got {type(data).__name__}.")
    if len(data.X) != len(data.y):
        raise ContractError(f"{name}.load: {len(data.X)} training rows but {len(data.y)} targets.")
    if len(data.X_test) != len(data.test_ids):
        raise ContractError(f"{name}.load: {len(data.X_test)} test rows but {len(data.test_ids)} test ids.")
    if data.train_only is not None:
        mask = np.asarray(data.train_only)
        if mask.dtype != bool or mask.shape != (len(data.y),):
            raise ContractError(
                f"{name}.load: train_only must be a boolean mask of the {len(data.y)} training rows, "
                f"got {mask.dtype} of shape {mask.shape}."
            )
        if mask.all():
            raise ContractError(f"{name}.load: train_only marks every training row; nothing would be scored.")


def select_models(module: ModuleType, cfg: Any, names: list[str] | None) -> dict[str, Any]:
    """The competition's models(cfg), or the ones --models names, in that order; a setting models(cfg) refuses, or
    one a scikit-learn estimator's own checks refuse (a negative alpha), is refused here, before any fit."""
    try:
        selected = module.models(cfg)
    except (ValueError, TypeError) as e:  # the competition's own refusal of a setting (an unknown model name)
        raise ContractError(f"{competition_name(module)}: the settings give no models: {one_line(e)}") from None
    if names:
        unknown = [m for m in names if m not in selected]
        if unknown:
            name = competition_name(module)
            raise ContractError(f"Unknown model(s) {', '.join(unknown)}. Models of {name}: {', '.join(selected)}.")
        selected = {m: selected[m] for m in names}
    for name, estimator in selected.items():
        check_estimator_params(name, estimator)
        distributed.check_batch_split(estimator)  # under torchrun: a batch that cannot split over the ranks
    return selected


def one_line(e: BaseException) -> str:
    """An error's message on one line: a library's many-line one (albumentations' pydantic errors) joined, without
    its "For further information" links."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return "; ".join(line for line in lines if not line.startswith("For further information")) or type(e).__name__


def check_estimator_params(name: str, estimator: Any) -> None:
    """scikit-learn's own parameter checks of the model and every estimator inside it (pipelines, wrappers), and an
    estimator's own `check_params()`, run at fit otherwise: a bad --set value would cost the folds before it."""
    from sklearn.base import BaseEstimator
    from sklearn.utils._param_validation import InvalidParameterError

    if not isinstance(estimator, BaseEstimator):
        return
    parts = [estimator, *(v for v in estimator.get_params(deep=True).values() if isinstance(v, BaseEstimator))]
    for part in parts:
        try:
            if hasattr(part, "_parameter_constraints"):  # scikit-learn's estimators (LightGBM's and others' have none)
                part._validate_params()
            if callable(getattr(part, "check_params", None)):  # an estimator's own checks (ImageClassifier's TTA)
                part.check_params()
        except (InvalidParameterError, ValueError) as e:
            raise ContractError(f"model {name}: {one_line(e)}") from None


def load_checked(module: ModuleType, cfg: Any, data_dir: Path, folding: FoldPlan, opts: RunOptions) -> Data:
    """load() with every check the data can fail: shapes, --folds against the rows, unreadable images and images
    not of the competition's IMAGE_SIZE."""
    data = module.load(cfg, data_dir)
    check_data(data, competition_name(module))
    if why := stacking.unsuited(getattr(cfg, "stack", "off") or "off", data.classes is not None):
        raise ContractError(why)
    if why := pseudo.unsuited(cfg, module, data.y, data.classes is not None):
        raise ContractError(why)
    scored = np.ones(len(data.y), dtype=bool) if data.train_only is None else ~np.asarray(data.train_only)
    groups = None if data.groups is None else np.asarray(data.groups)[scored]
    check_fold_count(np.asarray(data.y)[scored], folding, groups, data.classes)
    if folding.kind == "time":  # refused here, before the run folder, when the times cannot make the folds
        times = None if data.time is None else np.asarray(data.time)[scored]
        y, window = np.asarray(data.y)[scored], getattr(data, "horizon", None)
        make_folds(y, folding.k, opts.seed, "time", holdout=folding.holdout, times=times, window=window)
    check_images(module, data_dir, (data.X, data.X_test), opts.quiet)
    return data


def check_images(module: ModuleType, data_dir: Path, arrays: tuple[Any, ...], quiet: bool = False) -> None:
    """Decode every image file among `arrays` (a Data's X / X_test; other inputs have none) and check it has the
    competition's IMAGE_SIZE, failing with the files named: the run's check at load, and predict's on a new test set.
    An image of several channel files (pipeline/stacked.py) is checked file by file."""
    paths = every_file(image_paths(*arrays))
    if paths:
        show = interactive() and not quiet and distributed.is_main()
        cache = checks_cache(data_dir)  # the pipeline's own folder, or the data cache for a user's --data folder
        size, name = getattr(module, "IMAGE_SIZE", None), competition_name(module)
        distributed.in_turn(lambda: verify_images(paths, cache, show_progress=show, size=size, owner=name))
