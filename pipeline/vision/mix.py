"""Soft targets: label smoothing, mixup and cutmix applied to a batch on the device."""

from __future__ import annotations

import numpy as np
import torch


def soft_targets(y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets with label smoothing."""
    off = smoothing / num_classes
    out = torch.full((len(y), num_classes), off, device=y.device)
    return out.scatter_(1, y.view(-1, 1), 1.0 - smoothing + off)


def _cut_box(rng: np.random.Generator, h: int, w: int, lam: float) -> tuple[int, int, int, int]:
    ratio = np.sqrt(1.0 - lam)
    ch, cw = int(h * ratio), int(w * ratio)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


class Mixer:
    """Mixup / cutmix on a batch, with its own generator so a seeded epoch always mixes the same way."""

    def __init__(self, mixup_alpha: float, cutmix_alpha: float, prob: float, switch_prob: float = 0.5) -> None:
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob
        self.rng = np.random.default_rng(0)

    @property
    def active(self) -> bool:
        """Whether this mixer ever changes a batch."""
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def reseed(self, seed: int) -> None:
        """Restart the generator (once per epoch)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix images x and soft targets with a shuffled copy of the batch."""
        if not self.active or self.rng.random() >= self.prob:
            return x, targets
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or self.rng.random() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(self.rng.beta(alpha, alpha))
        perm = torch.from_numpy(self.rng.permutation(len(x))).to(x.device)
        if use_cutmix:
            y0, y1, x0, x1 = _cut_box(self.rng, x.shape[2], x.shape[3], lam)
            x = x.clone()
            x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / (x.shape[2] * x.shape[3])
        else:
            x = x * lam + x[perm] * (1.0 - lam)
        return x, targets * lam + targets[perm] * (1.0 - lam)
