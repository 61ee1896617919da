"""Made-up downloads of one greyscale file per channel, in Human Protein Atlas' layout: train/<Id>_red.png,
<Id>_green.png, <Id>_blue.png, <Id>_yellow.png (and test/ alike), train.csv of Id and Target (space-separated tags),
a sample submission of the test ids whose column is Predicted, as Human Protein Atlas' own. What tells the tags lies
in two channels: a bright square in yellow, the fourth channel, is tag "0" and its absence tag "1" (one of them per
image); a bright square in green is tag "2" (in half of the images). Red and blue hold squares too, which tell
nothing. A network reading red, green and blue alone can learn tag 2 only; tags 0 and 1 need yellow
(benchmarks/image_channels.py measures it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

CHANNELS = ("red", "green", "blue", "yellow")
TAGS = ("0", "1", "2")
SIZE = 32


def hpa_id(rng: np.random.Generator) -> str:
    """An id as Human Protein Atlas writes them, dashes in it: 00070df0-bbc3-11e8-b2bc-ac1f6b6435d0."""
    return "-".join(rng.bytes(n).hex() for n in (4, 2, 2, 2, 6))


def plane(rng: np.random.Generator, square: bool) -> np.ndarray:
    """One channel: noise, and a bright square somewhere when `square`."""
    img = rng.integers(0, 70, (SIZE, SIZE)).astype(np.uint8)
    if square:
        y, x = rng.integers(2, SIZE - 12, 2)
        img[y : y + 10, x : x + 10] = rng.integers(200, 256)
    return img


def write_image(folder: Path, key: str, tags: np.ndarray, rng: np.random.Generator, sep: str = "_") -> None:
    """The four channel files of one id whose tags (0/1 per TAGS) are `tags`."""
    folder.mkdir(parents=True, exist_ok=True)
    shown = {"red": rng.random() < 0.5, "green": bool(tags[2]), "blue": rng.random() < 0.5, "yellow": bool(tags[0])}
    for channel in CHANNELS:
        assert cv2.imwrite(str(folder / f"{key}{sep}{channel}.png"), plane(rng, shown[channel]))


def hpa(
    root: Path, n_train: int = 64, n_test: int = 16, seed: int = 0, sep: str = "_", sample_column: str = "Predicted"
) -> tuple[Path, np.ndarray]:
    """The download (see the module's docstring) and the training tags, rows x TAGS of 0/1; `sample_column`: the
    sample submission's column of tags (train.csv's is Target)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    yellow = rng.permutation(np.arange(n) % 2).astype(bool)
    y = np.column_stack([yellow, ~yellow, rng.random(n) < 0.5]).astype(int)
    ids = [hpa_id(rng) for _ in range(n)]
    for i, (key, row) in enumerate(zip(ids, y, strict=True)):
        write_image(root / ("train" if i < n_train else "test"), key, row, rng, sep)
    cells = [" ".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in y[:n_train]]
    pd.DataFrame({"Id": ids[:n_train], "Target": cells}).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"Id": ids[n_train:], sample_column: "0"}).to_csv(root / "sample_submission.csv", index=False)
    return root, y[:n_train]
