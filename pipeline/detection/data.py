"""Detection data: images from paths, albumentations transforms that move the boxes, batches as lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.detection.boxes import CROWD, unpack, xywh_to_xyxy
from pipeline.detection.recipe import Augment
from pipeline.training.data import SeededDataset, seeded_loader
from pipeline.vision.data import to_tensor
from pipeline.vision.decoded import read_cut

# Boxes are clipped to the image after every transform; a box keeping less than this fraction of its area (or
# under MIN_SIDE pixels wide/high) is dropped with its label. The same rule for flip, scale, crop and resize.
MIN_VISIBILITY = 0.3
MIN_SIDE = 2.0


def bbox_params() -> Any:
    """COCO-format boxes with labels, clipped and filtered the same way by every transform."""
    import albumentations as A

    return A.BboxParams(
        format="coco",
        label_fields=["labels"],
        clip=True,
        filter_invalid_bboxes=True,
        min_visibility=MIN_VISIBILITY,
        min_width=MIN_SIDE,
        min_height=MIN_SIDE,
    )


def make_transform(image_size: int, train: bool, boxes: bool = True, **augment: float) -> Any:
    """Resize the longest side to image_size (INTER_AREA when downsizing); for training add flip, scale/translate (a
    zoom-crop) and colour at the strengths `augment` gives (Augment's fields; its defaults otherwise)."""
    import albumentations as A

    a = Augment(**augment)
    # INTER_AREA when downsizing, as the store's read_cut does: a model is scored and predicts on images resized as it
    # trained
    steps: list[Any] = [A.LongestMaxSize(max_size=image_size, area_for_downscale="image")]
    if train:
        if a.hflip > 0:
            steps.append(A.HorizontalFlip(p=a.hflip))
        if a.affine_p > 0 and (a.scale > 0 or a.translate > 0):
            steps.append(
                A.Affine(
                    scale=(1 - a.scale, 1 + a.scale),
                    translate_percent=(-a.translate, a.translate),
                    keep_ratio=True,
                    border_mode=0,
                    fill=114,
                    p=a.affine_p,
                )
            )
        if a.color > 0:
            steps.append(A.ColorJitter(0.3, 0.3, 0.3, 0.02, p=a.color))
    return A.Compose(steps, bbox_params=bbox_params() if boxes else None)


class DetectionDataset(SeededDataset):
    """(image uint8 HWC tensor, target {boxes xyxy, labels 1..K}, (sx, sy) resize factors) per image."""

    def __init__(
        self,
        paths: Sequence[str],
        y: np.ndarray | None,
        transform: Any,
        cache: list[tuple[np.ndarray, int, int]] | None = None,
        image_size: int | None = None,
    ) -> None:
        super().__init__(list(paths), transform, cache)
        self.y = y
        self.image_size = image_size

    def image(self, i: int) -> tuple[np.ndarray, int, int]:
        """Image i, its longest side cut to image_size (from the cache, the process's store of decoded images, or
        decoded and cut here by the store's `read_cut`: either way the same pixels and box arithmetic), and its
        original width and height."""
        if self.cache is not None:
            return self.cache[i]
        return read_cut(self.paths[i], self.image_size or 0)

    def item(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], tuple[float, float]]:
        image, w, h = self.image(i)
        if self.y is not None:
            b, s, c = unpack(self.y[i])
            keep = (b[:, 2] > 0) & (b[:, 3] > 0) & (s != CROWD)  # a crowd region is no object to learn (COCO's rule)
            b = b * np.array([image.shape[1] / w, image.shape[0] / h] * 2)  # original -> cached pixels
            out = self.transform(image=image, bboxes=b[keep].reshape(-1, 4), labels=c[keep].tolist())
            boxes = xywh_to_xyxy(np.asarray(out["bboxes"], float).reshape(-1, 4))
            labels = np.asarray(out["labels"], dtype=np.int64) + 1
        else:
            out = self.transform(image=image)
            boxes, labels = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        img = out["image"]
        target = {
            "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels, dtype=torch.int64),
        }
        return to_tensor(img), target, (img.shape[1] / w, img.shape[0] / h)


def _collate(batch: list[Any]) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], list[tuple[float, float]]]:
    return [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch]


def make_loader(
    ds: DetectionDataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    rows: np.ndarray | None = None,
    persistent: bool = False,
) -> DataLoader:
    """Order and augmentation depend only on seed, so a resumed epoch replays the same batches; `rows` and
    `persistent` as in pipeline.training.data.seeded_loader."""
    return seeded_loader(ds, batch_size, shuffle, seed, num_workers, pin_memory, _collate, False, rows, persistent)


def to_device(images: list[torch.Tensor], device: str) -> list[torch.Tensor]:
    """uint8 HWC images -> float CHW in [0, 1] on the device (torchvision's detectors normalise themselves).

    No memory format is set here: a detector batches its images into a new NCHW tensor itself, and a channels_last
    model (Runtime.channels_last) runs its convolutions channels-last on that batch. (channels_last needs 4 dims: asked
    of one CHW image it raised, on every GPU, where the estimator turns it on.)
    """
    return [im.to(device, non_blocking=True).permute(2, 0, 1).float().div_(255.0) for im in images]
