"""Fine-tuning policy: frozen-backbone warm-up, discriminative and layer-wise learning rates over one optimizer.

The optimizer holds every parameter from the start, each group with an `lr_scale` that the trainer multiplies into
the schedule's rate. Frozen parameters get `requires_grad=False`: they receive no gradient, and SGD and AdamW skip
parameters whose grad is None (no momentum, no weight decay), so unfreezing later needs no new optimizer and a run
resumed mid-warm-up replays the uninterrupted one exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pipeline.contract import ContractError

HEAD_ATTRS = ("head", "fc", "classifier", "last_linear")


def check_policy(freeze_epochs: int, layer_decay: float | None, backbone_lr: float) -> None:
    """Refuse fine-tuning settings that cannot work, before any training."""
    if int(freeze_epochs) != freeze_epochs or freeze_epochs < 0:
        raise ContractError(f"freeze_epochs must be a whole number >= 0 (got {freeze_epochs!r}).")
    if layer_decay is not None and not 0.0 < layer_decay <= 1.0:
        raise ContractError(f"layer_decay must be in (0, 1] or None (got {layer_decay!r}); 0.65-0.9 is usual.")
    if backbone_lr < 0:
        raise ContractError(f"backbone_lr must be >= 0, a multiplier of lr for the backbone (got {backbone_lr!r}).")


def classifier_names(model: nn.Module) -> list[str]:
    """Parameter names of the classifier head: get_classifier(), else pretrained_cfg['classifier'], else head/fc."""
    modules: list[Any] = []
    if hasattr(model, "get_classifier"):
        head = model.get_classifier()
        modules = list(head) if isinstance(head, (tuple, list)) else [head]
    ids = {id(p) for m in modules if isinstance(m, nn.Module) for p in m.parameters()}
    names = [n for n, p in model.named_parameters() if id(p) in ids]
    if names:
        return names
    prefixes = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes or [])
    prefixes = prefixes or [a for a in HEAD_ATTRS if isinstance(getattr(model, a, None), nn.Module)]
    names = [n for n, _ in model.named_parameters() if any(n.startswith(p + ".") for p in prefixes)]
    if not names:
        raise ContractError(
            f"Cannot find the classifier head of {type(model).__name__} (no get_classifier(), no "
            f"pretrained_cfg['classifier'], no attribute {'/'.join(HEAD_ATTRS)}): freeze_epochs, backbone_lr and "
            "layer_decay need it."
        )
    return names


def layer_ids(model: nn.Module, head: set[str]) -> dict[str, int]:
    """Depth of every parameter, 0 at the stem, the head deepest: timm's group_matcher, else top-level module order."""
    names = [n for n, _ in model.named_parameters()]
    if hasattr(model, "group_matcher"):
        from timm.models import group_parameters

        ids = dict(group_parameters(model, model.group_matcher(coarse=False), reverse=True))
        top = max(ids.values(), default=0)
        ids = {n: ids.get(n, top) for n in names}
    else:  # one layer per top-level module, or per numbered child of a container (blocks.0, blocks.1, ...)
        ids, keys = {}, {}
        for n in names:
            if n not in head:
                parts = n.split(".")
                key = ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]
                ids[n] = keys.setdefault(key, len(keys))
        top = len(keys)
    ids.update({n: top for n in head})
    return ids


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float | None = None, backbone_lr: float = 1.0
) -> list[dict[str, Any]]:
    """Groups over all parameters, frozen or not (training.optim.param_groups: no decay on 1-d and no_weight_decay()
    ones), with `lr_scale` per group.

    With layer_decay the head keeps lr, each layer below it layer_decay times its upper neighbour's (BEiT / timm);
    otherwise every non-head parameter gets backbone_lr times lr.
    """
    from pipeline.training.optim import param_groups as grouped

    head = set(classifier_names(model))
    skip = tuple(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else ()
    if layer_decay is not None:
        ids = layer_ids(model, head)
        top = max(ids.values())
        scales = {n: float(layer_decay) ** (top - i) for n, i in ids.items()}
    else:
        scales = {n: 1.0 if n in head else float(backbone_lr) for n, _ in model.named_parameters()}
    return grouped(model, weight_decay, scales, no_decay=skip, frozen=True)


def make_optimizer(model: nn.Module, cfg: Any) -> torch.optim.Optimizer:
    """The trainer's optimizer: training.optim.make_optimizer's two groups, or per-layer groups when fine-tuning."""
    from pipeline.training.optim import make_optimizer as plain

    check_policy(cfg.freeze_epochs, cfg.layer_decay, cfg.backbone_lr)
    groups = None
    if cfg.freeze_epochs or cfg.layer_decay is not None or cfg.backbone_lr != 1.0:
        groups = param_groups(model, cfg.weight_decay, cfg.layer_decay, cfg.backbone_lr)
    return plain(model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.nesterov, groups)


def base_lrs(opt: torch.optim.Optimizer, lr: float) -> list[float]:
    """Peak learning rate of each group: lr times the group's lr_scale (1 when it has none)."""
    return [lr * g.get("lr_scale", 1.0) for g in opt.param_groups]


class Freezer:
    """Trains only the classifier head for the first `epochs` epochs, then everything (what was trainable before).

    freeze_bn: while frozen, BatchNorm layers outside the head stay in eval mode, so their running statistics (the
    pretrained ones) do not drift towards the new data's while the backbone cannot adapt to them.
    """

    def __init__(self, model: nn.Module, epochs: int, freeze_bn: bool = True) -> None:
        self.model, self.epochs, self.freeze_bn = model, int(epochs), freeze_bn
        self.frozen: list[nn.Parameter] = []

    def apply(self, epoch: int) -> bool:
        """Call after model.train() at the start of each epoch; True when the set of trained parameters changed."""
        if epoch >= self.epochs:
            for p in self.frozen:
                p.requires_grad_(True)
            changed, self.frozen = bool(self.frozen), []
            return changed
        head = set(classifier_names(self.model))
        changed = not self.frozen
        if changed:
            self.frozen = [p for n, p in self.model.named_parameters() if n not in head and p.requires_grad]
            for p in self.frozen:
                p.requires_grad_(False)
        if self.freeze_bn:  # looked up every epoch: a SyncBatchNorm conversion replaces the modules
            head_ids = {id(p) for n, p in self.model.named_parameters() if n in head}
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(
                    id(p) in head_ids for p in m.parameters()
                ):
                    m.eval()
        return changed
