"""A fine-tuning competition's models(cfg): one image network (ImageClassifier, or ImageMultiLabel / ImageRegressor)
per architecture of its Config, each named by its timm name before the first dot; the runner blends them on their
out-of-fold predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.contract import ContractError
from pipeline.vision.augment import standard_transforms
from pipeline.vision.estimator import ImageClassifier, ImageNetwork


def _pretrained_files(cfg: Any, archs: tuple[str, ...]) -> dict[str, Any]:
    """Per arch, the pretrained_file override from cfg.pretrained_files (one per arch, or none: nothing given)."""
    files = list(getattr(cfg, "pretrained_files", ()))
    if not files:
        return {}
    if len(files) != len(archs):
        raise ContractError(
            f"pretrained_files gives {len(files)} file(s) for {len(archs)} archs ({', '.join(archs)}): "
            "give one per arch, in the same order (or none)."
        )
    return {arch: f if f not in ("", "none") else None for arch, f in zip(archs, files, strict=True)}


def classifiers(cfg: Any, transforms: Callable[[Any, bool], Any] = standard_transforms) -> dict[str, ImageNetwork]:
    """ImageClassifier.from_config per arch of cfg.archs (with cfg.pretrained_files) or of the single cfg.arch, with
    the competition's training and evaluation transforms (default: pipeline.vision.augment.standard_transforms)."""
    return networks(cfg, transforms, ImageClassifier)


def networks(
    cfg: Any, transforms: Callable[[Any, bool], Any] = standard_transforms, kind: type[ImageNetwork] = ImageClassifier
) -> dict[str, ImageNetwork]:
    """`kind`.from_config (ImageClassifier, ImageMultiLabel, ImageRegressor) per arch of cfg.archs (with
    cfg.pretrained_files) or of the single cfg.arch, with the competition's transforms."""
    archs = tuple(getattr(cfg, "archs", ())) or (cfg.arch,)
    files = _pretrained_files(cfg, archs)
    out: dict[str, ImageNetwork] = {}
    for arch in archs:
        extra = {"pretrained_file": files[arch]} if arch in files else {}
        out[arch.split(".")[0]] = kind.from_config(
            cfg,
            arch=arch,
            train_transform=transforms(cfg, True),
            eval_transform=transforms(cfg, False),
            **extra,
        )
    if len(out) != len(archs):
        raise ContractError(f"archs must be distinct networks, got {', '.join(archs)}.")
    return out
