"""Small fast networks for 32 px images, registered with timm so `arch` names them like any timm model."""

from __future__ import annotations

from typing import Any

import torch
from timm.models import register_model
from torch import nn


class _ConvGroup(nn.Module):
    """conv -> maxpool -> BN -> GELU -> conv -> BN -> GELU (airbench's block: pool early to save compute)."""

    def __init__(self, c_in: int, c_out: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """Keller Jordan's airbench94 network: a 2x2 patch-whitening stem, three conv groups, a scaled linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        widths: tuple[int, int, int] = (64, 256, 256),
        bn_momentum: float = 0.4,
        head_scale: float = 1 / 9,
        drop_rate: float = 0.0,
        **_: Any,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        whiten_width = 2 * in_chans * 4
        self.whiten = nn.Conv2d(in_chans, whiten_width, 2, padding=0, bias=True)
        # fixed whitening, set from data (or loaded weights): frozen from the start, so a resumed run builds the
        # same optimizer and trains the same parameters as a fresh one
        self.whiten.weight.requires_grad_(False)
        self.stem_act = nn.GELU()
        c = [whiten_width, *widths]
        self.blocks = nn.Sequential(*[_ConvGroup(c[i], c[i + 1], bn_momentum) for i in range(3)])
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.num_features = widths[-1]
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.head_scale = head_scale
        self.pretrained_cfg = {
            "mean": (0.4914, 0.4822, 0.4465),
            "std": (0.2470, 0.2435, 0.2616),
            "input_size": (3, 32, 32),
        }

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the stem to whiten 2x2 patches of (normalised) training images; its weights then stay frozen."""
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, images.shape[1], 2, 2)
        flat = patches.reshape(len(patches), -1)
        flat = flat - flat.mean(0, keepdim=True)
        cov = flat.T @ flat / len(flat)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        kernels = (eigenvectors.T.flip(0) / torch.sqrt(eigenvalues.flip(0)[:, None] + eps)).reshape(
            -1, *patches.shape[1:]
        )
        half = self.whiten.out_channels // 2
        self.whiten.weight[:half] = kernels[:half]
        self.whiten.weight[half:] = -kernels[:half]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map before pooling."""
        return self.blocks(self.stem_act(self.whiten(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global max pool and the scaled linear classifier."""
        x = self.drop(self.pool(x).flatten(1))
        return x if pre_logits else self.head(x) * self.head_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _build(cls: type[nn.Module], pretrained: bool, kwargs: dict[str, Any], **defaults: Any) -> nn.Module:
    if pretrained:
        raise ValueError(f"{cls.__name__} has no pretrained weights; use pretrained=False.")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "features_only"):
        kwargs.pop(key, None)
    return cls(**{**defaults, **kwargs})


@register_model
def airbench94(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """airbench94's network (widths 64/256/256) for 32 px images."""
    return _build(AirbenchNet, pretrained, kwargs, widths=(64, 256, 256))


@register_model
def airbench_small(pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """airbench at half the widths (32/128/128): about a quarter of the compute."""
    return _build(AirbenchNet, pretrained, kwargs, widths=(32, 128, 128))
