"""Mean Dice as Kaggle scores segmentation: each (image, class) pair's Dice by hand, empty pairs scoring 1, the cut at
a threshold and a minimum area, per class and chunked alike."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.segmentation import metric
from pipeline.segmentation.metric import class_dice, cut, mean_dice, pair_dice


def rows(*images: list[np.ndarray]) -> np.ndarray:
    """Flat class-major rows, one image per argument, each a list of its classes' (gh, gw) masks."""
    return np.stack([np.concatenate([np.asarray(m, float).ravel() for m in im]) for im in images])


def square(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size))
    mask[top : top + side, left : left + side] = 1
    return mask


def test_pairs_by_hand() -> None:
    empty = np.zeros((4, 4))
    a = square(4, 0, 0, 2)  # 4 pixels
    b = square(4, 0, 1, 2)  # 4 pixels, 2 shared with a
    truth = rows([a, empty], [empty, empty])
    pred = rows([b, a], [empty, empty])
    got = pair_dice(truth, pred, 2)
    # image 0: class 0 2*2/(4+4), class 1 a false positive on an empty truth; image 1: both empty, both 1
    assert got.tolist() == [[0.5, 0.0], [1.0, 1.0]]
    assert mean_dice(truth, pred, 2) == pytest.approx(2.5 / 4)
    assert class_dice(truth, pred, 2) == pytest.approx([0.75, 0.5])


def test_perfect_and_all_empty_predictions() -> None:
    rng = np.random.default_rng(0)
    truth = (rng.random((10, 3 * 16)) > 0.7).astype(np.uint8)
    truth[:4, :16] = 0  # class 0 empty on four images
    assert mean_dice(truth, truth.astype(np.float32), 3) == 1.0
    empty_pairs = (metric.as_masks(truth, 3).sum(axis=2) == 0).mean()
    assert mean_dice(truth, np.zeros(truth.shape, np.float32), 3) == pytest.approx(empty_pairs)
    assert 0 < empty_pairs < 1


def test_threshold_and_min_pixels_cut_the_prediction() -> None:
    truth = rows([square(4, 0, 0, 2)], [np.zeros((4, 4))])
    probs = rows([square(4, 0, 0, 2) * 0.6], [square(4, 3, 3, 1) * 0.9])  # image 1: a one-pixel false positive
    assert pair_dice(truth, probs, 1).ravel().tolist() == [1.0, 0.0]
    assert pair_dice(truth, probs, 1, threshold=0.7).ravel().tolist() == [0.0, 0.0]
    assert pair_dice(truth, probs, 1, min_pixels=2).ravel().tolist() == [1.0, 1.0]
    assert pair_dice(truth, probs, 1, min_pixels=5).ravel().tolist() == [0.0, 1.0]  # the true mask dropped too
    kept = cut(rows([square(4, 0, 0, 1), square(4, 0, 0, 3)]), 2, threshold=0.5, min_pixels=[1, 10])
    assert kept.sum(axis=2).tolist() == [[1, 0]]


def test_settings_per_class() -> None:
    probs = rows([np.full((2, 2), 0.4), np.full((2, 2), 0.4)])
    assert cut(probs, 2, threshold=[0.3, 0.5]).sum(axis=2).tolist() == [[4, 0]]
    with pytest.raises(ValueError, match="one per class"):
        cut(probs, 2, threshold=[0.3, 0.5, 0.6])


def test_chunks_score_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    truth = (rng.random((23, 2 * 9)) > 0.5).astype(np.uint8)
    probs = rng.random(truth.shape).astype(np.float32)
    whole = pair_dice(truth, probs, 2)
    monkeypatch.setattr(metric, "CHUNK", 5)
    assert np.array_equal(pair_dice(truth, probs, 2), whole)


def test_shapes_refused() -> None:
    with pytest.raises(ValueError, match="rows of 3 classes"):
        mean_dice(np.zeros((2, 8)), np.zeros((2, 8)), 3)
    with pytest.raises(ValueError, match="predictions of shape"):
        mean_dice(np.zeros((2, 8)), np.zeros((3, 8)), 2)
