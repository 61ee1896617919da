"""Dog breeds recipe: a fine-tuned ImageNet-22k backbone, crop/flip/colour augmentation, flip TTA."""

from __future__ import annotations

from typing import Any


def transforms(cfg: Any, train: bool) -> Any:
    """Training: random resized crop, horizontal flip, colour jitter. Evaluation: shorter side to size, centre crop."""
    import albumentations as A

    s = cfg.image_size
    if not train:
        return A.Compose([A.SmallestMaxSize(max_size=s), A.CenterCrop(s, s)])
    steps: list[Any] = [A.RandomResizedCrop(size=(s, s), scale=(cfg.crop_scale, 1.0)), A.HorizontalFlip()]
    if cfg.color_jitter > 0:
        j = cfg.color_jitter
        steps.append(A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=j / 8, p=0.8))
    return A.Compose(steps)


def models(cfg: Any) -> dict[str, Any]:
    """One fine-tuned timm network (the blend then has a single member; add archs with `pipeline ensemble`)."""
    from pipeline.vision import ImageClassifier

    est = ImageClassifier.from_config(
        cfg, train_transform=transforms(cfg, train=True), eval_transform=transforms(cfg, train=False)
    )
    return {cfg.arch.split(".")[0]: est}


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
