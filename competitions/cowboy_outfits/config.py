"""CowBoy Outfits configuration: every field has a default; presets are named sets of overrides."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.detection.recipe import SMOKE_PRESET, DetectionRecipe


@dataclass(frozen=True)
class Config(DetectionRecipe):
    """Fine-tune COCO-pretrained torchvision detectors; each name in `models` is one detector arch (see
    pipeline/detection/models.py ARCHS), fused by WBF (at wbf_iou) when there are several."""

    folds: int = 5
    holdout: float = 0.0  # > 0: one train/validation split of this fraction instead of k folds
    # Which listed images to predict: test.csv (CodaLab's final phase, the default) or valid.csv (its development
    # phase). Both competitions phases are closed; the answer zip is the same format for either.
    predict_split: str = "test"
    models: tuple[str, ...] = ("fasterrcnn_mobilenet_v3_large_fpn",)
    pretrained: str = "coco"
    # Device settings (precision, DataLoader workers, the image cache) are the runner's options, not Config fields:
    # see RunOptions.precision / num_workers / cache_mb (pipeline/runstate.py).


PRESETS: dict[str, dict[str, object]] = {
    # Applied by --sample (under any --preset/--set): a tiny Faster R-CNN from random init (no download) on 128 px
    # images, one holdout split; the same Detector, trainer, WBF and answer.zip as the real recipe.
    "sample": dict(SMOKE_PRESET),
    # Real data on a CPU: the low-resolution MobileNetV3 Faster R-CNN, one holdout split.
    "cpu": {"models": ("fasterrcnn_mobilenet_v3_large_320_fpn",), "image_size": 512, "epochs": 8, "holdout": 0.2},
    # One GPU: ResNet-50 FPN v2 at 1024 px, 5 folds, AMP, EMA.
    "gpu": {
        "models": ("fasterrcnn_resnet50_fpn_v2",),
        "image_size": 1024,
        "epochs": 24,
        "batch_size": 8,
        "lr": 0.02,
        "ema_decay": 0.999,
    },
    # Three detector families fused by WBF.
    "ensemble": {
        "models": ("fasterrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn"),
        "image_size": 1024,
        "epochs": 24,
        "batch_size": 8,
        "lr": 0.01,
        "ema_decay": 0.999,
    },
}
