"""Augmentation of whole batches on the device (augment_on): each image drawn as the albumentations steps would draw
it, from the epoch's seed alone, the option taking effect, and the refusals naming what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import three_class_images

from pipeline.contract import ContractError, FitContext, Metric
from pipeline.vision import ImageClassifier
from pipeline.vision.batch_augment import BatchAugment, resolve_batch_augment

FILL = (125, 123, 114)


def explain(source: np.ndarray, out: np.ndarray, pad: int, hole: int) -> tuple[int, int, bool] | None:
    """(dy, dx, flipped) such that `out` is `source` reflect-padded by `pad` (OpenCV's BORDER_REFLECT_101, as
    albumentations' PadIfNeeded), cropped at (dy, dx), maybe flipped, with at most one hole x hole square of FILL;
    None when no such draw gives `out`."""
    import albumentations as A
    import cv2

    h, w = source.shape[:2]
    padded = A.PadIfNeeded(h + 2 * pad, w + 2 * pad, border_mode=cv2.BORDER_REFLECT_101)(image=source)["image"]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            for flipped, view in ((False, crop), (True, crop[:, ::-1])):
                differ = (view != out).any(2)
                ys, xs = np.nonzero(differ)
                if not len(ys) or (
                    ys.max() - ys.min() < hole and xs.max() - xs.min() < hole and (out[differ] == FILL).all()
                ):
                    return dy, dx, flipped
    return None


def test_each_image_is_a_translation_flip_and_cutout_of_its_source_and_every_draw_occurs() -> None:
    x = np.random.default_rng(0).integers(0, 256, (400, 16, 16, 3), dtype=np.uint8)
    aug = BatchAugment(pad=2, flip=True, cutout=4, fill=FILL)
    out = aug(torch.from_numpy(x), torch.Generator().manual_seed(1)).numpy()
    assert out.shape == x.shape and out.dtype == np.uint8
    draws = [explain(x[i], out[i], 2, 4) for i in range(len(x))]
    assert all(d is not None for d in draws)
    assert {(dy, dx) for dy, dx, _ in draws} == {(a, b) for a in range(5) for b in range(5)}  # all 25 offsets
    assert 0.4 < np.mean([f for _, _, f in draws]) < 0.6  # flipped half the time
    holes = (out == FILL).all(3).sum((1, 2))
    assert (holes >= 16).mean() > 0.95  # one 4x4 square per image (more where the image had FILL pixels)


def test_the_same_seed_gives_the_same_batch_and_another_seed_another() -> None:
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8))
    aug = BatchAugment(pad=1, flip=True, cutout=2)
    a, b = (aug(x, torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, aug(x, torch.Generator().manual_seed(6)))
    assert torch.equal(BatchAugment()(x, torch.Generator()), x)  # everything off: the batch as it was


def test_a_turn_and_a_zoom_are_opencvs_rotation_about_the_centre() -> None:
    import cv2

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 12, 18, 3), dtype=np.uint8)  # not square: a true turn, not a sheared one
    aug = BatchAugment(rotate=30, zoom=0.2)
    draws = aug.draw(x.shape[:3], torch.Generator().manual_seed(2))
    angle, scale = draws["angle"].numpy(), draws["scale"].numpy()
    assert angle.min() < -25 and angle.max() > 25 and np.abs(angle).max() <= 30
    assert scale.min() < 0.83 and scale.max() > 1.17 and np.abs(scale - 1).max() <= 0.2
    out = aug.apply(torch.from_numpy(x), draws).numpy()
    centre = ((18 - 1) / 2, (12 - 1) / 2)
    for i in range(0, 300, 30):  # OpenCV's counter-clockwise turn and magnification, bilinear, the edges extended
        m = cv2.getRotationMatrix2D(centre, float(angle[i]), float(scale[i]))
        want = cv2.warpAffine(x[i], m, (18, 12), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        assert np.abs(out[i].astype(int) - want.astype(int)).max() <= 1


def test_sizes_the_image_cannot_hold_are_refused() -> None:
    x = torch.zeros((2, 4, 4, 3), dtype=torch.uint8)
    with pytest.raises(ValueError, match="pad 4"):
        BatchAugment(pad=4)(x, torch.Generator())
    with pytest.raises(ValueError, match="cutout 5"):
        BatchAugment(cutout=5)(x, torch.Generator())
    with pytest.raises(ValueError, match=r"zoom 1.0 must be in \[0, 1\)"):
        BatchAugment(zoom=1.0)(x, torch.Generator())


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    return three_class_images(tmp_path_factory.mktemp("batch_augment"))


class Counting(BatchAugment):
    """A BatchAugment that counts the images it augments."""

    calls: list[int] = []  # noqa: RUF012 - shared on purpose: sklearn clones the estimator's parameters

    def apply(self, x: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        Counting.calls.append(len(x))
        return super().apply(x, draws)


def fit(X: np.ndarray, y: np.ndarray, tmp_path: Path, **params: object) -> tuple[ImageClassifier, list[str]]:
    import albumentations as A

    lines: list[str] = []
    score = lambda t, p: float(np.mean(t == p.argmax(1)))  # noqa: E731
    ctx = FitContext(
        workdir=tmp_path, eval_set=(X[72:], y[72:]), score=score, metric=Metric("accuracy", True), log=lines.append
    )
    est = ImageClassifier(
        arch="test_resnet",
        num_classes=3,
        epochs=2,
        batch_size=16,
        lr=0.05,
        tta=(),
        train_transform=A.Compose([A.HorizontalFlip()]),
        batch_augment=Counting(pad=2, flip=True),
        **params,
    )
    return est.fit(X[:72], y[:72], context=ctx), lines


def test_augment_on_takes_effect_and_validation_on_the_device_matches_the_loader(images, tmp_path) -> None:
    X, y = images
    Counting.calls.clear()
    device, lines = fit(X, y, tmp_path / "device")  # auto: the images are decoded in memory
    what = "Counting(pad=2, flip=True, cutout=0, fill=(0, 0, 0), rotate=0.0, zoom=0.0)"
    assert f"augmentation: batched on {device.device_} ({what})" in lines
    assert sum(Counting.calls) == 2 * 64  # 2 epochs of 72 rows in batches of 16, the incomplete last one dropped
    Counting.calls.clear()
    loader, lines = fit(X, y, tmp_path / "loader", augment_on="loader")
    assert "augmentation: per image in the loader (augment_on=loader)" in lines and not Counting.calls
    assert not np.array_equal(device.predict_proba(X[72:]), loader.predict_proba(X[72:]))


def test_validation_over_the_images_on_the_device_scores_what_the_loader_does(images, tmp_path) -> None:
    from pipeline.training.runtime import Runtime
    from pipeline.vision.data import ImageDataset
    from pipeline.vision.decoded import decode_all
    from pipeline.vision.objectives import Softmax
    from pipeline.vision.trainer import TrainConfig, Trainer

    X, y = images
    est, _ = fit(X, y, tmp_path)
    valid = ImageDataset(X[72:], y[72:], None, decode_all(X[72:]))
    cfg = TrainConfig(batch_size=8)
    rt = Runtime(device=est.device_)
    held = Trainer(cfg, rt, est.normalizer_, Softmax(3), BatchAugment(flip=True))
    proba, loss = held.evaluate(est.model_, valid)
    assert held._resident  # the validation images went to the device once, and were read from there
    proba_loader, loss_loader = Trainer(cfg, rt, est.normalizer_, Softmax(3)).evaluate(est.model_, valid)
    np.testing.assert_allclose(proba, proba_loader, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(loss_loader, rel=1e-6)


def test_device_without_a_batch_form_or_decoded_images_is_refused_naming_the_setting() -> None:
    with pytest.raises(ContractError, match="augment_on=device: the competition declares no batch_augment"):
        resolve_batch_augment("device", None, np.zeros((1, 2, 2, 3), np.uint8), "cpu")
    with pytest.raises(ContractError, match="augment_on=device: the training images are not decoded in memory"):
        resolve_batch_augment("device", BatchAugment(flip=True), None, "cpu")
    with pytest.raises(ContractError, match="augment_on must be one of auto, device, loader, got 'gpu'"):
        resolve_batch_augment("gpu", BatchAugment(), None, "cpu")
    augment, line = resolve_batch_augment("auto", BatchAugment(flip=True), None, "cpu")
    assert augment is None and "not decoded in memory" in line
