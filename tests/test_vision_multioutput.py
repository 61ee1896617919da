"""ImageRegressor and ImageMultiLabel on tiny generated images: each learns what the images show (beats the best
constant), keeps its outputs in their units and range (ImageRegressor's clipped to the training range), saves and
loads, and refuses targets it cannot learn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.contract import ContractError, FitContext, Metric
from pipeline.tabular.metrics import binary_auc
from pipeline.vision import ImageMultiLabel, ImageRegressor

SIZE = 32
COLOURS = ((230, 40, 40), (40, 220, 60), (50, 80, 240))  # one shape colour per label


def _canvas(rng: np.random.Generator) -> np.ndarray:
    return (rng.uniform(40, 110, 3) + rng.normal(0, 10, (SIZE, SIZE, 3))).clip(0, 255)


def _write(folder: Path, images: list[np.ndarray]) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        path = folder / f"{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR))
        paths.append(str(path))
    return np.array(paths)


@pytest.fixture(scope="module")
def discs(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """160 images of one bright disc each; the targets are its radius (3 to 12 px) and its centre's row."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    images, targets = [], []
    for _ in range(160):
        img, r = _canvas(rng), rng.uniform(3, 12)
        cy, cx = rng.uniform(12, 20, 2)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 235
        images.append(img)
        targets.append((r, cy))
    return _write(tmp_path_factory.mktemp("discs"), images), np.array(targets)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """160 images, each with any of three coloured squares (labels drawn independently, half the time each)."""
    rng = np.random.default_rng(1)
    images, labels = [], rng.random((160, 3)) < 0.5
    for row in labels:
        img = _canvas(rng)
        for k in np.flatnonzero(row):
            y, x = rng.integers(2, SIZE - 10, 2)
            img[y : y + 8, x : x + 8] = COLOURS[k]
        images.append(img)
    return _write(tmp_path_factory.mktemp("tagged"), images), labels.astype(int)


def _params(**kw: object) -> dict[str, object]:
    return dict(arch="test_resnet", epochs=15, batch_size=32, optimizer="adamw", lr=3e-3, tta=(), random_state=0) | kw


def _context(tmp_path: Path) -> FitContext:
    return FitContext(workdir=tmp_path / "ck", progress=False, log=lambda s: None)


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(pred)) ** 2)))


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_regressor_learns_a_size_from_the_pixels(discs, tmp_path, loss):
    X, y = discs
    est = ImageRegressor(**_params(loss=loss)).fit(X[:120], y[:120, 0], context=_context(tmp_path))
    pred = est.predict(X[120:])
    assert pred.shape == (40,)  # one value per image, in the radius' own units
    constant = _rmse(y[120:, 0], np.full(40, y[:120, 0].mean()))
    assert _rmse(y[120:, 0], pred) < 0.6 * constant
    if loss == "bce":  # scaled to the training range: a prediction never leaves it
        assert y[:120, 0].min() <= pred.min() and pred.max() <= y[:120, 0].max()


def test_regressor_predictions_are_clipped_to_the_training_range(discs, tmp_path):
    # a bounded score, a fifth of the images at each end (0 or 100, as Pawpularity's 1 and 100): squared error's
    # predictions overshoot both ends; clipped to the range, the same network's predictions are nearer the truth
    X, y = discs
    score = np.clip((y[:, 0] - 4.5) / 6 * 100, 0, 100)
    est = ImageRegressor(**_params()).fit(X[:120], score[:120], context=_context(tmp_path))
    clipped = est.predict(X[120:])
    raw = est.set_params(clip_values=False).predict(X[120:])  # the same run without it
    assert ((raw < 0) | (raw > 100)).sum() >= 3
    np.testing.assert_array_equal(clipped, np.clip(raw, 0, 100))
    assert _rmse(score[120:], clipped) < _rmse(score[120:], raw) - 0.3
    est.set_params(clip_values=True).save_fitted(tmp_path / "fold0.pt")  # the range is saved with the network
    np.testing.assert_array_equal(ImageRegressor.load_fitted(tmp_path / "fold0.pt").predict(X[120:]), clipped)


def test_regressor_learns_two_values_and_loads_as_saved(discs, tmp_path):
    X, y = discs
    est = ImageRegressor(**_params()).fit(X[:120], y[:120], context=_context(tmp_path))
    pred = est.predict(X[120:])
    assert pred.shape == (40, 2)
    for j in range(2):
        assert _rmse(y[120:, j], pred[:, j]) < 0.8 * _rmse(y[120:, j], np.full(40, y[:120, j].mean()))
    est.save_fitted(tmp_path / "fold0.pt")
    loaded = ImageRegressor.load_fitted(tmp_path / "fold0.pt")
    np.testing.assert_allclose(loaded.predict(X[120:]), pred, rtol=1e-5, atol=1e-5)


def test_multilabel_finds_each_shape_and_gives_probabilities(tagged, tmp_path):
    X, y = tagged
    context = FitContext(
        workdir=tmp_path / "ck",
        eval_set=(X[120:], y[120:]),
        score=lambda t, p: float(np.mean([binary_auc(t[:, j] == 1, p[:, j]) for j in range(3)])),
        metric=Metric("mean_auc", True),
        progress=False,
        log=lambda s: None,
    )
    est = ImageMultiLabel(**_params(mixup_alpha=0.2, label_smoothing=0.05)).fit(X[:120], y[:120], context=context)
    proba = est.predict(X[120:])
    assert proba.shape == (40, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(1), 1.0)  # independent labels, not a softmax
    for j in range(3):
        assert binary_auc(y[120:, j] == 1, proba[:, j]) > 0.85  # chance: 0.5
    assert est.history_[-1]["valid_score"] is not None
    est.save_fitted(tmp_path / "fold0.pt")
    np.testing.assert_allclose(
        ImageMultiLabel.load_fitted(tmp_path / "fold0.pt").predict_proba(X[120:]), proba, atol=1e-5
    )


def test_bad_targets_and_losses_are_refused(discs, tagged, tmp_path):
    X, y = tagged
    bad = y.astype(float)
    bad[7, 2] = 0.5
    with pytest.raises(ContractError, match=r"row 7, label 2 is 0.5; labels are 0 or 1"):
        ImageMultiLabel(**_params(epochs=1)).fit(X, bad)
    with pytest.raises(ValueError, match=r"ImageMultiLabel: loss 'mse'; it learns by auto, bce"):
        ImageMultiLabel(**_params(loss="mse")).check_params()
    Xd, yd = discs
    values = yd[:, 0].copy()
    values[3] = np.inf  # a missing value (NaN) counts in no loss; an infinite one is refused
    with pytest.raises(ContractError, match=r"targets must be finite numbers; row 3"):
        ImageRegressor(**_params(epochs=1)).fit(Xd, values)
    with pytest.raises(ContractError, match=r"the targets must be numbers"):
        ImageRegressor(**_params(epochs=1)).fit(Xd, np.array(["a"] * len(Xd)))


def test_a_classifier_saved_before_objectives_were_saved_still_predicts(tagged, tmp_path):
    """Runs saved by an earlier version hold the classes but no objective: predict still loads them."""
    import torch

    from pipeline.vision import ImageClassifier

    X, y = tagged
    est = ImageClassifier(**_params(epochs=1)).fit(X[:40], y[:40, 0], context=_context(tmp_path))
    est.save_fitted(tmp_path / "fold0.pt")
    blob = torch.load(tmp_path / "fold0.pt", weights_only=False)
    old = {k: v for k, v in blob.items() if k not in ("objective", "fitted")}
    old["params"] = {k: v for k, v in old["params"].items() if k != "loss"}  # a parameter added since
    torch.save(old, tmp_path / "old.pt")
    loaded = ImageClassifier.load_fitted(tmp_path / "old.pt")
    np.testing.assert_allclose(loaded.predict_proba(X[40:50]), est.predict_proba(X[40:50]), atol=1e-6)
    assert list(loaded.classes_) == [0, 1]
