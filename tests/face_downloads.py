"""Generated downloads in Facial Keypoints Detection's layout: training.csv (keypoint columns `left_eye_center_x` ..,
many of them empty, then `Image`: one grey face of space-separated values a row), test.csv (`ImageId,Image`),
IdLookupTable.csv (`RowId,ImageId,FeatureName,Location`, Location empty: which keypoints of which test face are asked)
and SampleSubmission.csv (`RowId,Location`). The faces are OpenCV-drawn: a bright oval head, two dark eyes, a nose and
a mouth, whose centres are the keypoints, the face moved and scaled at random."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

# (keypoint, offset from the face's centre in units of its scale, radius): eyes, nose and mouth
PARTS = (
    ("left_eye_center", (0.45, -0.35), 0.13),
    ("right_eye_center", (-0.45, -0.35), 0.13),
    ("nose_tip", (0.0, 0.1), 0.09),
    ("mouth_center_bottom_lip", (0.0, 0.55), 0.16),
)
NAMES = [f"{part}_{axis}" for part, _, _ in PARTS for axis in ("x", "y")]
ALWAYS = 4  # the eyes' coordinates are on every row; the nose's and mouth's on some (Kaggle's 2,140 of 7,049)


def faces(n: int, side: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` grey uint8 faces (n, side, side) and their keypoints (n, len(NAMES)): x then y of each part, in pixels
    (Kaggle's convention: the image's left edge is x 0; the subject's left eye lies on the image's right)."""
    import cv2

    rng = np.random.default_rng(seed)
    images = np.zeros((n, side, side), np.uint8)
    points = np.zeros((n, len(NAMES)))
    for i in range(n):
        images[i] = rng.integers(0, 40, (side, side))
        scale = side * rng.uniform(0.28, 0.38)
        cx, cy = side / 2 + rng.uniform(-0.12, 0.12, 2) * side
        cv2.ellipse(images[i], (round(cx), round(cy)), (round(scale), round(scale * 1.25)), 0, 0, 360, 200, -1)
        for k, (_, (dx, dy), r) in enumerate(PARTS):
            px, py = cx + dx * scale, cy + dy * scale
            cv2.circle(images[i], (round(px), round(py)), max(1, round(r * scale)), 60, -1)
            points[i, 2 * k : 2 * k + 2] = px, py
    return images, points


def training_frame(images: np.ndarray, points: np.ndarray, seed: int = 0, partial: float = 0.6) -> pd.DataFrame:
    """training.csv: the keypoint columns (on a `partial` share of the rows only the eyes marked) then `Image`."""
    rng = np.random.default_rng(seed)
    marked = points.copy()
    marked[rng.random(len(points)) < partial, ALWAYS:] = np.nan
    frame = pd.DataFrame(marked, columns=NAMES).round(4)
    return frame.assign(Image=[" ".join(map(str, row)) for row in images.reshape(len(images), -1)])


def facial_keypoints(path: Path, n_train: int, n_test: int, side: int = 48, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """The download as Kaggle ships it (a zip of the four CSVs) at `path`, and the asked rows' true Location
    (RowId, Location): each test face is asked its eyes, half of them its nose and mouth too."""
    images, points = faces(n_train + n_test, side, seed)
    train = training_frame(images[:n_train], points[:n_train], seed)
    test_images = images[n_train:].reshape(n_test, -1)
    test = pd.DataFrame({"ImageId": np.arange(1, n_test + 1), "Image": [" ".join(map(str, r)) for r in test_images]})
    rows = []
    for i in range(n_test):
        for j in range(len(NAMES) if i % 2 else ALWAYS):
            rows.append((i + 1, NAMES[j], points[n_train + i, j]))
    lookup = pd.DataFrame(rows, columns=["ImageId", "FeatureName", "truth"])
    lookup.insert(0, "RowId", np.arange(1, len(lookup) + 1))
    sample = pd.DataFrame({"RowId": lookup["RowId"], "Location": 0})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("training.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("IdLookupTable.csv", lookup.drop(columns="truth").assign(Location="").to_csv(index=False))
        zf.writestr("SampleSubmission.csv", sample.to_csv(index=False))
    return path, lookup[["RowId", "truth"]].rename(columns={"truth": "Location"})
