"""Kaggle's run-length masks: both pixel orders, empty cells, and bad cells refused with what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.segmentation.rle import RleError, area, decode, encode


def test_round_trip_both_orders() -> None:
    rng = np.random.default_rng(0)
    mask = (rng.random((7, 5)) > 0.6).astype(np.uint8)
    for order in ("column", "row"):
        assert np.array_equal(decode(encode(mask, order), 7, 5, order), mask)
    assert encode(mask, "column") != encode(mask, "row")


def test_orders_number_pixels_as_kaggle_does() -> None:
    mask = np.zeros((3, 4), np.uint8)
    mask[0, 1] = 1  # row 0, column 1
    assert encode(mask, "row") == "2 1"  # left to right, then down: pixel 2
    assert encode(mask, "column") == "4 1"  # top to bottom, then right: pixel 3 + 1
    assert decode("1 3", 3, 4, "column")[:, 0].tolist() == [1, 1, 1]
    assert decode("1 3", 3, 4, "row")[0, :3].tolist() == [1, 1, 1]


@pytest.mark.parametrize("cell", [None, float("nan"), "", "  ", "-1"])
def test_empty_cells(cell: object) -> None:
    assert decode(cell, 2, 2).sum() == 0
    assert area(cell) == 0
    assert encode(np.zeros((2, 2))) == ""


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("1 2 5", "pairs"),
        ("1 x", "'x'"),
        ("0 3", "1-based"),
        ("3 0", "length 0"),
        ("5 3 6 1", "overlaps"),
        ("3 4", "past the image's 4 pixels"),
    ],
)
def test_bad_cells_named(cell: str, words: str) -> None:
    with pytest.raises(RleError, match=words):
        decode(cell, 2, 2)


def test_area_counts_pixels() -> None:
    assert area("1 3 10 2") == 5
