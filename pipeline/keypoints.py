"""Targets that are places on the image (Facial Keypoints' `left_eye_center_x`, `left_eye_center_y`, ...): which
outputs are x and y coordinates, which are a flip's twins, and how they move when the image moves.

The coordinates are pixels with pixel i's centre at i (OpenCV's convention, which cv2.warpAffine and cv2.circle use):
an image of width w spans -0.5 to w - 0.5, its centre is (w - 1) / 2 and a horizontal flip takes x to w - 1 - x. A
training batch's shift, turn and zoom (BatchAugment.move_points) move each row's keypoints as they move its image; a
flipped row's x is mirrored and each `left` keypoint takes its `right` twin's place, as the mirrored face's left eye is
the one that was its right. A keypoint moved off the image is marked missing (NaN, which the loss skips): the image no
longer shows it (cut off, or replaced by the extended border), and a keypoint the test asks always lies on the image.
A missing keypoint stays missing.

find_keypoints reads this from the targets' names alone: every target one of a pair `<stem>_x` / `<stem>_y` (any case),
twins the stems that differ only by left <-> right; any other target means the targets are not keypoints (None).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from pipeline.vision.batch_augment import BatchAugment

_SIDES = re.compile("left|right", re.IGNORECASE)
# TTA views (pipeline/vision/tta.py view_names) and how each maps a point of the view back to the image: per axis
# (mirrored, added), and whether left and right trade places
_VIEWS = {
    "image": ((False, 0.0), (False, 0.0), False),
    "hflip": ((True, 0.0), (False, 0.0), True),
    # upside down, each eye keeps its side of the image: a network trained on upright faces (flipped left-right with
    # their twins swapped) calls the eye on the image's right `left` there too, so nothing trades places
    "vflip": ((False, 0.0), (True, 0.0), False),
    "shift+1": ((False, -1.0), (False, -1.0), False),
    "shift-1": ((False, 1.0), (False, 1.0), False),
}


@dataclass(frozen=True)
class Keypoints:
    """The outputs that are keypoints: `x[k]` and `y[k]` the columns of keypoint k, `mirror[j]` the column whose value
    a mirrored image's column j holds (j itself where it has no twin). `size`: the (height, width) the coordinates are
    measured on (the stored image; the network's may be resized); None: the network's image."""

    x: tuple[int, ...]
    y: tuple[int, ...]
    mirror: tuple[int, ...]
    size: tuple[int, int] | None = None

    def moved(
        self, values: torch.Tensor, augment: BatchAugment, draws: dict[str, torch.Tensor], shape: tuple[int, int]
    ) -> torch.Tensor:
        """Rows x outputs `values` (in the coordinates' units) moved as augment.apply(draws) moves the rows' (h, w) =
        `shape` images: each point shifted, turned and zoomed with its image, a flipped row's twins swapped, a point
        moved off the image missing (NaN)."""
        import torch

        h, w = shape
        xy = self._to_image(torch.stack([values[:, list(self.x)], values[:, list(self.y)]], -1), h, w)
        xy = augment.move_points(xy, draws, h, w)
        off = (xy[..., 0] < -0.5) | (xy[..., 0] > w - 0.5) | (xy[..., 1] < -0.5) | (xy[..., 1] > h - 0.5)
        xy = torch.where(off[..., None], torch.full_like(xy, float("nan")), xy)
        out = values.clone()
        out[:, list(self.x)], out[:, list(self.y)] = self._from_image(xy, h, w).unbind(-1)
        if "flip" in draws:
            out = torch.where(draws["flip"][:, None], out[:, list(self.mirror)], out)
        return out

    def undo(self, view: str, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """A TTA view's predictions (rows x outputs) on the image's own places: a flipped view's coordinates mirrored
        back and its twins swapped back, a shifted view's shifted back."""
        import torch

        (mx, ax), (my, ay), swap = _VIEWS[view]
        h, w = shape
        xy = self._to_image(torch.stack([values[:, list(self.x)], values[:, list(self.y)]], -1), h, w)
        x, y = xy.unbind(-1)
        x, y = (w - 1 - x if mx else x) + ax, (h - 1 - y if my else y) + ay
        out = values.clone()
        out[:, list(self.x)], out[:, list(self.y)] = self._from_image(torch.stack([x, y], -1), h, w).unbind(-1)
        return out[:, list(self.mirror)] if swap else out

    def _to_image(self, xy: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Points in `size`'s pixels as pixels of an (h, w) image (the same where it is not resized)."""
        if self.size is None or self.size == (h, w):
            return xy
        sy, sx = h / self.size[0], w / self.size[1]
        return (xy + 0.5) * xy.new_tensor([sx, sy]) - 0.5

    def _from_image(self, xy: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Points in an (h, w) image's pixels back in `size`'s."""
        if self.size is None or self.size == (h, w):
            return xy
        sy, sx = h / self.size[0], w / self.size[1]
        return (xy + 0.5) / xy.new_tensor([sx, sy]) - 0.5


def twin(name: str) -> str:
    """`name` with left and right traded (`left_eye_x` -> `right_eye_x`, `LeftEye` -> `RightEye`)."""

    def swap(m: re.Match[str]) -> str:
        other = "right" if m.group(0).lower() == "left" else "left"
        return other.upper() if m.group(0).isupper() else other.capitalize() if m.group(0)[0].isupper() else other

    return _SIDES.sub(swap, name)


def find_keypoints(names: Sequence[str]) -> Keypoints | None:
    """The keypoints the target `names` are, when every one is half of a `<stem>_x` / `<stem>_y` pair (any case); the
    flip's twins the stems that differ only by left <-> right. None when any target is no such coordinate."""
    stems: dict[str, dict[str, int]] = {}
    for j, name in enumerate(names):
        stem, axis = str(name)[:-2], str(name)[-2:].lower()
        if axis not in ("_x", "_y") or axis[1] in stems.setdefault(stem, {}):
            return None
        stems[stem][axis[1]] = j
    if not stems or any(len(axes) != 2 for axes in stems.values()):
        return None
    order = list(stems)
    mirror = list(range(len(names)))
    for stem in order:
        other = twin(stem)
        if other != stem and other in stems:
            for axis in "xy":
                mirror[stems[stem][axis]] = stems[other][axis]
    return Keypoints(tuple(stems[s]["x"] for s in order), tuple(stems[s]["y"] for s in order), tuple(mirror))
