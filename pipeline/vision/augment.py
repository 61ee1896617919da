"""The standard fine-tuning augmentation of a FineTuneRecipe (image_size, crop_scale, color_jitter): what a photo
competition uses unless it knows better (leaves adds vertical flips and rotations: leaves have no up or left)."""

from __future__ import annotations

from typing import Any


def standard_transforms(cfg: Any, train: bool) -> Any:
    """Training: random resized crop, horizontal flip, colour jitter. Evaluation: shorter side to size, centre crop.
    Every downscale averages pixels (INTER_AREA), as the antialiased resize the pretrained weights saw did; a
    bilinear one skips pixels and aliases fine detail (fur, veins). Images of other than three channels (the
    Config's `channels`: pipeline/vision/channels.py) are cropped, resized and flipped alike, every channel together;
    their colour jitter, whose saturation and hue albumentations computes on three channels only, is random
    brightness and contrast of the same strength (every channel alike)."""
    import albumentations as A

    s = cfg.image_size
    if not train:
        return A.Compose([A.SmallestMaxSize(max_size=s, area_for_downscale="image"), A.CenterCrop(s, s)])
    crop = A.RandomResizedCrop(size=(s, s), scale=(cfg.crop_scale, 1.0), area_for_downscale="image")
    steps: list[Any] = [crop, A.HorizontalFlip()]
    if cfg.color_jitter > 0:
        j = cfg.color_jitter
        if len(getattr(cfg, "channels", ()) or "rgb") != 3:
            steps.append(A.RandomBrightnessContrast(brightness_limit=j, contrast_limit=j, p=0.8))
        else:
            steps.append(A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=j / 8, p=0.8))
    return A.Compose(steps)
