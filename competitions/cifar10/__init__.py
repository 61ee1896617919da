"""Kaggle "CIFAR-10 - Object Recognition in Images": 32x32 RGB images, ten classes, scored by accuracy."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from competitions.cifar10.sample import CLASSES, write_sample
from pipeline.contract import ContractError, Data, Metric
from pipeline.vision.batch_augment import BatchAugment
from pipeline.vision.class_submissions import accuracy, write_labels
from pipeline.vision.csv_images import read_csv
from pipeline.vision.recipe import ImageRecipe

KAGGLE_SLUG = "cifar-10"
FILL = (125, 123, 114)  # cutout's colour: the training images' mean
METRIC = Metric("accuracy", greater_is_better=True)
FOLDS = "stratified"
EXPECTED_FILES = ["trainLabels.csv", "sampleSubmission.csv", "train", "test"]
# every image is 32x32: one of another size is refused before any fold, named (the batches, the crop and the network
# assume this size; a stray one crashed a k-fold run at its first batch holding it and was cropped in a holdout one)
IMAGE_SIZE = (32, 32)


@dataclass(frozen=True)
class Config(ImageRecipe):
    """A fast CIFAR recipe for one GPU: airbench's 32 px network, crop/flip/cutout, label smoothing, TTA."""

    arch: str = "airbench94"
    epochs: int = 40
    batch_size: int = 512
    lr: float = 0.4
    momentum: float = 0.9
    label_smoothing: float = 0.2
    accum_steps: int = 1
    patience: int = 0  # early stopping after this many epochs without a better validation score; 0: off
    pad: int = 2  # random translation: reflect-pad by this many pixels, then crop back to 32
    flip: bool = True
    cutout: int = 8  # side of one square cut out of every training image; 0: off
    tta: tuple[str, ...] = ("hflip", "shift")


PRESETS: dict[str, dict[str, Any]] = {
    # Applied by --sample (under any --preset/--set): airbench's small network from random init on the 600 generated
    # images, 2 folds, a short schedule; the same estimator, trainer, TTA and submission as the real recipe
    "sample": {"arch": "airbench_small", "epochs": 6, "batch_size": 64, "lr": 0.1, "folds": 2, "tta": ["hflip"]},
    # 2-core CPU, --time-limit 600, 10,000 images: one 10% holdout (k folds would split the budget k ways); batch 256
    # gives twice the optimizer steps of 512 at the same speed; epochs is a cap: the trainer fits the schedule to the
    # time left (about 43 epochs on an idle machine: holdout accuracy 0.844)
    "cpu": {"holdout": 0.1, "epochs": 100, "batch_size": 256, "lr": 0.2},
    # a longer schedule with weight averaging for one GPU; on one H200, 5 folds under --time-limit 120: OOF accuracy
    # 0.8025 (14 to 25 epochs a fold; training is bound by the CPU's augmentation, see benchmarks/README.md)
    "gpu": {"epochs": 80, "ema_decay": 0.999},
    # seconds, for smoke tests: a tiny timm network, one holdout split, no TTA
    "fast": {"arch": "test_resnet", "epochs": 3, "batch_size": 64, "lr": 0.05, "holdout": 0.2, "tta": [], "cutout": 0},
}


def sample(dest: Path) -> None:
    """Write the built-in sample (600 train, 200 test generated images) in Kaggle's layout."""
    write_sample(Path(dest))


# accuracy; the submission: id,label in the sample submission's order, labels from the most probable class
score, write_submission = accuracy, write_labels


def load(cfg: Config, data_dir: Path) -> Data:
    """Image paths and class indices from trainLabels.csv; test paths in sampleSubmission.csv's order."""
    data_dir = Path(data_dir)
    labels = _read_csv(data_dir / "trainLabels.csv")
    unknown = ~labels["label"].isin(CLASSES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ContractError(
            f"trainLabels.csv line {row + 2}: unknown label {labels['label'].iloc[row]!r}; "
            f"valid labels: {', '.join(CLASSES)}."
        )
    sub = _read_csv(data_dir / "sampleSubmission.csv")
    X = _image_paths(data_dir / "train", labels["id"], "trainLabels.csv")
    X_test = _image_paths(data_dir / "test", sub["id"], "sampleSubmission.csv")
    y = labels["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy(dtype=np.int64)
    return Data(
        X=X,
        y=y,
        X_test=X_test,
        test_ids=sub["id"].to_numpy(),
        sample_submission=data_dir / "sampleSubmission.csv",
        classes=list(CLASSES),
        data_dir=data_dir,
    )


def load_test(cfg: Config, data_dir: Path) -> Data:
    """The test images alone (X and y None), for `predict` of a new test set without trainLabels.csv and train/:
    test/<id>.png in sampleSubmission.csv's order; the classes are the competition's ten."""
    data_dir = Path(data_dir)
    sub = _read_csv(data_dir / "sampleSubmission.csv")
    return Data(
        X=None,
        y=None,
        X_test=_image_paths(data_dir / "test", sub["id"], "sampleSubmission.csv"),
        test_ids=sub["id"].to_numpy(),
        sample_submission=data_dir / "sampleSubmission.csv",
        classes=list(CLASSES),
        data_dir=data_dir,
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """One of the two CSVs as text: the columns id and label, every id given once (an image listed twice would be
    trained with two labels, and could sit on both sides of a fold)."""
    frame = read_csv(path, ["id", "label"], unique="id")
    if (blank := frame["id"].str.strip() == "").any():
        raise ContractError(f"{path.name} line {int(blank.to_numpy().argmax()) + 2}: the id is empty.")
    return frame


def _image_paths(folder: Path, ids: pd.Series, listed_in: str) -> np.ndarray:
    """folder/<id>.png for each id, failing with the first missing files named, and the CSV line listing the first
    (one listdir, not 300k stats)."""
    present = set(os.listdir(folder))
    names = [f"{i}.png" for i in ids]
    missing = [k for k, n in enumerate(names) if n not in present]
    if missing:
        raise ContractError(
            f"{listed_in} line {missing[0] + 2}: {len(missing)} image(s) it lists are missing from {folder.name}/, "
            f"first: {', '.join(names[k] for k in missing[:5])}."
        )
    return np.array([str(folder / n) for n in names])


def transforms(cfg: Config, train: bool) -> Any:
    """Training: reflect-pad and crop back to IMAGE_SIZE (translation), horizontal flip, cutout. Evaluation: as is."""
    import albumentations as A
    import cv2

    if not train:
        return A.Compose([])
    steps: list[Any] = []
    w, h = IMAGE_SIZE
    if cfg.pad > 0:
        steps += [
            A.PadIfNeeded(h + 2 * cfg.pad, w + 2 * cfg.pad, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(h, w),
        ]
    if cfg.flip:
        steps.append(A.HorizontalFlip())
    if cfg.cutout > 0:
        size = (cfg.cutout, cfg.cutout)
        steps.append(
            A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=size, hole_width_range=size, fill=FILL, p=1.0)
        )
    return A.Compose(steps)


def batch_augment(cfg: Config) -> BatchAugment:
    """The same training augmentation as whole-batch tensor ops, for images decoded in memory (augment_on)."""
    return BatchAugment(pad=cfg.pad, flip=cfg.flip, cutout=cfg.cutout, fill=FILL)


def models(cfg: Config) -> dict[str, Any]:
    """One timm network trained by the framework's ImageClassifier."""
    from pipeline.vision import ImageClassifier

    est = ImageClassifier.from_config(
        cfg,
        num_classes=len(CLASSES),
        train_transform=transforms(cfg, train=True),
        eval_transform=transforms(cfg, train=False),
        batch_augment=batch_augment(cfg),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    )
    return {cfg.arch: est}


def search_space(trial: Any) -> dict[str, Any]:
    """Optuna search space over the recipe's main knobs."""
    return {
        "lr": trial.suggest_float("lr", 0.05, 1.0, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-4, 2e-3, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.3),
        "cutout": trial.suggest_categorical("cutout", [0, 8, 12]),
    }
