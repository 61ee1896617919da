"""Kaggle's run-length masks: both pixel orders, empty cells, and bad cells refused with what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.segmentation.rle import RleError, area, decode, encode, union


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


# a 3x4 image (height 3, width 4) numbered column-wise: pixels 1-3 (column 0's rows 1 and 2, column 1's row 0) and 9
# (column 3's row 0), 0-based. SIIM's mask_functions.rle2mask adds each start to the position after the run before
# (0 at first) and reshapes to (width, height), the image its transpose: "1 3 5 1" sets 1-3, then 4 + 5 = 9.
HAND = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]], np.uint8)


def test_relative_runs_number_pixels_as_siims_mask_functions_do() -> None:
    assert encode(HAND, "column", "relative") == "1 3 5 1"
    assert encode(HAND, "column") == "2 3 10 1"  # the same runs, absolute
    assert decode("1 3 5 1", 3, 4, "column", "relative").tolist() == HAND.tolist()
    assert decode("0 2", 3, 4, "column", "relative")[:, 0].tolist() == [1, 1, 0]  # a first start of 0: pixel 0
    assert decode("0 1 0 1", 3, 4, "column", "relative")[:, 0].tolist() == [1, 1, 0]  # a gap of 0: touching runs
    assert area("1 3 5 1", "relative") == 4


def test_relative_round_trip_both_orders() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        height, width = (int(v) for v in rng.integers(1, 9, 2))
        mask = (rng.random((height, width)) > 0.5).astype(np.uint8)
        for order in ("column", "row"):
            cell = encode(mask, order, "relative")
            assert np.array_equal(decode(cell, height, width, order, "relative"), mask)
            assert union([cell], "relative") == encode(mask, order)  # the same runs written absolute


def test_union_of_cells_merges_overlapping_and_touching_runs() -> None:
    # SIIM lists an image's regions on rows of their own: "1 3 5 1" (pixels 1-3, 9) and "0 2" (0-1) overlap at 1
    assert union(["1 3 5 1", "0 2"], "relative") == "1 4 10 1"  # pixels 0-3 and 9, absolute
    assert union(["1 3 5 1", "0 2"], "relative", "relative") == "0 4 5 1"
    assert union(["1 2", "3 2", "", "8 1"]) == "1 4 8 1"  # absolute: 1-2 touches 3-4; an empty cell adds nothing


@pytest.mark.parametrize(
    ("cell", "words"),
    [("1 2 5", "pairs"), ("3 0", "length 0"), ("0 2 1 2", "past the image's 4 pixels"), ("1 x", "'x'")],
)
def test_bad_relative_cells_named(cell: str, words: str) -> None:
    with pytest.raises(RleError, match=words):
        decode(cell, 2, 2, "column", "relative")
