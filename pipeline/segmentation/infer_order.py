"""Which pixel order a download's run-length masks are written in (rle.ORDERS), told from a few training images and
their masks, for `python -m pipeline new`: each mask decoded both ways, the order whose masks look like the objects in
the images wins.

Two pieces of evidence, each scaled by the ratio at which it speaks alone, added:
- shape, for images that are not square: decoded in the wrong order, a run down one column lands across a row and
  the runs of neighbouring columns land far apart, so the mask breaks into streaks whose boundary is several times
  longer for its area; the right order keeps the shapes compact. (A square image's wrong decoding is the mask's
  transpose, exactly as compact.)
- edges: the right mask's boundary lies on the image's edges (the object's outline), the wrong one's crosses plain
  regions: the mean gradient magnitude of the image along the boundary, compared image by image.
Their sum short of one ratio (a mask symmetric about the diagonal, images without edges), Kaggle's usual "column" is
taken, and the note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.segmentation.rle import ORDERS, decode

SHAPE_RATIO = 1.3  # one order's boundary this many times longer per pixel of mask: the shapes speak alone
ORDER_WORDS = {"column": "top to bottom, then left to right", "row": "left to right, then top to bottom"}
EDGE_RATIO = 1.15  # the median image's boundary this much sharper in one order: the edges speak alone


@dataclass(frozen=True)
class OrderEvidence:
    """The order decided (`decided`: False where the evidence did not speak and Kaggle's usual was taken), and the
    figures behind it, each order's."""

    order: str
    decided: bool
    boundary: dict[str, float]  # boundary pixels per mask pixel
    edge: dict[str, float]  # the median image's mean gradient magnitude along the boundary
    samples: int = 0  # the masks looked at

    def note(self) -> str:
        """A line for `new`: the order, the evidence, and how to change it."""
        other = next(o for o in ORDERS if o != self.order)
        b, e = self.boundary, self.edge
        figures = (
            f"boundary {b[self.order]:.2f} pixels per mask pixel {self.order}-wise, {b[other]:.2f} {other}-wise; "
            f"gradient along it {e[self.order]:.1f} and {e[other]:.1f}"
        )
        why = figures if self.decided else f"undecided ({figures}): Kaggle's usual"
        return (
            f"pixel order: {self.order} ({ORDER_WORDS[self.order]}), from {self.samples} training masks: {why}; if it "
            f"is wrong, set FILES' order=\"{other}\" in the package's __init__.py"
        )


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's pixels with a 4-neighbour outside it (or at the image's border)."""
    inner = np.zeros_like(mask, dtype=bool)
    m = mask.astype(bool)
    inner[1:-1, 1:-1] = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return m & ~inner


def gradient(gray: np.ndarray) -> np.ndarray:
    """The image's gradient magnitude (central differences)."""
    dy, dx = np.gradient(gray.astype(np.float32))
    return np.hypot(dx, dy)


def decide(samples: list[tuple[np.ndarray, str]]) -> OrderEvidence:
    """The order of the masks of `samples`, each a grayscale image (height, width) and one of its non-empty run-length
    cells (the module docstring)."""
    edges: dict[str, list[float]] = {o: [] for o in ORDERS}
    lengths = dict.fromkeys(ORDERS, 0.0)
    area, oblong = 0.0, False
    for gray, cell in samples:
        height, width = gray.shape
        oblong |= height != width
        grad = gradient(gray)
        for order in ORDERS:
            edge = boundary(decode(cell, height, width, order))
            lengths[order] += float(edge.sum())
            edges[order].append(float(grad[edge].mean()) if edge.any() else 0.0)
        area += float(decode(cell, height, width, "row").sum())
    per_pixel = {o: lengths[o] / max(area, 1.0) for o in ORDERS}
    edge = {o: float(np.median(edges[o])) if edges[o] else 0.0 for o in ORDERS}
    # > 0: column; each piece of evidence in units of the log-ratio at which it speaks alone
    shape = np.log((per_pixel["row"] + 1e-9) / (per_pixel["column"] + 1e-9)) / np.log(SHAPE_RATIO) if oblong else 0.0
    ratios = [np.log((c + 1e-6) / (r + 1e-6)) for c, r in zip(edges["column"], edges["row"], strict=True)]
    sharp = float(np.median(ratios)) / np.log(EDGE_RATIO) if ratios else 0.0
    total = float(shape + sharp)
    if abs(total) < 1:
        return OrderEvidence("column", False, per_pixel, edge, len(samples))
    return OrderEvidence("column" if total > 0 else "row", True, per_pixel, edge, len(samples))
