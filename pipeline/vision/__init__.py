"""Image networks: timm + albumentations estimators with the scikit-learn contract and their trainer; one class per
image (ImageClassifier), labels per image (ImageMultiLabel), values per image (ImageRegressor)."""

from pipeline.vision.estimator import ImageClassifier, ImageNetwork
from pipeline.vision.multioutput import ImageMultiLabel, ImageRegressor

__all__ = ["ImageClassifier", "ImageMultiLabel", "ImageNetwork", "ImageRegressor"]
