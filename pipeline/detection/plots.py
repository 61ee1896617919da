"""Detection plots as PNG: AP per class, and validation images with true (green) and predicted (red) boxes, crowd
regions (boxes.CROWD: no object the metric scores) dashed grey and labelled 'crowd'."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.detection.boxes import CROWD, unpack
from pipeline.plots import _plt, _save

TRUE_BOX = {"color": "lime", "lw": 1.5}
CROWD_BOX = {"color": "0.6", "lw": 1.5, "ls": "--"}  # a crowd region: neither a true box to find nor a miss


def per_class_ap(
    per_class: Sequence[float],
    ap50: Sequence[float] | None,
    names: Sequence[str],
    path: Path,
    title: str = "AP per class",
) -> None:
    """Bar chart of AP@[.5:.95] (and AP50 when given) per class; classes without ground truth show as n/a."""
    plt = _plt()
    k = len(names)
    x = np.arange(k)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * k + 2), 4))
    vals = np.nan_to_num(np.asarray(per_class, float), nan=0.0)
    width = 0.4 if ap50 is not None else 0.7
    ax.bar(x - (width / 2 if ap50 is not None else 0), vals, width, label="AP@[.5:.95]")
    if ap50 is not None:
        ax.bar(x + width / 2, np.nan_to_num(np.asarray(ap50, float), nan=0.0), width, label="AP50", alpha=0.7)
    for i, v in enumerate(per_class):
        ax.text(i, 0.01, "n/a" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, list(names), rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel="average precision", title=title)
    ax.legend(fontsize=8)
    _save(fig, path)


def examples(
    paths: Sequence[str],
    y_true: np.ndarray,
    pred: np.ndarray,
    names: Sequence[str],
    path: Path,
    n: int = 4,
    min_score: float = 0.3,
) -> None:
    """A grid of images with true boxes (green), crowd regions (dashed grey, labelled 'crowd') and predictions scoring
    >= min_score (red, with class and score)."""
    from pipeline.vision.data import read_image

    plt = _plt()
    n = min(n, len(paths))
    if n == 0:
        return
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    crowds = False
    for i in range(n):
        ax = axes.ravel()[i]
        ax.imshow(read_image(paths[i]))
        boxes, scores, _ = unpack(y_true[i])
        is_crowd = scores == CROWD
        for (bx, by, bw, bh), crowd in zip(boxes, is_crowd, strict=True):
            ax.add_patch(plt.Rectangle((bx, by), bw, bh, fill=False, **(CROWD_BOX if crowd else TRUE_BOX)))
            if crowd:
                box = {"facecolor": "0.3", "alpha": 0.6, "pad": 1, "lw": 0}
                ax.text(bx, by + bh, "crowd", color="white", fontsize=6, va="top", bbox=box)
        crowds = crowds or bool(is_crowd.any())
        b, s, c = unpack(pred[i])
        for (bx, by, bw, bh), sc, cl in zip(b[s >= min_score], s[s >= min_score], c[s >= min_score], strict=True):
            ax.add_patch(plt.Rectangle((bx, by), bw, bh, fill=False, color="red", lw=1.0))
            label = names[cl] if 0 <= cl < len(names) else str(cl)
            ax.text(
                bx,
                by,
                f"{label} {sc:.2f}",
                color="white",
                fontsize=6,
                va="bottom",
                bbox={"facecolor": "red", "alpha": 0.6, "pad": 1, "lw": 0},
            )
        ax.set_title(Path(paths[i]).name, fontsize=7)
    crowd = ", crowd regions (dashed grey)" if crowds else ""
    fig.suptitle(f"validation: true (green){crowd} vs predicted >= {min_score} (red)", fontsize=9)
    _save(fig, path)
