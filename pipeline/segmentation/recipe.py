"""SegmentationRecipe: the training knobs a segmentation competition's Config declares, read by
Segmenter.from_config, and the two cuts its score and submission read.

A competition's Config extends SegmentationRecipe (dataclass inheritance keeps flat `--set` keys) and redeclares the
defaults of its own recipe; any other Segmenter parameter it declares by name is passed on too. `models` names the
encoders (one Segmenter each); mask_threshold and min_area are the competition's own (its score and submission cut
the predicted probabilities with them), not the estimator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SegmentationRecipe:
    """A strong one-GPU recipe: a U-Net over an ImageNet resnet34, 512 px, 20 epochs of AdamW at 3e-4 with a cosine
    schedule, BCE + Dice, flips, shift-scale-rotate and brightness/contrast, flip TTA. The defaults are Segmenter's."""

    models: tuple[str, ...] = ("resnet34",)  # timm encoders, one Segmenter each
    pretrained: bool = True  # the encoder's ImageNet weights (its timm tag's), from the local cache
    pretrained_file: str | None = None  # a local weights file instead
    image_size: int | tuple[int, ...] = 512  # the longest side (the other follows the grid's aspect), or (h, w)
    # tiles (pipeline/segmentation/tiles.py): None trains and predicts whole images at image_size; an int trains on a
    # random tile x tile crop of each image at image_size per epoch (half of them around a mask pixel) and predicts
    # by tile windows overlapping by tile_overlap, blended towards each window's centre, so image_size can be the
    # images' own size and small objects keep their pixels; a multiple of 32 (the encoder's stride), at most the
    # working size's shorter side
    tile: int | None = None
    tile_overlap: float = 0.25
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)  # the U-Net's blocks, deepest first
    epochs: int = 20
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup: float = 0.05  # a share of the training
    ema_decay: float = 0.0
    dice_weight: float = 1.0  # loss = BCE + dice_weight x soft Dice
    hflip: float = 0.5
    vflip: float = 0.0
    shift: float = 0.0625
    scale: float = 0.1
    rotate: float = 15.0
    affine_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    color_p: float = 0.5
    tta: bool = True  # horizontal-flip TTA, the two views' probabilities averaged
    mask_threshold: float = 0.5  # the score and submission: a pixel is in above this probability
    min_area: int = 0  # the score and submission: a class's mask under this many pixels of the original is dropped
    # on: each class's threshold and min_area fitted out of fold after the blend, applied when they beat these two
    # there (pipeline/segmentation/mask_cut.py)
    fit_mask_cut: bool = False
    # instances (f2_iou, Airbus): the network learns a second channel, the contact map of each image's ships (where two
    # touch or come within two grid pixels, from the CSV's rows: contact.py), and each predicted mask is split into
    # objects at it (instances.label_objects), so touching ships are apart in the score and the submission
    touching: bool = False


# A smoke test of the whole segmentation loop in seconds on a CPU: timm's tiny test_resnet encoder from random init
# (no download), a narrow decoder, 64 px, one holdout split.
SMOKE_PRESET: dict[str, Any] = {
    "models": ("test_resnet",),
    "pretrained": False,
    "image_size": 64,
    "decoder_channels": (32, 16, 16, 8, 8),
    "epochs": 20,
    "batch_size": 8,
    "lr": 3e-3,
    "warmup": 0.05,
    "holdout": 0.25,
}


@dataclass
class SegTrainConfig:
    """What shapes training (SegTrainer reads it); Segmenter parameters of the same names."""

    epochs: int = 20
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 3e-4
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup: float = 0.05
    ema_decay: float = 0.0
    grad_clip: float | None = None
    dice_weight: float = 1.0
    eval_every: int = 1
    seed: int = 0


@dataclass
class SegAugment:
    """Training augmentation strengths (Segmenter parameters of the same names), applied to image and masks
    together: 0 turns one off."""

    hflip: float = 0.5  # horizontal-flip probability
    vflip: float = 0.0  # vertical-flip probability
    shift: float = 0.0625  # shift range, a fraction of the image
    scale: float = 0.1  # zoom range: 1 +- scale
    rotate: float = 15.0  # rotation range, degrees
    affine_p: float = 0.5  # probability of the shift-scale-rotate
    brightness: float = 0.2  # brightness range
    contrast: float = 0.2  # contrast range
    color_p: float = 0.5  # probability of the brightness/contrast change
