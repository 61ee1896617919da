"""The built-in sample: generated leaves in the competition's exact layout (images/<n>.jpg at 224x224, train.csv
image,label, test.csv image, sample_submission.csv image,label), a handful of species."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# A few of the 176 species, one with a hyphen as in the real names.
SAMPLE_SPECIES = ["acer_palmatum", "ginkgo_biloba", "quercus_montana", "robinia_pseudo-acacia", "ulmus_rubra"]


def sample_labels(
    n_train: int = 80, n_test: int = 20, species: list[str] | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (into the sorted species) of the sample's train and test images: tests score against them."""
    k = len(species or SAMPLE_SPECIES)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_train) % k), rng.integers(0, k, n_test)


def write_sample(
    dest: Path, n_train: int = 80, n_test: int = 20, species: list[str] | None = None, size: int = 224, seed: int = 0
) -> None:
    """images/0.jpg ... (train first, then test, as in the real data), train.csv, test.csv, sample_submission.csv."""
    import cv2

    from pipeline.vision.synthetic import make_image

    dest = Path(dest)
    species = sorted(species or SAMPLE_SPECIES)
    y, y_test = sample_labels(n_train, n_test, species, seed)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    names = [f"images/{i}.jpg" for i in range(n_train + n_test)]
    for name, label in zip(names, np.concatenate([y, y_test]), strict=True):
        img = make_image(int(label), len(species), size, rng)
        if not cv2.imwrite(str(dest / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise OSError(f"cannot write {dest / name}")
    pd.DataFrame({"image": names[:n_train], "label": [species[k] for k in y]}).to_csv(dest / "train.csv", index=False)
    pd.DataFrame({"image": names[n_train:]}).to_csv(dest / "test.csv", index=False)
    pd.DataFrame({"image": names[n_train:], "label": species[0]}).to_csv(dest / "sample_submission.csv", index=False)
