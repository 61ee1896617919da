"""The built-in sample: generated dog-breeds data in Kaggle's exact layout (labels.csv, train/ and test/ JPEGs of
varied sizes named by 32-hex ids, sample_submission.csv with id + the sorted breeds), a handful of breeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# A few of the competition's 120 breeds (its names: lowercase, underscores), in alphabetical order.
SAMPLE_BREEDS = ["beagle", "border_collie", "chihuahua", "golden_retriever", "pug"]


def sample_spec(
    n_train: int = 80, n_test: int = 20, breeds: list[str] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Ids and class indices of the sample's train and test images (balanced train): tests score against them."""
    breeds = breeds or SAMPLE_BREEDS
    rng = np.random.default_rng(seed)
    ids = np.array([rng.bytes(16).hex() for _ in range(n_train + n_test)])
    return {
        "train_ids": ids[:n_train],
        "y": rng.permutation(np.arange(n_train) % len(breeds)),
        "test_ids": ids[n_train:],
        "y_test": rng.integers(0, len(breeds), n_test),
    }


def write_jpegs(
    folder: Path, names: list[str], labels: np.ndarray, n_classes: int, sizes: np.ndarray, seed: int
) -> None:
    """One JPEG per name with its class's colour and shape (pipeline.vision.synthetic), at its (width, height)."""
    import cv2

    from pipeline.vision.synthetic import make_image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, label, (w, h) in zip(names, labels, sizes, strict=True):
        square = make_image(int(label), n_classes, int(max(w, h)), rng)
        img = cv2.resize(square, (int(w), int(h)), interpolation=cv2.INTER_AREA)
        if not cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise OSError(f"cannot write {folder / name}")


def write_sample(
    dest: Path, n_train: int = 80, n_test: int = 20, breeds: list[str] | None = None, seed: int = 0
) -> None:
    """labels.csv, train/<id>.jpg, test/<id>.jpg (sizes 64..160 px, not square) and sample_submission.csv."""
    dest = Path(dest)
    breeds = sorted(breeds or SAMPLE_BREEDS)
    spec = sample_spec(n_train, n_test, breeds, seed)
    rng = np.random.default_rng(seed + 1)
    for split, ids, labels in (("train", spec["train_ids"], spec["y"]), ("test", spec["test_ids"], spec["y_test"])):
        sizes = rng.integers(64, 161, size=(len(ids), 2))
        write_jpegs(dest / split, [f"{i}.jpg" for i in ids], labels, len(breeds), sizes, seed + (split == "test"))
    pd.DataFrame({"id": spec["train_ids"], "breed": [breeds[k] for k in spec["y"]]}).to_csv(
        dest / "labels.csv", index=False
    )
    sub = pd.DataFrame({"id": spec["test_ids"], **{b: 1.0 / len(breeds) for b in breeds}})
    sub.to_csv(dest / "sample_submission.csv", index=False)
