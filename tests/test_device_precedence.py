"""Inside a run the runner's device wins over a network estimator's own `device` (which is for use outside a run):
under torchrun the runner gives each rank its own GPU, and a Config that names a device must not put every rank on
one. The image classifier, the detector and the segmenter agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.contract import FitContext
from pipeline.detection.estimator import Detector
from pipeline.segmentation.estimator import Segmenter
from pipeline.vision import ImageClassifier


@pytest.mark.parametrize("cls", [ImageClassifier, Detector, Segmenter])
def test_the_runners_device_wins_over_the_estimators(cls: type, tmp_path: Path) -> None:
    est = cls(device="cuda:3")  # a GPU this machine need not have: the run's device is used, never this one
    rt = est._runtime(FitContext(workdir=tmp_path, device="cpu"))
    assert rt.device == "cpu"
    assert cls(device=None)._runtime(FitContext(workdir=tmp_path, device="cpu")).device == "cpu"
