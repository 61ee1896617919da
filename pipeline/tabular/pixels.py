"""Images held in a table, one per row: where they lie (Pixels), read into uint8 images, and found by `new`.

Kaggle ships some image competitions as CSVs: Digit Recognizer, Kannada MNIST and Fashion-MNIST hold each 28x28
grey image in 784 columns `pixel0` .. `pixel783` (or `pixel1` .. `pixel784`), row by row; FER2013 and Facial
Keypoints hold it in one column of space-separated values (`pixels`, `Image`). The "cnn" model of the tabular recipe
(pipeline/tabular/cnn.py) reads them through a Pixels; the other models see the pixel columns as numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.contract import ContractError
from pipeline.submission import is_number

NUMBERED = re.compile(r"^(?P<prefix>[A-Za-z][A-Za-z_]*?)(?P<index>\d+)$")  # pixel0, pixel_12, px783
# a run of numbered columns is an image only under a name that says so: a Playground table's f_00 .. f_99 is not
PIXEL_PREFIX = re.compile(r"pix|px", re.IGNORECASE)
MIN_PIXELS = 64  # the smallest image `new` takes for one (8x8); fewer numbered columns are features, not an image
SAMPLED_ROWS = 200  # rows of a text column `new` reads to tell whether it holds images


@dataclass(frozen=True)
class Pixels:
    """A grey image of `height` x `width` per row: in the columns `prefix` + `start` .. `prefix` +
    (`start` + height * width - 1), row by row (top row first); or, with `column`, in that one column as
    space-separated values in the same order. `max_value` is white (255 for bytes, 1.0 for values scaled to 0-1): a
    brighter value is read as white (new sets it from the training rows, which a test image may outshine)."""

    height: int
    width: int
    prefix: str = "pixel"
    start: int = 0
    column: str | None = None
    max_value: float = 255.0

    def columns(self) -> list[str]:
        """The table's columns holding the image: the numbered pixel columns, or the one column."""
        if self.column is not None:
            return [self.column]
        return [f"{self.prefix}{self.start + i}" for i in range(self.height * self.width)]

    def images(self, X: pd.DataFrame, size: int = 0) -> np.ndarray:
        """Each row's image as uint8 (rows, H, W, 3), grey in every channel; `size` > 0 resizes it to that longest
        side. A missing column, a missing, non-numeric, infinite or negative value, or a row of the wrong count of
        values is refused, naming the column and the row (X's index)."""
        values = self._values(pd.DataFrame(X))
        grey = np.clip(np.rint(values * (255.0 / self.max_value)), 0, 255).astype(np.uint8)
        grey = grey.reshape(len(grey), self.height, self.width)
        if size and max(self.height, self.width) != size:
            grey = _resized(grey, size)
        return np.repeat(grey[..., None], 3, axis=3)

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        """The pixel values as float32 (rows, height * width), checked."""
        names = self.columns()
        missing = [c for c in names if c not in X.columns]
        if missing:
            shown = ", ".join(map(str, list(X.columns)[:5]))
            raise ContractError(
                f"The image's column {missing[0]!r} is not in the table ({len(missing)} of {len(names)} missing; its "
                f"columns begin {shown}). Set the competition's PIXELS to where the image lies."
            )
        if self.column is not None:
            values = _split(X[self.column], self.height * self.width, self.column)
        else:
            values = _numbers(X[names])
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            name = self.column or names[col]
            value = "missing" if np.isnan(values[row, col]) else f"{values[row, col]:g}"
            raise ContractError(
                f"Pixel column {name!r}, row {X.index[row]}: {value}, where every pixel is a number from 0 (black) "
                f"up, {self.max_value:g} being white (PIXELS' max_value); {int(bad.sum())} such values."
            )
        return values


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    """The columns as float32, a value that is no number read as missing (then refused by the caller)."""
    if all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
        return frame.to_numpy(dtype=np.float32, na_value=np.nan)
    return frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)


def _split(column: pd.Series, count: int, name: str) -> np.ndarray:
    """Each row's space-separated values as float32 (rows, count); a row of another count is refused."""
    out = np.empty((len(column), count), dtype=np.float32)
    for i, text in enumerate(column.to_numpy()):
        parts = str(text).split() if isinstance(text, str) else []
        if len(parts) != count:
            raise ContractError(
                f"Pixel column {name!r}, row {column.index[i]}: {len(parts)} values, where every row holds "
                f"{count} (PIXELS' height x width)."
            )
        try:
            out[i] = np.asarray(parts, dtype=np.float32)
        except ValueError:
            bad = next(p for p in parts if not is_number(p))
            raise ContractError(f"Pixel column {name!r}, row {column.index[i]}: {bad!r} is no number.") from None
    return out


def _resized(grey: np.ndarray, size: int) -> np.ndarray:
    """(rows, H, W) uint8 images resized to longest side `size` (area when shrinking, bilinear when growing)."""
    import cv2

    h, w = grey.shape[1:]
    scale = size / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    how = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(image, shape, interpolation=how) for image in grey])


def find_pixels(train: pd.DataFrame, features: list[str]) -> Pixels | None:
    """The image `new` finds among a table's feature columns: a run of numbered pixel columns (`pixel0` ..) whose
    count is a square of at least MIN_PIXELS, every one numeric; or one text column whose sampled rows each hold the
    same square count of space-separated numbers. None when the table holds no image."""
    for pixels in (_numbered(train, features), _text_column(train, features)):
        if pixels is not None:
            return pixels
    return None


def _numbered(train: pd.DataFrame, features: list[str]) -> Pixels | None:
    """The largest run prefix + start .. prefix + (start + n - 1), n a square >= MIN_PIXELS, start 0 or 1, the prefix
    naming pixels (PIXEL_PREFIX)."""
    runs: dict[str, list[int]] = {}
    for name in features:
        m = NUMBERED.match(str(name))
        if m and PIXEL_PREFIX.search(m["prefix"]):
            runs.setdefault(m["prefix"], []).append(int(m["index"]))
    for prefix, indexes in sorted(runs.items(), key=lambda kv: -len(kv[1])):
        n, start = len(indexes), min(indexes)
        side = math.isqrt(n)
        square = n >= MIN_PIXELS and side * side == n
        if not square or start not in (0, 1) or sorted(indexes) != list(range(start, start + n)):
            continue
        pixels = Pixels(side, side, prefix=prefix, start=start)
        block = train[pixels.columns()]
        if not all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
            continue
        return Pixels(side, side, prefix=prefix, start=start, max_value=white(float(np.nanmax(block.to_numpy()))))
    return None


def _text_column(train: pd.DataFrame, features: list[str]) -> Pixels | None:
    """A text column whose first SAMPLED_ROWS values each hold the same square count of numbers."""
    for name in features:
        column = train[name]
        if pd.api.types.is_numeric_dtype(column.dtype):
            continue
        counts, top = set(), 0.0
        for text in column.head(SAMPLED_ROWS).to_numpy():
            parts = text.split() if isinstance(text, str) else []
            if len(parts) < MIN_PIXELS:
                break
            try:
                values = np.asarray(parts, dtype=np.float64)
            except ValueError:  # a word among them: free text (a review from "5 stars" to "10"), no image
                break
            counts.add(len(parts))
            top = max(top, float(values.max()))
        else:
            side = math.isqrt(next(iter(counts))) if len(counts) == 1 else 0
            if side and side * side == next(iter(counts)):
                return Pixels(side, side, column=str(name), max_value=white(top))
    return None


def white(top: float) -> float:
    """The value of white for pixels whose largest value is `top`: 1.0 for values scaled to 0-1, 255 for bytes, else
    the largest value (scikit-learn's 8x8 digits: 16)."""
    if top <= 1.0:
        return 1.0
    return 255.0 if top > 127 else top
