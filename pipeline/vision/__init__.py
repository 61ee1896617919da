"""Image classification: a timm + albumentations estimator with the scikit-learn contract and its trainer."""

from pipeline.vision.estimator import ImageClassifier

__all__ = ["ImageClassifier"]
