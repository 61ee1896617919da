"""The built-in sample: a small generated, learnable data set in exactly Kaggle's cifar-10 layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def sample_labels(n_train: int = 600, n_test: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class indices of the sample's train and test images (balanced train, random test): tests score against them."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_train) % len(CLASSES)), rng.integers(0, len(CLASSES), n_test)


def write_sample(dest: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> None:
    """train.7z (train/<id>.png), test.7z (test/<id>.png), trainLabels.csv, sampleSubmission.csv, then extracted."""
    import py7zr

    from pipeline.datadir import extract_inner
    from pipeline.vision.synthetic import write_images

    dest = Path(dest)
    y, y_test = sample_labels(n_train, n_test, seed)
    staging = dest / ".staging"
    for split, labels in (("train", y), ("test", y_test)):
        names = [f"{i}.png" for i in range(1, len(labels) + 1)]
        write_images(staging / split, names, labels, len(CLASSES), 32, seed + (split == "test"))
        with py7zr.SevenZipFile(dest / f"{split}.7z", "w") as archive:
            archive.writeall(staging / split, arcname=split)
    shutil.rmtree(staging)
    ids = np.arange(1, n_train + 1)
    pd.DataFrame({"id": ids, "label": [CLASSES[k] for k in y]}).to_csv(dest / "trainLabels.csv", index=False)
    pd.DataFrame({"id": np.arange(1, n_test + 1), "label": "cat"}).to_csv(dest / "sampleSubmission.csv", index=False)
    extract_inner(dest)
