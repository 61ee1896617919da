"""The segmentation network: a U-Net decoder over any timm encoder (`features_only=True`: resnet34, efficientnet_b0,
convnext_tiny ...), its weights offline first as the image classifier takes them (pipeline/vision/pretrained.py), and
the input size a recipe's image_size gives for a competition's grid."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.contract import ContractError
from pipeline.weight_sources import Need

STRIDE = 32  # an int image_size's sides are rounded to this: the deepest stride of the usual encoders


def input_size(image_size: int | Sequence[int], grid: Sequence[int] | None) -> tuple[int, int]:
    """The network's (height, width): a (h, w) pair as given; an int is the longest side, the other side following
    the grid's aspect (the competition's most common image shape: Severstal's 256 x 1600 steel strips train at
    96 x 512 for image_size 512, not squashed to a square), each side rounded to a multiple of STRIDE."""
    if not isinstance(image_size, int):
        size = tuple(int(v) for v in image_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"image_size: an int (the longest side) or (height, width), got {image_size!r}.")
        return size[0], size[1]
    if image_size < STRIDE:
        raise ValueError(f"image_size {image_size}: at least {STRIDE} (the encoder's deepest stride).")
    gh, gw = (1, 1) if grid is None else (int(grid[0]), int(grid[1]))
    scale = image_size / max(gh, gw)

    def side(v: int) -> int:
        return max(STRIDE, round(v * scale / STRIDE) * STRIDE)

    return side(gh), side(gw)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 convolutions, each with BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net over a timm features_only encoder: from the deepest feature map up, each block upsamples (nearest) to
    the next shallower map's size, concatenates it (the skip connection) and convolves; blocks without a skip then
    double the size up to the input's; a 3x3 convolution gives one logit map per class (sigmoid: classes may
    overlap). Any input size: each upsampling goes to the size it joins, the last to the input's."""

    def __init__(self, encoder: nn.Module, num_classes: int, decoder_channels: Sequence[int]) -> None:
        super().__init__()
        self.encoder = encoder
        chans = list(encoder.feature_info.channels())
        reductions = list(encoder.feature_info.reduction())
        extra = max(0, round(math.log2(reductions[0])))  # blocks without a skip, up to stride 1
        widths = _widths(decoder_channels, len(chans) - 1 + extra)
        blocks, c_in = [], chans[-1]
        for skip, width in zip([*chans[-2::-1], *([0] * extra)], widths, strict=True):
            blocks.append(_block(c_in + skip, width))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.skips = len(chans) - 1
        self.head = nn.Conv2d(c_in, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        y, skips = feats[-1], feats[-2::-1]
        for i, block in enumerate(self.blocks):
            if i < self.skips:
                y = torch.cat([F.interpolate(y, size=skips[i].shape[-2:], mode="nearest"), skips[i]], 1)
            else:
                last = i == len(self.blocks) - 1
                size = x.shape[-2:] if last else (y.shape[-2] * 2, y.shape[-1] * 2)
                y = F.interpolate(y, size=size, mode="nearest")
            y = block(y)
        if y.shape[-2:] != x.shape[-2:]:  # an encoder whose first map is at stride 1 has no block without a skip
            y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
        return self.head(y)


def _widths(decoder_channels: Sequence[int], n: int) -> list[int]:
    """n block widths: the recipe's, the deepest first; its last ones when it gives more, halved on when fewer."""
    given = [int(c) for c in decoder_channels]
    if not given or min(given) < 1:
        raise ValueError(f"decoder_channels: positive widths, deepest first; got {tuple(decoder_channels)}.")
    while len(given) < n:
        given.append(max(given[-1] // 2, 8))
    return given[len(given) - n :]


def create_encoder(encoder: str, pretrained: bool, pretrained_file: str | None) -> tuple[nn.Module, str]:
    """The timm encoder (features_only) with the requested weights, and a line saying what was loaded.

    pretrained: the arch's tag from the local Hugging Face or torch hub cache (or a download when the Hub is
    reachable), as the image classifier takes its weights. pretrained_file: a weights file of your own, loaded into
    the whole timm network by the classifier's rule (names and shapes matched, a file of another architecture
    refused), which timm then cuts to its feature maps as it does its own weights.
    """
    import timm

    from pipeline.vision.pretrained import check_arch, from_hub, load_weights

    check_arch(encoder)
    if pretrained_file:
        path = Path(pretrained_file).expanduser()
        if not path.is_file():
            raise ContractError(f"pretrained_file not found: {path} (expected a .safetensors, .pth, .pt or .bin file).")
        whole = timm.create_model(encoder, pretrained=False)
        note = load_weights(whole, path)
        overlay = {"state_dict": whole.state_dict()}
        return timm.create_model(encoder, pretrained=True, pretrained_cfg_overlay=overlay, features_only=True), note
    if not pretrained:
        return timm.create_model(encoder, pretrained=False, features_only=True), f"{encoder}: random initialisation"
    return from_hub(encoder, {"features_only": True})


def build_unet(
    encoder: str,
    num_classes: int,
    decoder_channels: Sequence[int],
    pretrained: bool = False,
    pretrained_file: str | None = None,
) -> tuple[UNet, str]:
    """A U-Net of `num_classes` outputs over `encoder`, and the line saying which weights it starts from."""
    enc, note = create_encoder(encoder, pretrained, pretrained_file)
    return UNet(enc, num_classes, decoder_channels), note


def normalisation(model: UNet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The encoder's input mean and std (its pretrained config's: ImageNet's for nearly every timm network)."""
    from timm.data import resolve_model_data_config

    cfg: dict[str, Any] = resolve_model_data_config(model.encoder)
    return tuple(cfg["mean"]), tuple(cfg["std"])


def weight_needs(encoder: str, pretrained: bool, pretrained_file: str | None) -> list[Need]:
    """What create_encoder will load for these settings, without loading anything (for `weights` and the runner)."""
    from pipeline.vision.pretrained import weight_needs as network_needs

    return network_needs(encoder, pretrained, pretrained_file)
