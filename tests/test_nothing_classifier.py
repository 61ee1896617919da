"""The "nothing here" class from a "finding / no finding" image classifier (pipeline/detection/nothing.py): its
probability is the nothing box's confidence, the 2-class filter drops the boxes of an image it calls normal, the CV
scores the classifier's out-of-fold probabilities, and `new` turns it on for a VinBigData-style download whose fast
run writes a submission that validates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from box_downloads import vinbig_download
from sklearn.base import BaseEstimator

import pipeline.detection.nothing as nothing
from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.detection.boxes import pack, unpack
from pipeline.detection.voc_map import with_nothing

# the images' own 64 px, no TTA, 2 epochs of the detector and of the classifier: seconds a fold on two CPU cores
TINY = ("--preset", "fast", "--set", "image_size=64", "--set", "tta=false", "--set", "epochs=2")
TINY += ("--set", "nothing_epochs=2")


class Remembers(BaseEstimator):
    """A classifier that knows only the images it was fitted on: p(finding) their label, 0.5 for any other. Its
    out-of-fold probabilities are 0.5 exactly when no fold model saw its validation images."""

    def fit(self, X: Any, y: np.ndarray) -> Remembers:
        self.seen_ = dict(zip(map(str, X), map(int, y), strict=True))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.array([self.seen_.get(str(x), 0.5) for x in X], float)
        return np.column_stack([1 - p, p])


class Says(BaseEstimator):
    """A classifier whose p(finding) is given per image, by its index in X."""

    def __init__(self, p: tuple[float, ...] = ()) -> None:
        self.p = p

    def fit(self, X: Any, y: np.ndarray) -> Says:
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.asarray(self.p, float)
        return np.column_stack([1 - p, p])


class Boxes(BaseEstimator):
    """A detector whose packed boxes are given."""

    def __init__(self, boxes: Any = None) -> None:
        self.boxes = boxes

    def fit(self, X: Any, y: np.ndarray, context: Any = None) -> Boxes:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.boxes, float)


def _cells(path: Path) -> list[list[list[str]]]:
    """Each submission cell's groups of six tokens."""
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)["PredictionString"]
    return [[c.split()[k : k + 6] for k in range(0, len(c.split()), 6)] for c in cells]


def _generated(tmp_path: Path, name: str, empty: float | None = None) -> tuple[Path, Path]:
    data = vinbig_download(tmp_path / "vinbigdata-chest-xray-abnormalities-detection", 24, 6, empty=empty)
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), "--metric", "voc_map40"]) == 0
    return tmp_path / "comps" / name, data


def _run(comp: Path, data: Path, *extra: str) -> Path:
    runs = comp.parent.parent / "runs" / comp.name
    before = set(runs.glob("*"))
    assert main(["run", str(comp), "--data", str(data), *TINY, *extra, "--quiet"]) == 0
    (run_dir,) = set(runs.glob("*")) - before
    return run_dir


def test_the_filter_keeps_only_the_nothing_box_of_an_image_the_classifier_calls_normal() -> None:
    two = pack(
        [np.array([[1, 1, 10, 10], [20, 20, 8, 8]]), np.array([[5, 5, 9, 9]])],
        [np.array([0.9, 0.6]), np.array([0.8])],
        [np.array([0, 2]), np.array([1])],
        4,
    )
    says = Says((0.01, 0.9))  # image 0 normal (p(finding) below nothing_drop 0.05), image 1 not
    for weight, kept in ((False, [0.8]), (True, [0.8 * 0.9])):
        est = nothing.NothingDetector(Boxes(two), says, nothing_index=3, drop=0.05, weight=weight).fit([0, 1], two)
        rows = [unpack(r) for r in est.predict(["a.png", "b.png"])]
        (b0, s0, c0), (b1, s1, c1) = rows
        assert c0.tolist() == [3] and s0 == pytest.approx([0.99]) and b0.tolist() == [[0, 0, 1, 1]]
        assert sorted(c1.tolist()) == [1, 3]
        assert s1[c1 == 1] == pytest.approx(kept) and s1[c1 == 3] == pytest.approx([0.1])
    # nothing_drop 0: no image's boxes dropped, the nothing box at p(no finding) all the same
    est = nothing.NothingDetector(Boxes(two), says, nothing_index=3).fit([0, 1], two)
    (_, s0, c0), _ = [unpack(r) for r in est.predict(["a.png", "b.png"])]
    assert sorted(c0.tolist()) == [0, 2, 3] and s0[c0 == 3] == pytest.approx([0.99])
    # the metric scores the classifier's nothing box as it is, adding none of its own
    _, scored = with_nothing(two, est.predict(["a.png", "b.png"]), 3)
    assert [(c == 3).sum() for _, _, c in map(unpack, scored)] == [1, 1]


def test_the_cv_scores_the_classifiers_out_of_fold_probability_as_the_nothing_confidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    comp, data = _generated(tmp_path, "vin_nothing_oof")
    module = load_competition(str(comp))
    y = module.load(module.Config(), data).y
    plain = _run(comp, data, "--set", "nothing_classifier=false", "--folds", "2", "--set", "holdout=0")
    monkeypatch.setattr(nothing, "nothing_classifier", lambda cfg: Remembers())
    remembered = _run(comp, data, "--folds", "2", "--set", "holdout=0", "--set", "nothing_drop=0")
    oof = np.load(remembered / "oof" / "_blend.npy")
    # every image's nothing box at the 0.5 of a classifier that never saw it: a fold model that had seen its
    # validation images (a leak) would say 0 or 1
    assert nothing.p_finding(oof, 3).tolist() == [0.5] * len(y)
    summary = json.loads((remembered / "summary.json").read_text())
    assert summary["cv"] == pytest.approx(module.score(y, oof))
    # the same detector's boxes as the run without the classifier, whose nothing box is one less the highest
    without = [unpack(r) for r in np.load(plain / "oof" / "_blend.npy")]
    for (b, s, c), (b2, s2, c2) in zip(without, map(unpack, oof), strict=True):
        assert np.allclose(b, b2[c2 != 3]) and np.allclose(s, s2[c2 != 3]) and (c == c2[c2 != 3]).all()
    # in the submission too: class 14 at the classifier's 0.5 on every test image (it saw none), where the run
    # without it writes one less the image's highest box confidence
    for cell, cell2 in zip(_cells(plain / "submission.csv"), _cells(remembered / "submission.csv"), strict=True):
        confs = [float(g[1]) for g in cell if g[0] != "14"]
        assert [g[1] for g in cell if g[0] == "14"] == [f"{1 - max(confs, default=0):.4f}"]
        assert [g[1] for g in cell2 if g[0] == "14"] == ["0.5000"]
        assert sorted(g for g in cell if g[0] != "14") == sorted(g for g in cell2 if g[0] != "14")


def test_new_turns_the_classifier_on_and_a_fast_run_writes_a_submission_that_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    comp, data = _generated(tmp_path, "vin_nothing_fast", empty=0.7)
    text = (comp / "__init__.py").read_text()
    assert "    nothing_classifier: bool = True\n" in text
    assert "return detectors(cfg, FILES.class_names, FILES.nothing_class)" in text
    module = load_competition(str(comp))
    assert module.PRESETS["fast"]["nothing_arch"] == "test_resnet"
    run_dir = _run(comp, data)
    # the classifier trained beside the detector, its checkpoints apart, both kept in the fold's model file
    (fold,) = (run_dir / "checkpoints").glob("*/fold0")
    assert (fold / "nothing").is_dir()
    (saved,) = (run_dir / "models").glob("*/fold0.pt")
    fitted = nothing.NothingDetector.load_fitted(saved, "cpu")
    assert type(fitted.classifier_).__name__ == "ImageClassifier"
    groups = [g for cell in _cells(run_dir / "submission.csv") for g in cell]
    assert module.validate(module.load_test(module.Config(), data), run_dir / "submission.csv") == len(groups)
    # class 14 once on every image, at the classifier's p(no finding)
    test = module.load_test(module.Config(), data)
    p = fitted.classifier_.predict_proba(test.X_test)[:, 0]
    written = [[float(g[1]) for g in cell if g[0] == "14"] for cell in _cells(run_dir / "submission.csv")]
    assert np.allclose([w[0] for w in written], p, atol=1e-4) and all(len(w) == 1 for w in written)
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    assert (tmp_path / "pred" / "submission.csv").read_text() == (run_dir / "submission.csv").read_text()


class Timed(BaseEstimator):
    """A model that notes the deadlines its fit is given: the context's, and the one it asks for as training starts."""

    def fit(self, X: Any, y: np.ndarray, context: Any = None) -> Timed:
        asked = context.training_deadline
        self.deadlines_ = (context.deadline, asked(0.0) if asked is not None else None)
        return self


def test_under_a_time_limit_the_detector_leaves_the_classifier_its_share_of_the_fit() -> None:
    import time

    from pipeline.contract import FitContext

    start = time.monotonic()
    context = FitContext(None, deadline=start + 100.0, training_deadline=lambda keep: time.monotonic() + 80.0)
    y = pack(
        [np.array([[1.0, 1.0, 4.0, 4.0]]), np.zeros((0, 4))], [np.ones(1), np.zeros(0)], [np.zeros(1), np.zeros(0)], 4
    )
    est = nothing.NothingDetector(Timed(), Timed(), 1).fit(["a", "b"], y, context=context)
    share = nothing.DETECTOR_SHARE
    detector, classifier = est.detector_.deadlines_, est.classifier_.deadlines_
    assert abs(detector[0] - (start + share * 100.0)) < 1.0  # not the fit's whole time: the classifier comes after
    assert abs(detector[1] - (start + share * 80.0)) < 1.0  # re-shared as its training starts, the same share
    assert classifier[0] == start + 100.0  # the rest, to the fit's own deadline
    assert abs(classifier[1] - (start + 80.0)) < 1.0


def test_the_classifier_is_refused_for_a_competition_without_a_nothing_class() -> None:
    from pipeline.contract import ContractError
    from pipeline.detection.estimator import detectors
    from pipeline.detection.recipe import DetectionRecipe

    @dataclasses.dataclass(frozen=True)
    class Config(DetectionRecipe):
        models: tuple[str, ...] = ("fasterrcnn_tiny",)
        nothing_classifier: bool = True

    with pytest.raises(ContractError, match="nothing_classifier: this competition has no nothing_class"):
        detectors(Config(), ("wheat",))
    (est,) = detectors(Config(), ("a", "b"), "14").values()
    assert isinstance(est, nothing.NothingDetector) and est.nothing_index == 2 and est.drop == 0.05
    assert type(est.classifier).__name__ == "ImageClassifier" and est.classifier.num_classes == 2
    # `weights` lists what both need
    from pipeline.weights import needs_of

    assert [n.arch for n in needs_of({"m": est})] == ["fasterrcnn_tiny", "convnext_tiny.fb_in22k_ft_in1k"]
