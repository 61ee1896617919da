"""Classify Leaves (D2L's Kaggle competition): 176 tree species from 224x224 leaf photos, scored by accuracy.

train.csv (image,label), test.csv and sample_submission.csv (image,label) with images/<n>.jpg, read, scored and
written by pipeline.vision.csv_images; two fine-tuned backbones of different families blended on OOF predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from competitions.leaves.sample import write_sample
from competitions.leaves.species import SPECIES
from pipeline.contract import Metric
from pipeline.vision.backbones import classifiers
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.recipe import SCRATCH_SAMPLE, FineTuneRecipe

KAGGLE_SLUG = "classify-leaves"
METRIC = Metric("accuracy", greater_is_better=True)
FOLDS = "stratified"
EXPECTED_FILES = ["train.csv", "test.csv", "sample_submission.csv", "images"]
FILES = CsvImages(
    "train.csv",
    "image",
    test_csv="test.csv",
    known_classes=SPECIES,
    known_source=f"the {len(SPECIES)} species of competitions/leaves/species.py",
)
load, load_test, score = FILES.load, FILES.load_test, FILES.score
write_submission, validate = FILES.write_submission, FILES.validate


@dataclass(frozen=True)
class Config(FineTuneRecipe):
    """One GPU: ConvNeXt-T (ImageNet-22k) and ResNeSt-50 (the family that topped this competition) fine-tuned at
    224 px with AdamW, a frozen first epoch, layer-wise lr decay, CutMix, flips and rotations, flip TTA; 5 stratified
    folds of each, blended on their OOF predictions."""

    archs: tuple[str, ...] = ("convnext_tiny.fb_in22k_ft_in1k", "resnest50d.in1k")
    pretrained_files: tuple[str, ...] = ()  # local timm checkpoints, one per arch (offline machines); empty: download
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-4
    cutmix_alpha: float = 1.0
    mix_prob: float = 0.5  # share of batches that get CutMix
    tta: tuple[str, ...] = ("hflip", "vflip")


PRESETS: dict[str, dict[str, Any]] = {
    # Applied by --sample (under any --preset/--set): two tiny timm test networks from random init (no download) at
    # 32 px, 2 folds, blended on OOF like the real pair
    "sample": {"archs": ["test_resnet", "test_convnext"], "pretrained_files": [], "epochs": 10, "cutmix_alpha": 0.0}
    | SCRATCH_SAMPLE,
    # 2-core CPU (not measured here: no pretrained weights offline): two small ImageNet backbones at 160 px, a few
    # epochs, one 10% holdout
    "cpu": {
        "archs": ["mobilenetv3_large_100.ra_in1k", "efficientnet_b0.ra_in1k"],
        "image_size": 160,
        "epochs": 4,
        "lr": 1e-3,
        "drop_path": 0.0,
        "layer_decay": None,
        "holdout": 0.1,
    },
}
# seconds, for smoke tests: the sample's two tiny networks from scratch, fewer epochs
PRESETS["fast"] = {k: v for k, v in PRESETS["sample"].items() if k != "pretrained_files"} | {"epochs": 8}


def transforms(cfg: Any, train: bool) -> Any:
    """Training: random resized crop, flips, 90-degree rotations, colour jitter (leaves have no up or left).
    Evaluation: resized to image_size. Downscales average pixels (INTER_AREA), as pipeline.vision.augment's do."""
    import albumentations as A

    s, j = cfg.image_size, cfg.color_jitter
    if not train:
        return A.Compose([A.Resize(s, s, area_for_downscale="image")])
    steps = [
        A.RandomResizedCrop(size=(s, s), scale=(cfg.crop_scale, 1.0), area_for_downscale="image"),
        A.HorizontalFlip(),
        A.VerticalFlip(),
        A.RandomRotate90(),
    ]
    if j > 0:
        steps.append(A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=0.0, p=0.5))
    return A.Compose(steps)


def models(cfg: Any) -> dict[str, Any]:
    """One fine-tuned ImageClassifier per architecture in cfg.archs; the runner blends them on OOF predictions."""
    return classifiers(cfg, transforms)


def search_space(trial: Any) -> dict[str, Any]:
    """Optuna search space over the fine-tuning knobs."""
    return {
        "lr": trial.suggest_float("lr", 5e-5, 1e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.1, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "cutmix_alpha": trial.suggest_categorical("cutmix_alpha", [0.0, 0.5, 1.0]),
        "layer_decay": trial.suggest_float("layer_decay", 0.6, 0.95),
        "crop_scale": trial.suggest_float("crop_scale", 0.3, 0.9),
    }


def sample(dest: Path) -> None:
    """Write the built-in sample (80 train, 20 test 224x224 JPEGs of five species) in the competition's layout."""
    write_sample(Path(dest))
