"""Test-time augmentation: views of a batch whose outputs (class or label probabilities, values) are averaged."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

TTA_VIEWS = ("hflip", "vflip", "shift")


def check_tta(views: Sequence[str]) -> tuple[str, ...]:
    """Validate TTA view names."""
    bad = [v for v in views if v not in TTA_VIEWS]
    if bad:
        raise ValueError(f"Unknown TTA view(s) {bad}. Valid views: {', '.join(TTA_VIEWS)}.")
    return tuple(views)


def _shifts(x: torch.Tensor, pixels: int = 1) -> list[torch.Tensor]:
    padded = F.pad(x, (pixels,) * 4, mode="reflect")
    h, w = x.shape[2], x.shape[3]
    p2 = 2 * pixels
    return [padded[:, :, :h, :w], padded[:, :, p2 : p2 + h, p2 : p2 + w]]


def tta_views(x: torch.Tensor, views: Sequence[str]) -> list[torch.Tensor]:
    """The original batch plus each requested view ('shift' adds two 1-pixel diagonal translations)."""
    out = [x]
    for view in views:
        if view == "hflip":
            out.append(torch.flip(x, dims=[3]))
        elif view == "vflip":
            out.append(torch.flip(x, dims=[2]))
        elif view == "shift":
            out.extend(_shifts(x))
    return out


def view_names(views: Sequence[str]) -> list[str]:
    """What each of tta_views' batches is, in its order: "image", then "hflip", "vflip", or the shift's "shift+1" (the
    image moved one pixel right and down) and "shift-1" (left and up)."""
    return ["image", *(n for v in views for n in (("shift+1", "shift-1") if v == "shift" else (v,)))]


def predict_tta(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    views: Sequence[str],
    outputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
    undo: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The outputs averaged over the TTA views, after `outputs` turns logits into them (default: softmax; so in
    probability space, not logits) and `undo(view name, outputs)` takes a view's outputs back to the image's own
    (keypoints: a flipped view's mirrored back; pipeline/keypoints.py)."""
    probs = None
    batch = tta_views(x, views)
    for name, v in zip(view_names(views), batch, strict=True):
        logits = forward(v).float()
        p = outputs(logits) if outputs is not None else logits.softmax(dim=1)
        p = undo(name, p) if undo is not None else p
        probs = p if probs is None else probs + p
    return probs / len(batch)


def n_views(views: Sequence[str]) -> int:
    """How many forward passes TTA costs per image."""
    return 1 + sum(2 if v == "shift" else 1 for v in views)
