"""PASCAL VOC mAP over classes (VinBigData's metric, pipeline/detection/voc_map.py) against a hand-worked example, and
the class-first PredictionString (prediction_string.Layout) written and validated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.detection.boxes import pack
from pipeline.detection.prediction_string import Layout, validate, write
from pipeline.detection.voc_map import average_precision, class_aps, voc_map, with_nothing
from pipeline.submission import SubmissionError


def rows(*images: list[tuple[int, float, tuple[float, float, float, float]]]) -> np.ndarray:
    """Packed rows from each image's (class, score, xywh box) list."""
    return pack(
        [np.array([b for _, _, b in im], float).reshape(-1, 4) for im in images],
        [np.array([s for _, s, _ in im], float) for im in images],
        [np.array([c for c, _, _ in im], np.int64) for im in images],
    )


# Four images. Class 0: a box on image 1 and one on image 2. Class 1: one box on image 2. Images 3 and 4: nothing.
TRUTH = rows(
    [(0, 1.0, (0, 0, 10, 10))],
    [(0, 1.0, (20, 20, 10, 10)), (1, 1.0, (0, 0, 20, 20))],
    [],
    [],
)
# Class 0, ranked: 0.9 on image 1 (the box: TP), 0.8 on image 1 (the same box again: FP), 0.7 on image 2 (far from
# any box: FP), 0.6 on image 2 (IoU 81/119 = 0.68 with its box: TP), 0.3 on image 3 (no box there: FP). Precision
# 1, 1/2, 1/3, 1/2, 2/5 at recall 1/2, 1/2, 1/2, 1, 1: made non-increasing, 1 up to recall 1/2 and 1/2 after, so
# AP = 1/2 * 1 + 1/2 * 1/2 = 0.75. Class 1: 0.95 on image 1 (no class-1 box there: FP), 0.5 on image 2 (IoU 200/400 =
# 0.5 with its box: TP above 0.4, FP at 0.5, which IoU must exceed): AP 1 * 1/2 = 0.5 at 0.4, 0 at 0.5. Class 2 has
# no ground truth: left out. mAP@0.4 = (0.75 + 0.5) / 2 = 0.625; mAP@0.5 = (0.75 + 0) / 2 = 0.375.
PRED = rows(
    [(0, 0.9, (0, 0, 10, 10)), (0, 0.8, (0, 0, 10, 10)), (1, 0.95, (0, 0, 20, 20))],
    [(0, 0.7, (50, 50, 10, 10)), (0, 0.6, (21, 21, 10, 10)), (1, 0.5, (0, 0, 20, 10)), (2, 0.99, (0, 0, 5, 5))],
    [(0, 0.3, (5, 5, 10, 10))],
    [],
)


def test_voc_map_matches_the_hand_worked_example() -> None:
    assert class_aps(TRUTH, PRED, 0.4) == pytest.approx({0: 0.75, 1: 0.5})
    assert voc_map(TRUTH, PRED, 0.4) == pytest.approx(0.625)
    assert voc_map(TRUTH, PRED, 0.5) == pytest.approx(0.375)
    # the nothing class (index 3): images 3 and 4 have no box; scored 1 - the highest box confidence of each image:
    # image 4 1.0 (TP), image 3 0.7 (TP), image 2 0.01, image 1 0.05 (both FP): AP 1; the mean over three classes
    truth, pred = with_nothing(TRUTH, PRED, 3)
    assert class_aps(truth, pred, 0.4) == pytest.approx({0: 0.75, 1: 0.5, 3: 1.0})
    assert voc_map(truth, pred, 0.4) == pytest.approx((0.75 + 0.5 + 1.0) / 3)


def test_voc_map_edges() -> None:
    assert average_precision(np.array([True, True]), 2) == 1.0  # every box found, nothing wrong first
    assert average_precision(np.array([False, True]), 1) == 0.5
    assert average_precision(np.zeros(0, bool), 3) == 0.0  # a class with boxes and no prediction
    assert np.isnan(voc_map(rows([], []), rows([(0, 0.5, (0, 0, 1, 1))], [])))  # no ground truth: no score
    assert voc_map(TRUTH, rows([], [], [], [])) == 0.0


def test_class_first_cells_are_written_and_validated(tmp_path: Path) -> None:
    layout = Layout(("0", "3"), xyxy=True, nothing="14")
    sample = tmp_path / "sample.csv"
    sample.write_text("image_id,PredictionString\na,14 1 0 0 1 1\nb,14 1 0 0 1 1\n")
    pred = rows([(1, 0.75, (10, 20, 30, 40)), (0, 0.2, (90, 90, 20, 20))], [])
    out = tmp_path / "sub.csv"
    write(out, ["a", "b"], pred, np.array([[100, 100], [50, 60]]), ("image_id", "PredictionString"), layout)
    # the box past the border clipped, the nothing class at 1 - 0.75, highest confidence first; xyxy in pixels
    assert out.read_text().splitlines() == [
        "image_id,PredictionString",
        "a,3 0.7500 10 20 40 60 14 0.2500 0 0 1 1 0 0.2000 90 90 100 100",
        "b,14 1.0000 0 0 1 1",
    ]
    sizes = {"a": (100.0, 100.0), "b": (50.0, 60.0)}
    assert validate(out, sample, sizes, layout) == 4
    out.write_text("image_id,PredictionString\na,7 0.5 0 0 10 10\nb,14 1 0 0 1 1\n")
    with pytest.raises(
        SubmissionError, match=r"sub.csv line 2 \(image_id a\), column PredictionString: box 1 .*class '7'"
    ):
        validate(out, sample, sizes, layout)
    out.write_text("image_id,PredictionString\na,3 0.5 10 10 5 20\nb,\n")
    with pytest.raises(SubmissionError, match=r"line 2 .*box 1 \(3 0.5 10 10 5 20\) has no area"):
        validate(out, sample, sizes, layout)
    out.write_text("image_id,PredictionString\na,0.5 0 0 10 10\nb,\n")
    with pytest.raises(SubmissionError, match=r"5 numbers, not groups of six \(class conf x_min y_min x_max y_max\)"):
        validate(out, sample, sizes, layout)


def test_csv_boxes_refuses_classes_it_cannot_score_or_write() -> None:
    from pipeline.detection.csv_boxes import CsvBoxes

    corners = {"bbox_column": None, "xyxy_columns": ("x_min", "y_min", "x_max", "y_max"), "class_column": "class_name"}
    two = {"A": "0", "B": "1"}
    files = CsvBoxes("train.csv", "image_id", "train/{}.png", "test/{}.png", metric="voc_map40", classes=two, **corners)
    assert files.class_names == ("A", "B") and files.layout == Layout(("0", "1"), xyxy=False, nothing=None)
    assert hash(files) == hash(
        CsvBoxes(
            "train.csv", "image_id", "train/{}.png", "test/{}.png", metric="voc_map40", classes=dict(two), **corners
        )
    )
    for bad, match in (
        ({"metric": "iou_map", "classes": two}, "iou_map scores boxes of one class"),
        ({"metric": "voc_map", "classes": {"A": "0", "B": "0"}}, "none twice"),
        ({"metric": "voc_map", "classes": two, "nothing_class": "1"}, "none twice"),
        ({"metric": "voc_map", "classes": {"A": "a b"}}, "each one word"),
    ):
        with pytest.raises(ValueError, match=match):
            CsvBoxes("train.csv", "image_id", "train/{}.png", "test/{}.png", **bad, **corners)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing_class .* needs classes"):
        CsvBoxes("train.csv", "image_id", "train/{}.png", "test/{}.png", nothing_class="14")
