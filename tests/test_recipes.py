"""Recipes in one place: ImageClassifier/Detector.from_config read a competition's Config by field name; cowboy
folds follow --seed; the fusion IoU and min_score come from the Config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import competitions.cowboy_outfits as cb
import competitions.dog_breeds as dog
from pipeline.config import apply_overrides
from pipeline.detection.boxes import pack, unpack
from pipeline.detection.estimator import Detector
from pipeline.folds import make_folds
from pipeline.vision import ImageClassifier
from pipeline.vision.recipe import ImageRecipe


def test_from_config_passes_every_declared_knob_and_overrides_win() -> None:
    cfg = apply_overrides(dog.Config, {"lr": 3e-3, "grad_clip": 0.0, "drop_path": 0.1, "num_classes": 0})
    est = ImageClassifier.from_config(cfg, arch="resnet18", train_transform="t")
    p = est.get_params()
    assert (p["lr"], p["freeze_epochs"], p["layer_decay"], p["tta"]) == (3e-3, 1, 0.8, ("hflip",))
    assert p["grad_clip"] is None and p["num_classes"] is None  # 0 means off in a Config, None in the estimator
    assert p["model_kwargs"] == {"drop_path_rate": 0.1}
    assert (p["arch"], p["train_transform"]) == ("resnet18", "t")
    assert p["momentum"] == ImageClassifier().momentum  # not a dog_breeds field: the estimator's default


def test_a_new_config_field_reaches_the_trainer_without_touching_models() -> None:
    @dataclasses.dataclass(frozen=True)
    class Config(ImageRecipe):
        momentum: float = 0.8
        device: str = "cuda"  # engineering: never taken from a Config

    est = ImageClassifier.from_config(Config())
    assert est._train_config(seed=0).momentum == 0.8
    assert est.device is None
    assert ImageClassifier.from_config(ImageRecipe())._train_config(seed=0).momentum == 0.9


def test_detector_from_config_takes_set_overrides() -> None:
    cfg = apply_overrides(cb.Config, {"wbf_iou": 0.4, "image_size": 320})
    (est,) = cb.models(cfg).values()
    assert isinstance(est, Detector)
    assert (est.wbf_iou, est.image_size, est.pretrained) == (0.4, 320, "coco")
    assert est.num_classes == len(cb.CLASS_NAMES)


def test_cowboy_folds_change_with_seed_and_stay_stratified(tmp_path: Path) -> None:
    cb.sample(tmp_path)
    data = cb.load(cb.Config(folds=3), tmp_path)
    cls = data.y.reshape(len(data.y), -1, 6)[..., 5]
    folds = {seed: make_folds(data.y, 3, seed, kind=cb.FOLDS, groups=data.groups) for seed in (0, 1)}
    assert not np.array_equal(folds[0], folds[1])
    for f in folds.values():
        for k in range(3):
            assert set(np.unique(cls[f == k][np.isfinite(cls[f == k])]).astype(int)) == {0, 1, 2, 3, 4}


def test_fold_fusion_uses_the_configs_wbf_iou() -> None:
    # the same object seen by two fold models, boxes overlapping at IoU 0.5: fused (averaged, full score) at 0.4,
    # kept apart (each at half the score) at 0.6
    a = pack([np.array([[0.0, 0.0, 30.0, 30.0]])], [np.array([0.9])], [np.array([1])])
    b = pack([np.array([[10.0, 0.0, 30.0, 30.0]])], [np.array([0.9])], [np.array([1])])

    def top_score(cfg: cb.Config | None) -> float:
        return float(unpack(cb.merge_folds([a, b], cfg)[0])[1].max())

    assert top_score(dataclasses.replace(cb.Config(), wbf_iou=0.4)) == pytest.approx(0.9)
    assert top_score(dataclasses.replace(cb.Config(), wbf_iou=0.6)) == pytest.approx(0.45)
    assert top_score(None) == pytest.approx(0.45)  # no Config: its default 0.55


def test_fold_fusion_keeps_no_box_below_the_configs_min_score() -> None:
    # min_score: a box below it is not predicted (Detector drops its own); a box only one fold model of two found fuses
    # at half its score and is dropped too, as any detection competition's (box_blend.py), while the one both found
    # stays. Before, cowboy's own merge_folds kept the half-score box under any min_score.
    both = pack([np.array([[50.0, 50.0, 20.0, 20.0]])], [np.array([0.9])], [np.array([2])])
    a = pack([np.array([[0.0, 0.0, 30.0, 30.0], [50.0, 50.0, 20.0, 20.0]])], [np.array([0.9, 0.9])], [np.array([1, 2])])
    cfg = dataclasses.replace(cb.Config(), min_score=0.5)
    boxes, scores, classes = unpack(cb.merge_folds([a, both], cfg)[0])
    assert classes.tolist() == [2] and scores.tolist() == pytest.approx([0.9])
    assert len(unpack(cb.merge_folds([a, both], cb.Config())[0])[1]) == 2  # min_score 0 (COCO mAP): both kept


@pytest.mark.parametrize("name", ["cifar10", "dog_breeds", "leaves"])
def test_image_configs_extend_the_recipe(name: str) -> None:
    import importlib

    assert issubclass(importlib.import_module(f"competitions.{name}").Config, ImageRecipe)
