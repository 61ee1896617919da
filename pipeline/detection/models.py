"""torchvision detectors by name: Faster R-CNN, RetinaNet and FCOS (ResNet-50 / MobileNetV3 FPN, or tiny test
backbones), with the image size, anchors, thresholds and class count set, and pretrained weights from a local file
or the torch hub cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import detection as tvd
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.misc import FrozenBatchNorm2d

from pipeline.vision.pretrained import read_state_dict
from pipeline.weight_sources import Need

# name -> (family, torchvision builder name or None for the tiny models)
ARCHS: dict[str, tuple[str, str | None]] = {
    "fasterrcnn_resnet50_fpn": ("rcnn", "fasterrcnn_resnet50_fpn"),
    "fasterrcnn_resnet50_fpn_v2": ("rcnn", "fasterrcnn_resnet50_fpn_v2"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("rcnn", "fasterrcnn_mobilenet_v3_large_fpn"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("rcnn", "fasterrcnn_mobilenet_v3_large_320_fpn"),
    "retinanet_resnet50_fpn": ("retinanet", "retinanet_resnet50_fpn"),
    "retinanet_resnet50_fpn_v2": ("retinanet", "retinanet_resnet50_fpn_v2"),
    "fcos_resnet50_fpn": ("fcos", "fcos_resnet50_fpn"),
    "fasterrcnn_tiny": ("rcnn", None),
    "retinanet_tiny": ("retinanet", None),
    "fcos_tiny": ("fcos", None),
}
PRETRAINED = ("none", "coco", "imagenet")


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class TinyBackbone(nn.Module):
    """A few strided convolutions and an FPN: levels '0', '1', '2' at strides 8, 16, 32 (tests and CPU samples)."""

    def __init__(self, width: int = 64, channels: Sequence[int] = (16, 32, 48, 64, 96)) -> None:
        super().__init__()
        c = list(channels)
        self.stem = nn.Sequential(_conv(3, c[0], 2), _conv(c[0], c[1], 2))
        self.c3 = nn.Sequential(_conv(c[1], c[2], 2), _conv(c[2], c[2], 1))
        self.c4 = nn.Sequential(_conv(c[2], c[3], 2), _conv(c[3], c[3], 1))
        self.c5 = nn.Sequential(_conv(c[3], c[4], 2), _conv(c[4], c[4], 1))
        self.fpn = FeaturePyramidNetwork(c[2:5], width)
        self.out_channels = width

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        c3 = self.c3(self.stem(x))
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        return self.fpn(OrderedDict([("0", c3), ("1", c4), ("2", c5)]))


def _tiny(
    family: str, num_classes: int, common: dict[str, Any], rcnn: dict[str, Any], dense: dict[str, Any]
) -> nn.Module:
    backbone = TinyBackbone()
    ch = backbone.out_channels
    if family == "rcnn":
        from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

        return tvd.FasterRCNN(
            backbone,
            None,
            **common,
            **rcnn,
            rpn_anchor_generator=AnchorGenerator(((16,), (32,), (64,)), ((0.5, 1.0, 2.0),) * 3),
            box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 2),
            box_head=TwoMLPHead(ch * 49, 256),
            box_predictor=FastRCNNPredictor(256, num_classes),
            rpn_pre_nms_top_n_train=300,
            rpn_post_nms_top_n_train=100,
            rpn_pre_nms_top_n_test=300,
            rpn_post_nms_top_n_test=100,
            box_batch_size_per_image=64,  # few regions per image: RoIAlign's backward dominates on a CPU
        )
    if family == "retinanet":
        gen = AnchorGenerator(((16, 20, 25), (32, 40, 50), (64, 80, 101)), ((0.5, 1.0, 2.0),) * 3)
        head = tvd.retinanet.RetinaNetHead(ch, gen.num_anchors_per_location()[0], num_classes)
        return tvd.RetinaNet(backbone, num_classes, **common, **dense, anchor_generator=gen, head=head)
    gen = AnchorGenerator(((8,), (16,), (32,)), ((1.0,),) * 3)
    head = tvd.fcos.FCOSHead(ch, 1, num_classes, num_convs=2)
    return tvd.FCOS(backbone, num_classes, **common, **dense, anchor_generator=gen, head=head)


def _anchor_generator(model: nn.Module, family: str) -> AnchorGenerator:
    return model.rpn.anchor_generator if family == "rcnn" else model.anchor_generator


def set_anchors(model: nn.Module, family: str, sizes: Sequence[float] | None, ratios: Sequence[float] | None) -> None:
    """Replace the anchors: `sizes` one per feature level (or, if their count differs, all sizes on every level),
    `ratios` (height/width) on every level; heads are rebuilt when the anchors per location change."""
    if not sizes and not ratios:
        return
    old = _anchor_generator(model, family)
    levels = len(old.sizes)
    if sizes:
        s = tuple(float(v) for v in sizes)
        new_sizes = tuple((v,) for v in s) if len(s) == levels else (s,) * levels
    else:
        new_sizes = old.sizes
    new_ratios = (tuple(float(r) for r in ratios),) * levels if ratios else old.aspect_ratios
    if family == "fcos" and (any(len(s) != 1 for s in new_sizes) or any(len(r) != 1 for r in new_ratios)):
        raise ValueError(
            f"FCOS is anchor-free: give one anchor size per feature level ({levels} levels, e.g. strides) "
            f"and no aspect ratios; got sizes {sizes}, ratios {ratios}."
        )
    gen = AnchorGenerator(new_sizes, new_ratios)
    n_old, n_new = old.num_anchors_per_location()[0], gen.num_anchors_per_location()[0]
    ch = model.backbone.out_channels
    if family == "rcnn":
        model.rpn.anchor_generator = gen
        if n_new != n_old:
            conv_depth = len(model.rpn.head.conv)
            model.rpn.head = tvd.rpn.RPNHead(ch, n_new, conv_depth=conv_depth)
    else:
        model.anchor_generator = gen
        if family == "retinanet" and n_new != n_old:
            gn = any(isinstance(m, nn.GroupNorm) for m in model.head.modules())
            num_classes = model.head.classification_head.num_classes
            model.head = tvd.retinanet.RetinaNetHead(
                ch, n_new, num_classes, norm_layer=partial(nn.GroupNorm, 32) if gn else None
            )


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """BatchNorm2d -> FrozenBatchNorm2d: pretrained statistics must not drift with detection's small batches."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def load_weights(model: nn.Module, state: dict[str, Any], source: str, log: Callable[[str], Any] = print) -> int:
    """Copy every tensor whose name and shape match (class heads of another class count are skipped)."""
    for key in ("model", "state_dict"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
    own = model.state_dict()
    match = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not match:
        raise ValueError(
            f"Pretrained weights {source} share no tensor (name and shape) with this model; "
            f"they were made for another architecture."
        )
    model.load_state_dict(match, strict=False)
    skipped = sorted(set(state) - set(match))
    log(
        f"pretrained: {len(match)}/{len(own)} tensors from {source}"
        + (f"; {len(skipped)} skipped (shape or name differs, e.g. {skipped[0]})" if skipped else "")
    )
    return len(match)


def _hub_state(builder: str, kind: str) -> tuple[Any, str]:
    """torchvision's weights enum for a builder (detector COCO weights or its backbone's ImageNet weights)."""
    import torchvision

    fn = tvd.__dict__[builder]
    if kind == "coco":
        return torchvision.models.get_model_weights(fn).DEFAULT, builder
    backbone = {"resnet50": "resnet50", "mobilenet_v3_large": "mobilenet_v3_large"}
    name = next(v for k, v in backbone.items() if k in builder)
    return torchvision.models.get_model_weights(name).DEFAULT, name


def _cache_hint(weights: Any, alternative: str) -> str:
    fname = Path(str(weights.url)).name
    return (
        f"no cached file {Path(torch.hub.get_dir()) / 'checkpoints' / fname} and no download possible; copy it "
        f"there (same name; `python -m pipeline weights competitions/<name> --download`, or `--export DIR` on a "
        f"machine with internet and `--import DIR` here, does it for a competition's config) or {alternative}"
    )


def weight_needs(arch: str, pretrained: str, pretrained_file: str | None) -> list[Need]:
    """What build_detector will load for these settings, without loading anything (for `weights` and the runner)."""
    if arch not in ARCHS:
        raise ValueError(f"Unknown detector arch '{arch}'. Valid: {', '.join(ARCHS)}.")
    if pretrained not in PRETRAINED:
        raise ValueError(f"Unknown pretrained '{pretrained}'. Valid: {', '.join(PRETRAINED)}.")
    builder = ARCHS[arch][1]
    if pretrained_file:
        return [Need(arch, "file", str(Path(pretrained_file).expanduser()))]
    if builder is None and pretrained != "none":
        raise ValueError(f"{arch} has no published weights: use pretrained=none (or pretrained_file=PATH).")
    if pretrained == "none" or builder is None:
        return [Need(arch, "none", why="pretrained=none")]
    weights, _ = _hub_state(builder, pretrained)
    size = weights.meta.get("_file_size")  # torchvision publishes it in MB
    return [Need(arch, "url", str(weights.url), size=int(size * 2**20) if size else None)]


def build_detector(
    arch: str,
    num_classes: int,
    image_size: int,
    pretrained: str = "none",
    pretrained_file: str | None = None,
    anchor_sizes: Sequence[float] | None = None,
    anchor_ratios: Sequence[float] | None = None,
    score_thresh: float = 0.01,
    nms_thresh: float = 0.5,
    max_detections: int = 100,
    log: Callable[[str], Any] = print,
) -> nn.Module:
    """A detector for `num_classes` foreground classes (labels 1..num_classes; 0 is background)."""
    if arch not in ARCHS:
        raise ValueError(f"Unknown detector arch '{arch}'. Valid: {', '.join(ARCHS)}.")
    if pretrained not in PRETRAINED:
        raise ValueError(f"Unknown pretrained '{pretrained}'. Valid: {', '.join(PRETRAINED)}.")
    family, builder = ARCHS[arch]
    n = num_classes + 1
    common = {"min_size": image_size, "max_size": image_size}
    rcnn = {"box_score_thresh": score_thresh, "box_nms_thresh": nms_thresh, "box_detections_per_img": max_detections}
    dense = {"score_thresh": score_thresh, "nms_thresh": nms_thresh, "detections_per_img": max_detections}
    extra = rcnn if family == "rcnn" else dense
    if builder is None:
        if pretrained != "none":
            raise ValueError(f"{arch} has no published weights: use pretrained=none (or pretrained_file=PATH).")
        model = _tiny(family, n, common, rcnn, dense)
    else:
        backbone_weights = None
        if pretrained == "imagenet" and not pretrained_file:
            backbone_weights, _ = _hub_state(builder, "imagenet")
        try:
            model = tvd.__dict__[builder](
                weights=None, weights_backbone=backbone_weights, num_classes=n, **common, **extra
            )
        except Exception as e:  # no cache and no network: say where the file must go
            if backbone_weights is None:
                raise
            hint = _cache_hint(backbone_weights, "use pretrained=none")
            raise ValueError(f"ImageNet backbone weights for {arch}: {hint} ({e}).") from None
    set_anchors(model, family, anchor_sizes, anchor_ratios)
    if pretrained_file or pretrained == "coco":
        if pretrained_file:
            path = Path(pretrained_file).expanduser()
            if not path.is_file():
                raise ValueError(f"pretrained_file {path}: no such file.")
            # tensors only (weights_only): a file from elsewhere cannot run code while it loads
            state, source = read_state_dict(path), str(path)
        else:
            weights, _ = _hub_state(builder, "coco")
            try:
                state = weights.get_state_dict(progress=False, check_hash=True)
            except Exception as e:
                hint = _cache_hint(weights, "pass pretrained_file=PATH")
                raise ValueError(f"COCO weights for {arch}: {hint} ({e}).") from None
            source = f"torchvision {weights}"
        freeze_batchnorm(model.backbone)
        load_weights(model, state, source, log)
    return model
