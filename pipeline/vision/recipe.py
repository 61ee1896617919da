"""ImageRecipe: the training knobs an image competition's Config declares, read by ImageClassifier.from_config.

A competition's Config extends ImageRecipe (dataclass inheritance keeps flat `--set` keys) and redeclares the
defaults of its own recipe; it may add any other ImageClassifier parameter by name (momentum, grad_clip,
freeze_epochs, mix_prob, ...) and from_config passes it on. Fields that are not ImageClassifier parameters
(image_size, crop_scale, folds, ...) are the competition's own science: its transforms and the runner read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Config fields whose 0 means "off", which ImageClassifier spells None
ZERO_IS_NONE = ("num_classes", "grad_clip", "patience")
# ImageClassifier parameters a Config never sets: the runner and the estimator own them
ENGINEERING = (
    "precision",
    "channels_last",
    "num_workers",
    "cache_images",
    "eval_batch_size",
    "device",
    "deterministic",
    "checkpoint_dir",
    "random_state",
    "verbose",
)


@dataclass(frozen=True)
class TrainKnobs:
    """The optimisation knobs every image recipe sets; the trainer's TrainConfig extends them with the rest."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float = 0.2
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    ema_decay: float = 0.0


@dataclass(frozen=True)
class ImageRecipe(TrainKnobs):
    """What every image-classification recipe sets; the defaults are ImageClassifier's."""

    pretrained: bool = False
    tta: tuple[str, ...] = ("hflip",)
    augment_on: str = "auto"  # training augmentation: "device" (batch_augment), "loader" (transforms), or "auto"
    folds: int = 5
    holdout: float = 0.0  # > 0: one validation split of this fraction instead of k folds
    # pseudo-labelling (pipeline/pseudo.py): None off; else each network again, as "<model>+pseudo", on each fold's
    # training images plus the test images that fold's networks give a class of at least this probability (e.g. 0.95)
    pseudo_label: float | None = None
    # keep the training labels' class shares among those test images (each class capped at its share of them)
    pseudo_label_balance: bool = False


@dataclass(frozen=True)
class FineTuneRecipe(ImageRecipe):
    """Fine-tuning a pretrained backbone (docs/finetuning.md): AdamW, cosine, a frozen first epoch, layer-wise lr decay.

    image_size, crop_scale and color_jitter are for the competition's transforms, check_images for its load().
    """

    pretrained: bool = True
    num_classes: int = 0  # 0: the classes in the data
    image_size: int = 224
    drop_path: float = 0.1
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    schedule: str = "cosine"
    warmup: float = 0.1
    label_smoothing: float = 0.1
    grad_clip: float = 1.0  # 0: off
    freeze_epochs: int = 1  # epochs training the new head only, so its random start does not wreck the backbone
    freeze_bn: bool = True
    layer_decay: float | None = 0.8  # lr factor per block from the head down: early layers stay close to ImageNet
    backbone_lr: float = 1.0
    crop_scale: float = 0.5  # RandomResizedCrop's smallest area fraction
    color_jitter: float = 0.2  # colour augmentation strength; 0: off
    check_images: bool = True  # read every image header in load (about 0.1 ms each) to fail before training


# The --sample preset of a fine-tuning recipe (under the competition's own keys: its arch, epochs): a tiny timm
# test network from random init (no download) at 32 px, plain training without the fine-tuning policy, 2 folds
SCRATCH_SAMPLE: dict[str, Any] = {
    "pretrained": False,
    "image_size": 32,
    "drop_path": 0.0,
    "batch_size": 16,
    "lr": 3e-3,
    "weight_decay": 0.01,
    "label_smoothing": 0.0,
    "freeze_epochs": 0,
    "layer_decay": None,
    "crop_scale": 0.6,
    "tta": ["hflip"],
    "folds": 2,
}


def recipe_params(cfg: Any, names: list[str]) -> dict[str, Any]:
    """The estimator parameters among `names` that cfg declares, with 0 -> None where 0 means off, sequences as
    tuples and `drop_path` (a Config field) as timm's model_kwargs."""
    out: dict[str, Any] = {}
    for name in names:
        if name in ENGINEERING or not hasattr(cfg, name):
            continue
        value = getattr(cfg, name)
        if name in ZERO_IS_NONE:
            value = value or None
        elif isinstance(value, list):
            value = tuple(value)
        out[name] = value
    drop_path = getattr(cfg, "drop_path", 0.0)
    if "model_kwargs" in names and "model_kwargs" not in out:
        out["model_kwargs"] = {"drop_path_rate": drop_path} if drop_path > 0 else None
    return out
