"""Made-up downloads of numbered photos per id, in PetFinder Adoption's layout: train_images/<PetID>-1.png,
<PetID>-2.png ... (one to three an id; test_images/ alike), train.csv of PetID and a class, a sample submission of
the test ids. An id's class shows in one of its photos alone (a bright square, in red for class 1 and green for
class 0, on the photo numbered `shown`); its other photos are noise, which tells nothing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

SIZE = 32


def photo(rng: np.random.Generator, label: int | None) -> np.ndarray:
    """A BGR photo: noise, and a bright square of the class's colour where `label` is not None."""
    img = rng.integers(0, 70, (SIZE, SIZE, 3)).astype(np.uint8)
    if label is not None:
        y, x = rng.integers(2, SIZE - 14, 2)
        img[y : y + 12, x : x + 12, 2 if label else 1] = 255  # BGR: red for 1, green for 0
    return img


def write_pet(folder: Path, key: str, label: int, count: int, rng: np.random.Generator) -> None:
    """`count` photos of one id, its class shown on one of them, drawn."""
    folder.mkdir(parents=True, exist_ok=True)
    shown = int(rng.integers(count))
    for k in range(count):
        assert cv2.imwrite(str(folder / f"{key}-{k + 1}.png"), photo(rng, label if k == shown else None))


def petfinder(root: Path, n_train: int = 48, n_test: int = 12, seed: int = 0) -> tuple[Path, dict[str, int]]:
    """The download (the module's docstring) and each id's number of photos, train and test."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    labels = rng.permutation(np.arange(n) % 2)
    counts = rng.integers(1, 4, n)
    ids = [rng.bytes(5).hex() for _ in range(n)]
    for i, key in enumerate(ids):
        write_pet(root / ("train_images" if i < n_train else "test_images"), key, int(labels[i]), int(counts[i]), rng)
    pd.DataFrame({"PetID": ids[:n_train], "Adopted": labels[:n_train]}).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"PetID": ids[n_train:], "Adopted": 0}).to_csv(root / "sample_submission.csv", index=False)
    return root, dict(zip(ids, map(int, counts), strict=True))
