"""Several images of one row (PetFinder Adoption's photos <PetID>-1.jpg, <PetID>-2.jpg ... of a pet, a varying number
of them; RSNA Breast Cancer's mammograms of one prediction id), named by one string: the views' names joined by SEP.

A view is what a path is elsewhere: one file, or one image of several channel files (pipeline/stacked.py, whose
separator is one "|": SEP, two, is never inside a view's name). Such a name goes where a path goes (a Data's X, the
image checks, digests), so that every row still names its images: the image check decodes each view's files, a
row's digest and size are those of its files together (stacked.every_file, stacked.size_of). The image networks
train on one view of a row per epoch, drawn from (epoch seed, row) (drawn_view: a resumed run replays it; the
row's label is the id's, so every view learns it), and predict a row as the mean of its views' outputs (flat_views,
row_means: out of fold, on the test set and under TTA alike). pipeline/vision/view_files.py finds a competition's
views, pipeline/vision/infer_views.py tells `new` of them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import numpy as np

SEP = "||"  # stacked.SEP ("|") twice: a view's name holds no "|" twice, as no file of it may hold one


def joined(views: Sequence[str]) -> str:
    """The name of a row whose images are `views` (one view: its name as it is); a view holding SEP is refused."""
    odd = [v for v in views if SEP in str(v) or not str(v)]
    if odd or not views:
        raise ValueError(f"{odd[0] if odd else 'no view'}: a row's views are non-empty names without {SEP!r}.")
    return SEP.join(map(str, views))


def views_of(name: str | os.PathLike[str]) -> list[str]:
    """The views of a row's name, in order: one for a row of one image."""
    return str(name).split(SEP)


def has_views(name: str | os.PathLike[str]) -> bool:
    """Whether a row's name is of several views."""
    return SEP in str(name)


def drawn(count: int, seed: int, row: int) -> int:
    """Which of a training row's `count` views it shows in the epoch of `seed`: drawn from (seed, row) alone, so the
    same whatever the loader's workers or the epoch's other rows, and a resumed run replays it."""
    return 0 if count == 1 else random.Random(f"view {seed} {row}").randrange(count)


def drawn_view(name: str, seed: int, row: int) -> str:
    """The view a training row's name shows in the epoch of `seed` (drawn); a row of one image is that image."""
    views = views_of(name)
    return views[drawn(len(views), seed, row)]


def by_row(items: Sequence[object], rows: np.ndarray, n_rows: int) -> list[list[object]]:
    """`items` of flat_views' order grouped by row (`rows`: each one's row)."""
    out: list[list[object]] = [[] for _ in range(n_rows)]
    for item, row in zip(items, rows, strict=True):
        out[row].append(item)
    return out


def flat_views(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every view of `names` in row order, and the row each comes from (`names` and arange when no row has views)."""
    names = np.asarray(names)
    if not any(has_views(n) for n in names):
        return names, np.arange(len(names))
    lists = [views_of(n) for n in names]
    rows = np.repeat(np.arange(len(names)), [len(v) for v in lists])
    return np.array([v for views in lists for v in views], dtype=object).astype(str), rows


def row_means(values: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """The mean of each row's views' `values` (flat_views' order; `rows`: each view's row), rows x outputs."""
    if len(rows) == n_rows:
        return values
    sums = np.zeros((n_rows, *values.shape[1:]), dtype=np.float64)
    np.add.at(sums, rows, values)
    counts = np.bincount(rows, minlength=n_rows).reshape(-1, *([1] * (values.ndim - 1)))
    return (sums / counts).astype(values.dtype)
