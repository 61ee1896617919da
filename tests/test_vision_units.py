"""Pieces of the trainer: schedules, epoch planning, mixing, TTA, EMA, the timm-registered CIFAR networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.contract import ContractError
from pipeline.training.ema import ModelEma
from pipeline.training.schedules import lr_factor
from pipeline.vision.mix import Mixer, soft_targets
from pipeline.vision.tta import check_tta, n_views, predict_tta, tta_views


def test_schedules_warm_up_peak_and_decay():
    for kind in ("onecycle", "cosine"):
        values = [lr_factor(kind, s / 100, warmup=0.2) for s in range(101)]
        assert max(values) == pytest.approx(1.0) and values.index(max(values)) == 20
        assert values[0] < 0.2 and values[-1] == pytest.approx(0.0, abs=1e-9)
    assert lr_factor("step", 0.9, warmup=0.0) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="Valid schedules"):
        lr_factor("linear", 0.0)


def test_mixer_keeps_targets_distributions_and_is_seeded():
    x = torch.randn(8, 3, 16, 16)
    t = soft_targets(torch.arange(8) % 4, 4, 0.1)
    assert torch.allclose(t.sum(1), torch.ones(8))
    outs = []
    for _ in range(2):
        mixer = Mixer(mixup_alpha=0.4, cutmix_alpha=1.0, prob=1.0)
        mixer.reseed(7)
        outs.append([mixer(x, t) for _ in range(4)])
    for (xa, ta), (xb, tb) in zip(*outs, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
        assert torch.allclose(ta.sum(1), torch.ones(8))
    assert not Mixer(0.0, 0.0, 1.0).active


def test_tta_views_and_probability_averaging():
    x = torch.randn(2, 3, 8, 8)
    assert len(tta_views(x, ("hflip", "shift"))) == n_views(("hflip", "shift")) == 4
    with pytest.raises(ValueError, match="Valid views"):
        check_tta(["rotate"])
    probs = predict_tta(lambda v: v.mean(dim=(2, 3)), x, ("hflip",))
    assert torch.allclose(probs.sum(1), torch.ones(2))


def test_ema_tracks_weights():
    model = torch.nn.Linear(2, 2)
    ema = ModelEma(model, decay=0.5, warmup=False)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, model.weight - 0.5)


def test_registered_cifar_networks_build_with_timm():
    import timm

    import pipeline.vision.models  # noqa: F401

    model = timm.create_model("airbench_small", num_classes=10)
    x = torch.randn(4, 3, 32, 32)
    model.init_from_data(x)
    assert model(x).shape == (4, 10)
    assert not model.whiten.weight.requires_grad


def test_an_image_without_a_label_is_refused_at_load(tmp_path: Path) -> None:
    # before: an empty cell became a class named "", both folds trained, and the submission was refused at the end
    from pipeline.vision.csv_images import CsvImages

    rows = ["image,label", "images/0.jpg,cat", "images/1.jpg,", "images/2.jpg,dog", "images/3.jpg, "]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    files = CsvImages("train.csv", id_column="image", label_column="label")
    with pytest.raises(ContractError, match=r"train.csv line 3 \(images/1.jpg\): empty label \(2 row\(s\) without"):
        files.load(None, tmp_path)
