"""Kaggle's box metric (Global Wheat, RSNA Pneumonia) against hand-computed values, empty images included, and the
PredictionString writer and validator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.detection.boxes import pack
from pipeline.detection.iou_map import THRESHOLDS, image_score, iou_map
from pipeline.detection.prediction_string import prediction_string, validate, write
from pipeline.submission import SubmissionError

WHEAT, RSNA = THRESHOLDS["iou_map"], THRESHOLDS["iou_map40"]


def rows(*images: list[tuple[float, ...]]) -> np.ndarray:
    """Packed boxes, one image per argument: each box (x, y, w, h[, conf])."""
    boxes = [np.array([b[:4] for b in im], float).reshape(-1, 4) for im in images]
    scores = [np.array([b[4] if len(b) > 4 else 1.0 for b in im], float) for im in images]
    return pack(boxes, scores, [np.zeros(len(im), np.int64) for im in images])


def test_the_thresholds_are_kaggles() -> None:
    assert WHEAT == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)
    assert RSNA == (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def test_one_image_by_hand() -> None:
    a = (0, 0, 10, 10)
    assert image_score(np.array([a]), np.array([a]), np.array([0.9]), WHEAT) == 1.0
    # IoU 0.62: a hit at 0.5, 0.55 and 0.6 (TP 1), else a miss (FP 1 + FN 1: 0 / 2)
    assert image_score(np.array([a]), np.array([[0, 0, 10, 6.2]]), np.array([0.9]), WHEAT) == pytest.approx(3 / 6)
    assert image_score(np.array([a]), np.array([[0, 0, 10, 6.2]]), np.array([0.9]), RSNA) == pytest.approx(5 / 8)
    # two truths, three predictions: A exact (0.9), a false positive (0.8), B at IoU 0.72 (0.3)
    truth = np.array([a, (20, 20, 10, 10)])
    pred = np.array([a, (50, 50, 5, 5), (20, 20, 10, 7.2)])
    got = image_score(truth, pred, np.array([0.9, 0.8, 0.3]), WHEAT)
    assert got == pytest.approx((5 * 2 / 3 + 1 / 4) / 6)  # TP 2 FP 1 FN 0 up to 0.7; TP 1 FP 2 FN 1 at 0.75


def test_the_most_confident_prediction_matches_first() -> None:
    # truths A and B (IoU 0.667 with each other); p1 lies on A (IoU 0.852) and near B (0.786), p2 is A itself
    truth = np.array([(0, 0, 10, 10), (2, 0, 10, 10)])
    pred = np.array([(0.8, 0, 10, 10), (0, 0, 10, 10)])
    # p1 first takes A; p2 is left B at IoU 0.667: a hit up to 0.65 (2 / 2), a miss at 0.7 and 0.75 (1 / 3)
    assert image_score(truth, pred, np.array([0.9, 0.2]), WHEAT) == pytest.approx((4 + 2 / 3) / 6)
    # p2 first takes A; p1 takes B at 0.786, a hit at every threshold
    assert image_score(truth, pred, np.array([0.2, 0.9]), WHEAT) == 1.0


def test_empty_images_score_as_kaggle_scores_them() -> None:
    a = (0, 0, 10, 10, 0.9)
    truth = rows([a], [], [], [a])
    pred = rows([a], [], [(5, 5, 3, 3, 0.1)], [])
    # 1 (exact), left out (no box, no prediction), 0 (a false positive), 0 (a box missed): mean of three
    assert iou_map(truth, pred) == pytest.approx(1 / 3)
    assert image_score(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0), WHEAT) is None
    assert np.isnan(iou_map(rows([], []), rows([], [])))  # no image counts: no score
    assert iou_map(truth, rows([], [], [], [])) == 0.0  # predicting no box scores 0 where any image has one


def test_prediction_strings_are_clipped_ordered_and_formatted() -> None:
    boxes = np.array([(-5, 2, 20, 10), (10.04, 20, 60, 50), (70, 70, 5, 5)], float)
    cell = prediction_string(boxes, np.array([0.3, 1.3, 0.9]), 64, 64)
    # the most confident first, its confidence cut to 1, its box to the image; the box outside the image dropped
    assert cell == "1.0000 10 20 54 44 0.3000 0 2 15 10"
    assert prediction_string(np.zeros((0, 4)), np.zeros(0), 64, 64) == ""


def _sample(tmp_path: Path) -> Path:
    sample = tmp_path / "sample_submission.csv"
    sample.write_text("image_id,PredictionString\nb,1.0 0 0 50 50\na,1.0 0 0 50 50\n")
    return sample


def test_written_submission_validates_and_bad_cells_are_named(tmp_path: Path) -> None:
    sample = _sample(tmp_path)
    sizes = {"a": (64.0, 64.0), "b": (64.0, 32.0)}
    pred = rows([(1, 1, 70, 70, 0.5)], [])
    out = tmp_path / "submission.csv"
    write(out, ["b", "a"], pred, np.array([sizes["b"], sizes["a"]]), ("image_id", "PredictionString"))
    assert out.read_text() == "image_id,PredictionString\nb,0.5000 1 1 63 31\na,\n"
    assert validate(out, sample, sizes) == 1
    bad = {
        "b,0.5 1 1 10\na,\n": "line 2 \\(image_id b\\), column PredictionString: 4 numbers",
        "b,1.5 1 1 10 10\na,\n": "confidence 1.5 is not in",
        "b,0.5 1 1 10 40\na,\n": "reaches past the 64x32 image",
        "b,0.5 1 x 10 10\na,\n": "'x' is no number",
        "a,\nb,\n": "not in the sample submission's order",
    }
    for body, message in bad.items():
        out.write_text("image_id,PredictionString\n" + body)
        with pytest.raises(SubmissionError, match=message):
            validate(out, sample, sizes)
    # the header is checked as every submission's is: the column that is wrong named, with its right spelling
    wrong = {
        "image_id,predictionstring\n": "column 'predictionstring' should be 'PredictionString'",
        "PredictionString,image_id\n": "columns are in a different order: column 1 is 'PredictionString'",
    }
    for head, message in wrong.items():
        out.write_text(head + "b,\na,\n")
        with pytest.raises(SubmissionError, match=message):
            validate(out, sample, sizes)
