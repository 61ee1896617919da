"""Checkpoints: a run interrupted after an epoch and resumed gives exactly the uninterrupted run's predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import count_worker_starts, three_class_images

from pipeline.contract import FitContext, Metric
from pipeline.vision import ImageClassifier


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    return three_class_images(tmp_path_factory.mktemp("resume"))


def estimator(epochs: int, arch: str = "test_resnet", on_device: bool = False) -> ImageClassifier:
    import albumentations as A

    from pipeline.vision.batch_augment import BatchAugment

    # augmentation (per image in the loader, or per batch on the device), mixup/cutmix and EMA all draw random
    # numbers: resume must replay them exactly
    return ImageClassifier(
        batch_augment=BatchAugment(pad=2, flip=True, cutout=6),
        augment_on="device" if on_device else "loader",
        arch=arch,
        num_classes=3,
        epochs=epochs,
        batch_size=16,
        lr=0.05,
        train_transform=A.Compose([A.HorizontalFlip(), A.RandomBrightnessContrast()]),
        mixup_alpha=0.3,
        cutmix_alpha=1.0,
        ema_decay=0.9,
        label_smoothing=0.1,
        tta=("hflip",),
    )


def ctx(workdir: Path, X: np.ndarray, y: np.ndarray, resume: bool = False, log=lambda s: None) -> FitContext:
    score = lambda t, p: float(np.mean(t == p.argmax(1)))  # noqa: E731
    return FitContext(
        workdir=workdir,
        eval_set=(X, y),
        score=score,
        metric=Metric("accuracy", True),
        resume=resume,
        progress=False,
        log=log,
    )


def strip_times(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in history]


# airbench: its data-initialised, frozen stem; on_device: augmentation drawn per batch from the epoch's seed
@pytest.mark.parametrize(
    ("arch", "on_device"), [("test_resnet", False), ("airbench_small", False), ("test_resnet", True)]
)
def test_resume_after_interruption_equals_uninterrupted_run(images, tmp_path, arch, on_device):
    X, y = images
    Xtr, ytr, Xva, yva = X[:72], y[:72], X[72:], y[72:]
    full = estimator(3, arch, on_device).fit(Xtr, ytr, context=ctx(tmp_path / "full", Xva, yva))

    def kill_in_epoch_2(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise Interrupt  # the process dies after epoch 2's work but before its checkpoint

    with pytest.raises(Interrupt):
        estimator(3, arch, on_device).fit(Xtr, ytr, context=ctx(tmp_path / "cut", Xva, yva, log=kill_in_epoch_2))
    lines: list[str] = []
    cut = ctx(tmp_path / "cut", Xva, yva, resume=True, log=lines.append)
    resumed = estimator(3, arch, on_device).fit(Xtr, ytr, context=cut)
    assert any(s.startswith("augmentation: batched on " if on_device else "augmentation: per image") for s in lines)
    assert any("continuing from epoch 1" in s for s in lines)
    np.testing.assert_array_equal(resumed.predict_proba(Xva), full.predict_proba(Xva))
    assert strip_times(resumed.history_) == strip_times(full.history_)


def test_resume_may_raise_the_number_of_epochs(images, tmp_path):
    X, y = images
    estimator(2).fit(X[:72], y[:72], context=ctx(tmp_path, X[72:], y[72:]))
    lines: list[str] = []
    again = estimator(2).fit(X[:72], y[:72], context=ctx(tmp_path, X[72:], y[72:], resume=True, log=lines.append))
    assert any("already finished" in s for s in lines) and len(again.history_) == 2
    more = estimator(4).fit(X[:72], y[:72], context=ctx(tmp_path, X[72:], y[72:], resume=True))
    assert [row["epoch"] for row in more.history_] == [1, 2, 3, 4]


def test_augmentation_is_the_same_with_any_number_of_loader_workers_which_start_once_per_fit(
    images, tmp_path, monkeypatch
):
    X, y = images
    worker_starts = count_worker_starts(monkeypatch, tmp_path)
    fits = {}
    for workers in (0, 2):
        est = estimator(3).set_params(num_workers=workers)
        fits[workers] = est.fit(X[:72], y[:72], context=ctx(tmp_path / str(workers), X[72:], y[72:]))
    # each image's augmentation is drawn from (epoch seed, row): two worker processes train exactly as none
    np.testing.assert_array_equal(fits[2].predict_proba(X[72:]), fits[0].predict_proba(X[72:]))
    assert strip_times(fits[2].history_) == strip_times(fits[0].history_)
    # 3 epochs: 2 training and 2 validation workers started once, not once per epoch (12); prediction starts none,
    # the images being held decoded (pipeline/vision/decoded.py)
    assert worker_starts() == 2 + 2
