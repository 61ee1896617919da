"""Kaggle "Dog Breed Identification": 120 breeds from ImageNet's dogs, scored by multi-class log loss.

The recipe: a fine-tuned ImageNet-22k backbone, crop/flip/colour augmentation, flip TTA, temperature calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from competitions.dog_breeds.sample import write_sample
from pipeline.contract import Metric
from pipeline.vision.augment import standard_transforms as transforms
from pipeline.vision.backbones import classifiers
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.recipe import SCRATCH_SAMPLE, FineTuneRecipe

KAGGLE_SLUG = "dog-breed-identification"
METRIC = Metric("log_loss", greater_is_better=False)
FOLDS = "stratified"
EXPECTED_FILES = ["labels.csv", "sample_submission.csv", "train", "test"]
# Log loss punishes overconfidence: one temperature fitted on the blended OOF probabilities, applied to test.
CALIBRATE = "temperature"
# labels.csv (id,breed), train/<id>.jpg, test/<id>.jpg; the submission: id + one probability column per breed
FILES = CsvImages("labels.csv", "id", "breed", "train/{}.jpg", "test/{}.jpg", probabilities=True)
load, load_test, score = FILES.load, FILES.load_test, FILES.score
write_submission, validate = FILES.write_submission, FILES.validate


@dataclass(frozen=True)
class Config(FineTuneRecipe):
    """One GPU: ConvNeXt-S (ImageNet-22k, fine-tuned on 1k at 384 px) fine-tuned at 384 px with AdamW, a frozen first
    epoch, layer-wise lr decay, crop/flip/colour augmentation and flip TTA; 5 stratified folds."""

    arch: str = "convnext_small.fb_in22k_ft_in1k_384"
    pretrained_file: str | None = None  # a local timm checkpoint instead of downloading (offline machines)
    image_size: int = 384
    drop_path: float = 0.2
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-4
    label_smoothing: float = 0.1  # underconfident predictions are what the temperature then corrects
    accum_steps: int = 1
    crop_scale: float = 0.35


PRESETS: dict[str, dict[str, Any]] = {
    # Applied by --sample (under any --preset/--set): timm's tiny test ResNet from random init (no download) at
    # 32 px, 2 folds; the same estimator, fine-tuning policy code, calibration and submission as the real recipe
    "sample": {
        "arch": "test_resnet",
        "pretrained_file": None,
        "epochs": 10,
        **SCRATCH_SAMPLE,
    },
    # 2-core CPU (not measured here: no pretrained weights offline): a linear probe on EfficientNet-B0's ImageNet
    # features (ImageNet-1k holds 118 of the 120 breeds), 224 px, one 10% holdout
    "cpu": {
        "arch": "efficientnet_b0.ra_in1k",
        "image_size": 224,
        "epochs": 3,
        "freeze_epochs": 3,
        "batch_size": 64,
        "lr": 1e-3,
        "layer_decay": None,
        "drop_path": 0.0,
        "holdout": 0.1,
    },
    # a larger backbone and a longer schedule for one GPU with time to spare (not measured here)
    "gpu_large": {
        "arch": "eva02_base_patch14_448.mim_in22k_ft_in22k_in1k",
        "image_size": 448,
        "batch_size": 16,
        "lr": 3e-5,
        "layer_decay": 0.85,
        "drop_path": 0.1,
        "epochs": 6,
    },
}
# seconds, for smoke tests: the sample's tiny network from scratch, fewer epochs, no TTA
PRESETS["fast"] = {k: v for k, v in PRESETS["sample"].items() if k != "pretrained_file"} | {"epochs": 8, "tta": []}


def models(cfg: Any) -> dict[str, Any]:
    """One fine-tuned timm network (the blend then has a single member; add archs with `pipeline ensemble`)."""
    return classifiers(cfg, transforms)


def search_space(trial: Any) -> dict[str, Any]:
    """Optuna search space over the fine-tuning knobs."""
    return {
        "lr": trial.suggest_float("lr", 2e-5, 5e-4, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.1, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "layer_decay": trial.suggest_float("layer_decay", 0.6, 0.95),
        "drop_path": trial.suggest_float("drop_path", 0.0, 0.3),
        "crop_scale": trial.suggest_float("crop_scale", 0.2, 0.7),
    }


def sample(dest: Path) -> None:
    """Write the built-in sample (80 train, 20 test JPEGs of five breeds) in Kaggle's layout."""
    write_sample(Path(dest))
