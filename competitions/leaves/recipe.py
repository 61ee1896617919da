"""Classify Leaves recipe: two fine-tuned backbones of different families, flips/rotations, CutMix, flip TTA."""

from __future__ import annotations

from typing import Any

from pipeline.contract import ContractError


def transforms(cfg: Any, train: bool) -> Any:
    """Training: random resized crop, flips, 90-degree rotations, colour jitter (leaves have no up or left).
    Evaluation: resized to image_size."""
    import albumentations as A

    s = cfg.image_size
    if not train:
        return A.Compose([A.Resize(s, s)])
    steps: list[Any] = [
        A.RandomResizedCrop(size=(s, s), scale=(cfg.crop_scale, 1.0)),
        A.HorizontalFlip(),
        A.VerticalFlip(),
        A.RandomRotate90(),
    ]
    if cfg.color_jitter > 0:
        j = cfg.color_jitter
        steps.append(A.ColorJitter(brightness=j, contrast=j, saturation=j, hue=0.0, p=0.5))
    return A.Compose(steps)


def models(cfg: Any) -> dict[str, Any]:
    """One fine-tuned ImageClassifier per architecture in cfg.archs; the runner blends them on OOF predictions."""
    from pipeline.vision import ImageClassifier

    files = list(cfg.pretrained_files)
    if files and len(files) != len(cfg.archs):
        raise ContractError(
            f"pretrained_files gives {len(files)} file(s) for {len(cfg.archs)} archs ({', '.join(cfg.archs)}): "
            "give one per arch, in the same order (or none)."
        )
    out: dict[str, Any] = {}
    for i, arch in enumerate(cfg.archs):
        out[arch.split(".")[0]] = ImageClassifier.from_config(
            cfg,
            arch=arch,
            pretrained_file=files[i] if files and files[i] not in ("", "none") else None,
            train_transform=transforms(cfg, train=True),
            eval_transform=transforms(cfg, train=False),
        )
    if len(out) != len(cfg.archs):
        raise ContractError(f"archs must be distinct networks, got {', '.join(cfg.archs)}.")
    return out


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
