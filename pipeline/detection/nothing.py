"""The "nothing here" class from an image classifier (VinBigData's winners' "finding / no finding" model): a detector
and a binary image classifier fitted on the same rows, the classifier's p(no finding) the confidence of the image's
nothing box, and its p(finding) filtering the boxes (the "2-class filter").

The metric scores the nothing class as one more class (voc_map.with_nothing). Without a classifier, its confidence is
one less the image's highest box confidence (voc_map.nothing_score). With Config.nothing_classifier, `detectors`
(estimator.py) wraps each Detector in a NothingDetector: one estimator to the runner, so the classifier is fitted on
each fold's training rows as the detector is, its out-of-fold probabilities are what the CV scores, and the fold
models' test nothing boxes are fused by WBF with the rest (a box every fold predicts: the mean of their confidences).
(A second model in the competition's list instead would give the runner probabilities beside boxes: each hook after
the models, merge_folds, the blend, the scores of one model, and `predict`, would have to tell the two apart.)

The classifier is the project's image classifier (pipeline/vision ImageClassifier, its fine-tuning recipe and
transforms), its arch, size and epochs the Config's nothing_* fields; the device and the rest of the engineering come
from the runner's context, as the detector's do. Its label: whether the image holds a box (crowd regions aside).

The filter (fixed, not fitted: a threshold fitted on the out-of-fold probabilities would be scored on the rows it was
fitted to, and the CV would flatter it): an image whose p(finding) is below Config.nothing_drop keeps only its
nothing box (0.05: the public 2-class filter's p(no finding) 0.95, which its author says was chosen by hand); with
Config.nothing_weight, every other box's confidence is multiplied by p(finding).
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from pipeline.detection.boxes import CROWD, SLOT, pack, unpack_all
from pipeline.detection.voc_map import NOTHING_BOX

# Under a time limit, the share of a fold's time the detector trains to; the classifier fitted after it has the rest.
# Not measured: the detector scores every class, the classifier one, and a detector of 8 epochs at 1024 px costs
# several times the classifier's 8 epochs at 384 px; without this the detector filled the fit's time alone.
DETECTOR_SHARE = 0.75


def findings(y: np.ndarray) -> np.ndarray:
    """1 for each image of packed ground truth `y` that holds a box (crowd regions aside), 0 for one with none."""
    return np.array([int((s != CROWD).any()) for _, s, _ in unpack_all(y)], np.int64)


def with_classifier(
    pred: np.ndarray, p_finding: np.ndarray, index: int, drop: float = 0.0, weight: bool = False
) -> np.ndarray:
    """Packed boxes with each image's nothing box (class `index`, voc_map.NOTHING_BOX) at 1 - p(finding), replacing
    any there; the image's other boxes dropped where p(finding) < `drop`, else multiplied by it with `weight`."""
    pred = np.atleast_2d(np.asarray(pred, float))
    p_finding = np.asarray(p_finding, float).reshape(-1)
    if len(p_finding) != len(pred):
        raise ValueError(f"with_classifier: {len(p_finding)} probabilities for {len(pred)} images.")
    boxes, scores, labels = [], [], []
    for (b, s, c), p in zip(unpack_all(pred), p_finding, strict=True):
        keep = (c != index) & (p >= drop)
        b, s, c = b[keep], s[keep] * (p if weight else 1.0), c[keep]
        boxes.append(np.vstack([b, [NOTHING_BOX]]))
        scores.append(np.append(s, 1.0 - p))
        labels.append(np.append(c, index))
    return pack(boxes, scores, labels, pred.shape[1] // SLOT + 1)


def p_finding(pred: np.ndarray, index: int) -> np.ndarray:
    """Each image's p(finding) as its nothing box (class `index`) says: one less its confidence (NaN: no such box)."""
    out = []
    for _, s, c in unpack_all(pred):
        found = s[c == index]
        out.append(1.0 - float(found[0]) if len(found) else np.nan)
    return np.array(out)


def nothing_classifier(cfg: Any) -> Any:
    """The Config's "finding / no finding" ImageClassifier: nothing_arch at nothing_image_size for nothing_epochs,
    the fine-tuning recipe where the detector starts from pretrained weights (Config.pretrained not "none"), else the
    from-scratch one of the image `fast` presets; crops of the whole image (a smaller one could cut the finding out of
    an image labelled with one)."""
    from pipeline.vision.augment import standard_transforms
    from pipeline.vision.estimator import ImageClassifier
    from pipeline.vision.recipe import SCRATCH_SAMPLE, FineTuneRecipe

    pretrained = str(getattr(cfg, "pretrained", "none")) != "none"
    scratch = {k: v for k, v in SCRATCH_SAMPLE.items() if k not in ("image_size", "folds")}
    recipe = FineTuneRecipe(**({} if pretrained else scratch))
    recipe = dataclasses.replace(
        recipe,
        pretrained=pretrained,
        image_size=int(cfg.nothing_image_size),
        epochs=int(cfg.nothing_epochs),
        batch_size=int(cfg.batch_size),
        crop_scale=1.0,
    )
    return ImageClassifier.from_config(
        recipe,
        arch=cfg.nothing_arch,
        num_classes=2,
        train_transform=standard_transforms(recipe, True),
        eval_transform=standard_transforms(recipe, False),
    )


class NothingDetector(BaseEstimator):
    """A Detector and a binary image classifier fitted on the same images; predict gives the detector's packed boxes
    filtered by the classifier's p(finding) and each image's nothing box (class `nothing_index`) at p(no finding)
    (with_classifier). `drop`, `weight`: the filter (the module docstring)."""

    def __init__(
        self,
        detector: Any = None,
        classifier: Any = None,
        nothing_index: int = 1,
        drop: float = 0.0,
        weight: bool = False,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.nothing_index = nothing_index
        self.drop = drop
        self.weight = weight

    def check_params(self) -> None:
        """The filter's threshold is a probability (the runner checks it before any fold)."""
        if not 0.0 <= float(self.drop) <= 1.0:
            raise ValueError(f"nothing_drop {self.drop}: a p(finding) in [0, 1] (0: no image's boxes dropped).")

    def weighted_parts(self) -> list[Any]:
        """The estimators whose pretrained weights the run needs (pipeline/weights.py)."""
        return [self.detector, self.classifier]

    def fit(self, X: Any, y: np.ndarray, context: Any = None) -> NothingDetector:
        """The detector on images X and packed boxes y, then the classifier on whether each image holds a box; each
        with the runner's context (the classifier's checkpoints in a folder of their own; under a time limit the
        detector trains to DETECTOR_SHARE of the fit's time, the classifier to the rest)."""
        self.check_params()
        y = np.asarray(y, float)
        self.detector_ = clone(self.detector).fit(X, y, context=_detector_context(context))
        self.classifier_ = clone(self.classifier)
        labels = findings(y)
        if _takes_context(self.classifier_):
            self.classifier_.fit(X, labels, context=_classifier_context(context))
        else:
            self.classifier_.fit(X, labels)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The detector's packed boxes with the classifier's nothing box and filter (with_classifier)."""
        boxes = self.detector_.predict(X)
        p = np.asarray(self.classifier_.predict_proba(X), float)[:, 1]
        return with_classifier(boxes, p, self.nothing_index, float(self.drop), bool(self.weight))

    def save_fitted(self, path: str | Path) -> None:
        """Both fitted models in one file, each as its class and blob (an estimator without a blob of its own kept
        whole)."""
        import torch

        own = {k: getattr(self, k) for k in ("nothing_index", "drop", "weight")}
        torch.save({"params": own, "detector": _saved(self.detector_), "classifier": _saved(self.classifier_)}, path)

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> NothingDetector:
        """The fitted pair saved by save_fitted, on `device` (default: each model's own, else CUDA when available)."""
        import torch

        blob = torch.load(path, map_location="cpu", weights_only=False)
        est = cls(**blob["params"])
        est.detector_, est.classifier_ = _loaded(blob["detector"], device), _loaded(blob["classifier"], device)
        return est


def _saved(est: Any) -> Any:
    """A fitted model as save_fitted keeps it: ("module:Class", its fitted_blob()), or the estimator itself where it
    has no blob. (The class is named, not imported: the Detector's module imports this one.)"""
    make = getattr(est, "fitted_blob", None)
    kind = type(est)
    return (f"{kind.__module__}:{kind.__qualname__}", make()) if callable(make) else est


def _loaded(saved: Any, device: str | None) -> Any:
    """The fitted model `_saved` kept, on `device`."""
    if not isinstance(saved, tuple):
        return saved
    module, _, name = saved[0].partition(":")
    return getattr(importlib.import_module(module), name).from_blob(saved[1], device)


def _takes_context(est: Any) -> bool:
    from pipeline.fitting import accepts_context

    return accepts_context(est)


def _detector_context(context: Any) -> Any:
    """The runner's context for the detector: under a time limit, a deadline DETECTOR_SHARE of the way from now to
    the fit's, and asked again as its training starts, the same share of what the runner then gives the fit; the
    classifier, fitted after it, has the rest (its context keeps the fit's own deadline)."""
    if context is None or context.deadline is None:
        return context

    def share(deadline: float | None) -> float | None:
        now = time.monotonic()
        return None if deadline is None else now + DETECTOR_SHARE * max(0.0, deadline - now)

    asked = context.training_deadline
    again = None if asked is None else (lambda keep: share(asked(keep)))
    return dataclasses.replace(context, deadline=share(context.deadline), training_deadline=again)


def _classifier_context(context: Any) -> Any:
    """The runner's context for the classifier: its own checkpoint folder, validation labels for its eval set, no
    competition metric (the detector's), two classes."""
    if context is None:
        return None
    eval_set = context.eval_set
    if eval_set is not None:
        eval_set = (eval_set[0], findings(np.asarray(eval_set[1], float)))
    workdir = None if context.workdir is None else Path(context.workdir) / "nothing"
    return dataclasses.replace(
        context, workdir=workdir, eval_set=eval_set, score=None, metric=None, n_classes=2, report=None
    )
