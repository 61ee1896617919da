"""Generated downloads of images held in a table, one per row, in the layouts Kaggle ships them: Digit Recognizer
(train `label,pixel0..pixel783`, test `pixel0..pixel783` and no id, sample `ImageId,Label` numbered from 1), Kannada
MNIST (test.csv with an `id`), Fashion-MNIST (`label,pixel1..pixel784`) and FER2013 (`emotion,pixels`: one column of
space-separated values). The images are digits "0" .. "9" drawn by cv2.putText in a random font, scale, thickness and
place, white on black: a network on the images reads them far better than trees on the pixel columns."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

FONTS = (0, 2, 3, 4)  # cv2's Hershey simplex, duplex, complex, triplex


def digits(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` grey uint8 images (n, side, side) of a digit each and their labels 0 .. 9 (every label about as often)."""
    import cv2

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = np.zeros((n, side, side), np.uint8)
    for i, label in enumerate(labels):
        scale = side / 28 * rng.uniform(0.6, 0.95)
        thick = max(1, round(side / 28 * rng.integers(1, 4)))
        font = int(rng.choice(FONTS))
        (w, h), _ = cv2.getTextSize(str(label), font, scale, thick)
        x = int(rng.integers(0, max(1, side - w)))
        y = int(rng.integers(min(h, side - 1), side))
        cv2.putText(images[i], str(label), (x, y), font, scale, int(rng.integers(180, 256)), thick, cv2.LINE_AA)
    return images, labels


def pixel_frame(images: np.ndarray, prefix: str = "pixel", start: int = 0) -> pd.DataFrame:
    """Each image as one row of numbered pixel columns, row by row (prefix + start, prefix + start + 1, ...)."""
    flat = images.reshape(len(images), -1)
    return pd.DataFrame(flat, columns=[f"{prefix}{start + i}" for i in range(flat.shape[1])])


def text_frame(images: np.ndarray, column: str = "pixels") -> pd.DataFrame:
    """Each image as one text cell of space-separated values, row by row (FER2013's `pixels`)."""
    flat = images.reshape(len(images), -1)
    return pd.DataFrame({column: [" ".join(map(str, row)) for row in flat]})


def write(path: Path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame) -> Path:
    """A Kaggle-style zip of the three CSVs: `path`."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", sample.to_csv(index=False))
    return path


Download = tuple[Path, np.ndarray]  # the zip, and the test rows' labels (which no file of it holds)


def digit_recognizer(path: Path, n_train: int, n_test: int, seed: int = 0) -> Download:
    """Digit Recognizer: train `label,pixel0..pixel783`, test the pixels alone, sample `ImageId,Label` from 1."""
    images, labels = digits(n_train + n_test, seed=seed)
    train = pd.concat([pd.DataFrame({"label": labels[:n_train]}), pixel_frame(images[:n_train])], axis=1)
    test = pixel_frame(images[n_train:])
    sample = pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Label": 0})
    return write(path, train, test, sample), labels[n_train:]


def kannada(path: Path, n_train: int, n_test: int, seed: int = 0) -> Download:
    """Kannada MNIST: train `label,pixel0..pixel783`, test `id,pixel0..pixel783` (ids from 0), sample `id,label`."""
    images, labels = digits(n_train + n_test, seed=seed)
    train = pd.concat([pd.DataFrame({"label": labels[:n_train]}), pixel_frame(images[:n_train])], axis=1)
    test = pd.concat([pd.DataFrame({"id": np.arange(n_test)}), pixel_frame(images[n_train:])], axis=1)
    sample = pd.DataFrame({"id": np.arange(n_test), "label": 0})
    return write(path, train, test, sample), labels[n_train:]


def fashion(path: Path, n_train: int, n_test: int, seed: int = 0) -> Download:
    """Fashion-MNIST: `label,pixel1..pixel784` (numbered from 1), test with an `id` first, sample `id,label`."""
    images, labels = digits(n_train + n_test, seed=seed)
    train = pd.concat([pd.DataFrame({"label": labels[:n_train]}), pixel_frame(images[:n_train], start=1)], axis=1)
    ids = np.arange(10_000, 10_000 + n_test)
    test = pd.concat([pd.DataFrame({"id": ids}), pixel_frame(images[n_train:], start=1)], axis=1)
    return write(path, train, test, pd.DataFrame({"id": ids, "label": 0})), labels[n_train:]


def fer(path: Path, n_train: int, n_test: int, side: int = 16, seed: int = 0) -> Download:
    """FER2013's layout, smaller: train `emotion,pixels` (side x side values a row, space-separated), test
    `id,pixels`, sample `id,emotion`."""
    images, labels = digits(n_train + n_test, side=side, seed=seed)
    train = pd.concat([pd.DataFrame({"emotion": labels[:n_train]}), text_frame(images[:n_train])], axis=1)
    ids = np.arange(n_test)
    test = pd.concat([pd.DataFrame({"id": ids}), text_frame(images[n_train:])], axis=1)
    return write(path, train, test, pd.DataFrame({"id": ids, "emotion": 0})), labels[n_train:]
