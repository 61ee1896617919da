"""DetectionRecipe: the training knobs a detection competition's Config declares, read by Detector.from_config.

A competition's Config extends DetectionRecipe (dataclass inheritance keeps flat `--set` keys) and redeclares the
defaults of its own recipe; any other Detector parameter it declares by name is passed on too. Fields that are not
Detector parameters (the arch list, folds, the split to predict) are the competition's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DetectionRecipe:
    """What a detection recipe sets: weights, input size, anchors, optimisation, augmentation, TTA and box output.

    The defaults are Detector's.
    """

    pretrained: str = "none"  # none | coco (the detector, from the torch hub cache) | imagenet (its backbone)
    pretrained_file: str | None = None  # a local state dict instead
    image_size: int = 640  # longest side, pixels
    anchor_sizes: tuple[float, ...] | None = None  # None: the arch's own anchors
    anchor_ratios: tuple[float, ...] | None = None
    epochs: int = 12
    batch_size: int = 4
    optimizer: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 1e-4
    warmup: float = 0.1
    ema_decay: float = 0.0
    hflip: float = 0.5
    scale: float = 0.25
    translate: float = 0.1
    affine_p: float = 0.5
    color: float = 0.5
    tta: bool = True  # horizontal-flip TTA, views fused by WBF
    wbf_iou: float = 0.55
    score_thresh: float = 0.01  # low: COCO mAP rewards recall at low confidence
    max_detections: int = 100
    # boxes below this confidence are not predicted: 0 for COCO mAP (its AP rewards recall at any confidence); a
    # metric that counts every box submitted (pipeline/detection/iou_map.py) wants the doubtful ones left out
    min_score: float = 0.0
    # on: the detectors predict every box down to score_thresh and the cut that scores best out of fold replaces
    # min_score when it beats it there (pipeline/detection/box_cut.py; Kaggle's IoU metric only)
    fit_min_score: bool = False
    valid_loss: bool = True
    # a competition with an image-level "nothing here" class (CsvBoxes.nothing_class): on, each detector is fitted
    # with a "finding / no finding" image classifier whose p(no finding) is the nothing box's confidence, instead of
    # one less the image's highest box confidence (pipeline/detection/nothing.py); the classifier's arch, size, epochs
    nothing_classifier: bool = False
    nothing_arch: str = "convnext_tiny.fb_in22k_ft_in1k"
    nothing_image_size: int = 384
    nothing_epochs: int = 8
    # the 2-class filter: an image whose p(finding) is below nothing_drop keeps only its nothing box; with
    # nothing_weight, the other images' box confidences are multiplied by p(finding)
    nothing_drop: float = 0.05
    nothing_weight: bool = False


# A smoke test of the whole detection loop in seconds on a CPU: a tiny Faster R-CNN from random init (no download) at
# 128 px, one holdout split. cowboy_outfits' `sample` preset and the `fast` preset `new` writes for a box download.
SMOKE_PRESET: dict[str, Any] = {
    "models": ("fasterrcnn_tiny",),
    "pretrained": "none",
    "image_size": 128,
    "epochs": 12,
    "batch_size": 4,
    "lr": 0.02,
    "warmup": 0.05,
    "holdout": 0.25,
    "valid_loss": False,
}


@dataclass
class DetTrainConfig:
    """What shapes training (DetTrainer reads it); Detector parameters of the same names."""

    epochs: int = 12
    batch_size: int = 4
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup: float = 0.1
    ema_decay: float = 0.0
    grad_clip: float | None = 10.0
    eval_every: int = 1
    valid_loss: bool = True
    seed: int = 0


@dataclass
class Augment:
    """Training augmentation strengths (Detector parameters of the same names): 0 turns one off."""

    hflip: float = 0.5  # horizontal-flip probability
    scale: float = 0.25  # zoom range: 1 +- scale
    translate: float = 0.1  # shift range, a fraction of the image
    affine_p: float = 0.5  # probability of the zoom/shift
    color: float = 0.5  # colour-jitter probability


def recipe_params(cfg: Any, names: list[str]) -> dict[str, Any]:
    """The estimator parameters among `names` that cfg declares, lists as tuples."""
    out = {n: getattr(cfg, n) for n in names if hasattr(cfg, n)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}
