"""A minimal image-classification competition: copy this file to competitions/<name>/__init__.py.

Kaggle's files: train.csv (image,label), sample_submission.csv (image,label) and the images; scored by accuracy; a
pretrained timm backbone fine-tuned on each fold with the policy of docs/finetuning.md. `python -m pipeline run
competitions/<name> --sample` runs it end to end on the made-up images of sample(). A full example with two
backbones, a CPU preset and a search space: competitions/leaves.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import Metric
from pipeline.vision.backbones import classifiers
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.recipe import SCRATCH_SAMPLE, FineTuneRecipe

KAGGLE_SLUG = "my-image-competition"  # the slug in the competition's URL
METRIC = Metric("accuracy", greater_is_better=True)
FOLDS = "stratified"
EXPECTED_FILES = ["train.csv", "sample_submission.csv", "images"]
# reads the CSVs and checks every image, scores, writes and validates the label submission (errors name file and row)
FILES = CsvImages("train.csv", id_column="image", label_column="label")
load, score, write_submission, validate = FILES.load, FILES.score, FILES.write_submission, FILES.validate


@dataclass(frozen=True)
class Config(FineTuneRecipe):  # every training knob of pipeline/vision/recipe.py; `--set lr=1e-4` changes one
    arch: str = "convnext_tiny.fb_in22k_ft_in1k"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-4


# what --sample runs with: a tiny timm test network from random init (no download) at 32 px
PRESETS = {"sample": {**SCRATCH_SAMPLE, "arch": "test_resnet", "epochs": 20}}


def models(cfg: Config) -> dict:
    return classifiers(cfg)  # one ImageClassifier per arch, standard augmentation (pipeline/vision/augment.py)


def sample(dest: Path) -> None:
    """60 training and 20 test 64 px images of three made-up classes, in Kaggle's layout."""
    import cv2

    from pipeline.vision.synthetic import make_image

    rng, classes, labels = np.random.default_rng(0), ["cat", "dog", "fox"], np.arange(80) % 3
    names = [f"images/{i}.jpg" for i in range(80)]
    (Path(dest) / "images").mkdir(parents=True, exist_ok=True)
    for name, k in zip(names, labels, strict=True):
        cv2.imwrite(str(Path(dest) / name), cv2.cvtColor(make_image(int(k), 3, 64, rng), cv2.COLOR_RGB2BGR))
    train = pd.DataFrame({"image": names[:60], "label": [classes[k] for k in labels[:60]]})
    train.to_csv(Path(dest) / "train.csv", index=False)
    pd.DataFrame({"image": names[60:], "label": "cat"}).to_csv(Path(dest) / "sample_submission.csv", index=False)
