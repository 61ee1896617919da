"""Image decoding, datasets and loaders: paths in, uint8 batches out; normalisation happens batched on the device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.contract import ContractError
from pipeline.dicom import DicomError, is_dicom, read_dicom
from pipeline.stacked import channel_files, is_stacked
from pipeline.training.data import SeededDataset, seeded_loader
from pipeline.views import drawn, drawn_view, has_views


class ImageReadError(ContractError):
    """An image file is missing, unreadable or not a decodable image."""


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an RGB uint8 HxWx3 array, or fail naming the file. The pixels are as stored: an EXIF
    orientation tag is not applied, as PIL and torchvision do not apply it, and as a COCO file's boxes, widths and
    heights are given (applied, a rotated photo's boxes would land beside their objects). A DICOM file (.dcm) is
    read by pipeline.dicom.read_dicom (windowed, grey repeated over three channels). An image of several channel
    files (pipeline/stacked.py) is an HxWxC array, one channel a file (read_channels)."""
    import cv2

    path = str(path)
    if has_views(path):
        raise ImageReadError(f"{path}: a row of several views (pipeline/views.py) is no one image; read each view.")
    if is_stacked(path):
        return read_channels(channel_files(path))
    if is_dicom(path):
        try:
            return read_dicom(path)
        except DicomError as e:
            raise ImageReadError(str(e)) from None
    return cv2.cvtColor(_decode(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _decode(path: str, flags: int) -> np.ndarray:
    """A file's pixels as OpenCV decodes them with `flags` (an EXIF orientation never applied), or a failure naming
    the file."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageReadError(f"Cannot read image {path}: {e.strerror or e}.") from None
    image = cv2.imdecode(data, flags | cv2.IMREAD_IGNORE_ORIENTATION) if data.size else None
    if image is None:
        raise ImageReadError(f"Cannot decode image {path}: the file is empty, truncated or not an image.")
    return image


def read_channels(files: Sequence[str]) -> np.ndarray:
    """The channel files of one image stacked in order into an HxWxC uint8 array, or a failure naming the file. Each
    file is one channel: a grey file as it is; a colour file (a grey image saved in colour, or a channel tinted its
    own colour, as Human Protein Atlas' external JPEGs are) as its brightest colour at each pixel, which is the grey
    of the first and the tint's strength in the second (a mean would divide a red tint by three); 16-bit values as
    their high byte, as OpenCV reads a 16-bit file in colour. Every file of one image has one size."""
    planes = [read_channel(f) for f in files]
    sizes = {plane.shape for plane in planes}
    if len(sizes) > 1:
        shown = ", ".join(f"{f} {p.shape[1]}x{p.shape[0]}" for f, p in zip(files, planes, strict=True))
        raise ImageReadError(f"The channel files of one image differ in size: {shown}; each channel covers the image.")
    return np.stack(planes, axis=-1)


def read_channel(path: str) -> np.ndarray:
    """One channel file as an HxW uint8 array (read_channels says how), or a failure naming the file."""
    import cv2

    if is_dicom(path):
        return read_image(path).max(axis=2)
    image = _decode(path, cv2.IMREAD_UNCHANGED)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageReadError(f"Cannot read image {path} as a channel: its values are {image.dtype}, not 8 or 16 bits.")
    return image if image.ndim == 2 else image[:, :, :3].max(axis=2)


def downsized(image: np.ndarray, max_side: int) -> np.ndarray:
    """The image with its longest side cut to max_side (INTER_AREA, as the detection transforms' resize), or as it
    is when no larger."""
    import cv2

    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def to_tensor(image: Any, channels: int | None = None) -> torch.Tensor:
    """An augmented sample as an HWC tensor: HWC uint8/float arrays stay HWC; CHW tensors (a transform ending in
    ToTensorV2) become HWC. `channels`, the network's input channel count, tells which axis holds them (four of Human
    Protein Atlas' channel files: a 4 x H x W tensor is CHW); None (the box and mask datasets): a tensor whose first
    axis is 1 or 3 is CHW. A held image a transform passed through unchanged (read-only, shared by the process's
    store) is copied."""
    if isinstance(image, torch.Tensor):
        return image.permute(1, 2, 0) if image.ndim == 3 and _channels_first(image.shape, channels, True) else image
    tensor = torch.from_numpy(np.array(image, order="C") if not image.flags.writeable else np.ascontiguousarray(image))
    return tensor.permute(1, 2, 0) if tensor.ndim == 3 and _channels_first(tensor.shape, channels, False) else tensor


def _channels_first(shape: Sequence[int], channels: int | None, tensor: bool) -> bool:
    """Whether an augmented image of `shape` (three axes) holds its channels first: with a known channel count, the
    axis of that size (a tensor's first where both are: ToTensorV2's CHW; an array's last), else refused naming the
    shape; without one, a tensor whose first axis is 1 or 3."""
    if channels is None:
        return tensor and shape[0] in (1, 3)
    first, last = shape[0] == channels, shape[-1] == channels
    if not (first or last):
        raise ContractError(
            f"The transforms give an image of shape {tuple(shape)}, and the network takes {channels} channels: one "
            f"axis is {channels}, the last (H x W x C, albumentations' arrays) or the first (C x H x W, ToTensorV2's)."
        )
    return first and (tensor or not last)


class ImageDataset(SeededDataset):
    """Images from paths (or a decoded cache: one array, or a list of the store's images), an albumentations
    transform, and optional labels: class indices (int64), or float rows of targets (labels, values); `channels`: the
    network's input channel count (to_tensor). A row of several views (pipeline/views.py; its cache entry a list of
    their images) shows one, drawn from its (seed, row) key."""

    def __init__(
        self,
        paths: Sequence[str],
        labels: np.ndarray | None = None,
        transform: Callable[..., dict[str, Any]] | None = None,
        cache: np.ndarray | Sequence[np.ndarray | list[np.ndarray]] | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__(paths, transform, cache)
        self.labels = labels
        self.channels = channels  # the network's input channels, which tell a transform's CHW output (to_tensor)
        self._key = (0, -1)  # the (seed, row) last reseeded for: a row of views shows the view it draws

    def reseed(self, seed: int, row: int = 0) -> None:
        super().reseed(seed, row)
        self._key = (seed, row)

    def item(self, i: int) -> tuple[torch.Tensor, Any]:
        seed = self._key[0] if self._key[1] == i else 0
        if self.cache is None:
            image = read_image(drawn_view(str(self.paths[i]), seed, i))
        elif isinstance(held := self.cache[i], list):  # a row's views
            image = held[drawn(len(held), seed, i)]
        else:
            image = held
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        label = self.labels[i] if self.labels is not None else np.int64(-1)
        return to_tensor(image, self.channels), label


def _collate(batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    images = [b[0] for b in batch]
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise ContractError(
            f"Images in a batch have different sizes {sorted(shapes)[:3]}; add a Resize/crop to the transforms."
        )
    labels = np.asarray([b[1] for b in batch])  # int64 class indices, or float32 rows of targets
    return torch.stack(images), torch.from_numpy(labels.astype(np.int64) if labels.dtype.kind in "iu" else labels)


def make_loader(
    dataset: ImageDataset,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
    rows: np.ndarray | None = None,
    persistent: bool = False,
) -> DataLoader:
    """A DataLoader whose order and augmentation depend only on seed (one seed per epoch gives resumable runs).

    `rows` replaces the epoch's rows (distributed.py's per-rank shard of the epoch's order); `persistent` keeps its
    workers for the next epochs (pipeline.training.data.seeded_loader).
    """
    return seeded_loader(
        dataset, batch_size, shuffle, seed, num_workers, pin_memory, _collate, drop_last, rows, persistent
    )


class BatchNormalizer:
    """Turn an uint8 NHWC batch into a normalised float NCHW batch on the device (channels_last when asked)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: str, channels_last: bool) -> None:
        self.device = device
        self.channels_last = channels_last
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)  # NHWC memory seen as NCHW: already channels_last
        # uint8 gets normalised here; float output means the transform normalised already
        x = (x.float() - self.mean) * self.inv_std if x.dtype == torch.uint8 else x.float()
        return x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
