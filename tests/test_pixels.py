"""Images held in a table's rows (pipeline/tabular/pixels.py) and the "cnn" model on them (pipeline/tabular/cnn.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.contract import ContractError
from pipeline.tabular import TabularRecipe, model_set
from pipeline.tabular.cnn import PixelCNN
from pipeline.tabular.pixels import Pixels, find_pixels


def digits(n: int, seed: int = 0, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """n white-on-black digits drawn by OpenCV (random font, size, stroke and place), and their labels."""
    import cv2

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX]
    images = np.zeros((n, side, side), np.uint8)
    for i in range(n):
        font, thick = fonts[rng.integers(len(fonts))], int(rng.integers(1, 3))
        scale = rng.uniform(0.55, 0.8) * side / 28
        (w, h), _ = cv2.getTextSize(str(y[i]), font, scale, thick)
        corner = (int(rng.integers(0, max(1, side - w))), int(rng.integers(h, side)))
        cv2.putText(images[i], str(y[i]), corner, font, scale, 255, thick, cv2.LINE_AA)
    return images, y


def table(images: np.ndarray, start: int = 0, prefix: str = "pixel") -> pd.DataFrame:
    """Digit Recognizer's layout: one column per pixel, row by row."""
    flat = images.reshape(len(images), -1)
    return pd.DataFrame(flat, columns=[f"{prefix}{start + i}" for i in range(flat.shape[1])])


def test_numbered_pixel_columns_are_found_with_their_start_and_white() -> None:
    images, _ = digits(20)
    found = find_pixels(table(images, start=1), [f"pixel{i}" for i in range(1, 785)])
    assert found == Pixels(28, 28, prefix="pixel", start=1, max_value=255.0)
    scaled = table(images).astype(float) / 255.0  # values scaled to 0-1
    assert find_pixels(scaled, list(scaled.columns)).max_value == 1.0
    small = pd.DataFrame(np.random.default_rng(0).integers(0, 17, (30, 64)), columns=[f"px_{i}" for i in range(64)])
    assert find_pixels(small, list(small.columns)) == Pixels(8, 8, prefix="px_", max_value=16.0)


def test_columns_that_are_no_image_are_left_as_features() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 255, (10, 100)), columns=[f"f_{i:02d}" for i in range(100)])
    assert find_pixels(frame, list(frame.columns)) is None  # a square count, but no pixel name
    gap = table(digits(5)[0]).drop(columns=["pixel400"])
    assert find_pixels(gap, list(gap.columns)) is None  # 783 columns
    named = pd.DataFrame({"pixels": ["a b c"] * 5, "age": range(5)})
    assert find_pixels(named, ["pixels", "age"]) is None


def test_a_column_of_space_separated_values_is_one_image_per_row() -> None:
    images, _ = digits(12, side=16)
    frame = pd.DataFrame({"pixels": [" ".join(map(str, im.ravel())) for im in images], "Usage": "Training"})
    found = find_pixels(frame, ["Usage", "pixels"])
    assert found == Pixels(16, 16, column="pixels", max_value=255.0)
    out = found.images(frame)
    assert out.shape == (12, 16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], images)
    np.testing.assert_array_equal(out[..., 2], images)


def test_images_are_the_rows_pixels_scaled_to_bytes_and_resized() -> None:
    images, _ = digits(6)
    frame = table(images)
    np.testing.assert_array_equal(Pixels(28, 28).images(frame)[..., 1], images)
    halves = Pixels(28, 28, max_value=1.0).images(frame.astype(float) / 255.0)
    assert np.abs(halves[..., 0].astype(int) - images).max() <= 1
    big = Pixels(28, 28).images(frame, size=56)
    assert big.shape == (6, 56, 56, 3)
    assert abs(float(big.mean()) - float(images.mean())) < 2.0


def test_bad_pixels_are_refused_naming_column_and_row() -> None:
    frame = table(digits(4)[0]).astype(int).set_axis([10, 11, 12, 13])
    pixels = Pixels(28, 28)
    with pytest.raises(ContractError, match=r"'pixel783' is not in the table"):
        pixels.images(frame.drop(columns=["pixel783"]))
    holed = frame.astype(float)
    holed.loc[12, "pixel5"] = np.nan
    with pytest.raises(ContractError, match=r"'pixel5', row 12: missing"):
        pixels.images(holed)
    negative = frame.copy()
    negative.loc[11, "pixel7"] = -3
    with pytest.raises(ContractError, match=r"'pixel7', row 11: -3, where every pixel is a number from 0 \(black\)"):
        pixels.images(negative)
    bright = frame.copy()
    bright.loc[11, "pixel7"] = 300  # brighter than any training pixel `new` saw: white
    assert pixels.images(bright)[1, 0, 7, 0] == 255
    text = pd.DataFrame({"pixels": ["1 2 3 4", "1 2 3", "1 2 x 4"]})
    with pytest.raises(ContractError, match=r"'pixels', row 1: 3 values, where every row holds 4"):
        Pixels(2, 2, column="pixels").images(text)
    with pytest.raises(ContractError, match=r"'pixels', row 2: 'x' is no number"):
        Pixels(2, 2, column="pixels").images(text.drop(index=1))


def test_an_image_network_takes_decoded_images_as_one_array() -> None:
    from pipeline.vision.estimator import ImageClassifier

    images, y = digits(64)
    rgb = np.repeat(images[..., None], 3, axis=3)
    net = ImageClassifier(arch="test_resnet", epochs=1, batch_size=32, lr=0.05, tta=(), random_state=0)
    probs = net.fit(rgb, y).predict_proba(rgb)
    assert probs.shape == (64, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    with pytest.raises(ContractError, match=r"uint8 \(N, H, W, 3\); got float32"):
        net.predict_proba(rgb.astype(np.float32))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[PixelCNN, pd.DataFrame, np.ndarray]:
    """A cnn fitted on 600 drawn digits; 200 more held out."""
    images, y = digits(800, seed=1)
    frame = table(images)
    model = PixelCNN(pixels=Pixels(28, 28), epochs=3, batch_size=32, random_state=0)
    return model.fit(frame.iloc[:600], y[:600]), frame.iloc[600:], y[600:]


def test_the_cnn_learns_the_digits(fitted: tuple) -> None:
    model, X_test, y_test = fitted
    accuracy = float((model.predict(X_test) == y_test).mean())
    assert accuracy > 0.9, accuracy  # chance: 0.1 (against the boosters: benchmarks/tabular_pixels.py)
    assert list(model.classes_) == list(range(10))
    assert model.predict_proba(X_test).shape == (200, 10)


def test_a_saved_cnn_predicts_as_before(fitted: tuple, tmp_path: Path) -> None:
    model, X_test, _ = fitted
    model.save_fitted(tmp_path / "fold0.pt")
    loaded = PixelCNN.load_fitted(tmp_path / "fold0.pt", device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test), atol=1e-6)
    assert loaded.pixels == Pixels(28, 28)


def test_small_images_are_enlarged_for_the_network_and_the_regressor_learns_values() -> None:
    images, y = digits(240, seed=2, side=14)
    frame = table(images)
    values = y.astype(float) * 10.0
    # shifts alone: 3 epochs of 180 images are too few to learn through turns and zooms as well
    model = PixelCNN("regression", Pixels(14, 14), epochs=3, batch_size=32, rotate=0, zoom=0, tta=(), random_state=0)
    model.fit(frame[:180], values[:180])
    assert model._images(frame[:2]).shape == (2, 28, 28, 3)  # 14 px < MIN_SIDE
    pred = model.predict(frame[180:])
    assert pred.shape == (60,)
    spread = np.sqrt(np.mean((values[180:] - values[:180].mean()) ** 2))
    assert np.sqrt(np.mean((pred - values[180:]) ** 2)) < 0.8 * spread


def test_an_arch_too_deep_for_the_images_is_refused_naming_both_and_the_setting() -> None:
    images, y = digits(64, seed=4)
    frame = table(images)
    # ConvNeXt's four downsamplings leave 28 px digits 1x1 before its last 2x2 one
    deep = PixelCNN(pixels=Pixels(28, 28), arch="convnext_atto", epochs=1, batch_size=16, tta=(), random_state=0)
    with pytest.raises(ContractError, match=r"convnext_atto cannot take 28x28 images .*cnn_image_size"):
        deep.fit(frame, y)
    deep.set_params(image_size=64)  # what the message says to do
    assert deep.fit(frame, y).predict_proba(frame).shape == (64, 10)


def test_the_turn_and_zoom_settings_reach_the_training_batches() -> None:
    from pipeline.vision.batch_augment import BatchAugment

    images, y = digits(160, seed=5)
    frame = table(images)
    fitted = {}
    for sets in ({}, {"cnn_rotate": 0.0, "cnn_zoom": 0.0}):  # the default, and shifts alone
        cfg = TabularRecipe(models=("cnn",), cnn_epochs=2, cnn_tta=(), **sets)
        (model,) = model_set("multiclass", cfg, "label", pixels=Pixels(28, 28)).values()
        fitted[not sets] = model.fit(frame[:128], y[:128])
    assert fitted[True].network_.batch_augment == BatchAugment(pad=2, rotate=10.0, zoom=0.1)
    assert fitted[False].network_.batch_augment == BatchAugment(pad=2)
    turned, plain = (fitted[k].predict_proba(frame[128:]) for k in (True, False))
    assert not np.allclose(turned, plain)  # the same seed, other training images


def test_the_cnn_needs_to_be_told_where_the_images_are() -> None:
    cfg = TabularRecipe(models=("cnn",))
    with pytest.raises(ValueError, match="Model cnn needs the image each row holds: set PIXELS"):
        model_set("multiclass", cfg, "label")
    (model,) = model_set("multiclass", cfg, "label", pixels=Pixels(28, 28)).values()
    assert isinstance(model, PixelCNN) and model.epochs == cfg.cnn_epochs and model.tta == ("shift",)


def test_a_small_fold_gets_batches_small_enough_to_learn_from() -> None:
    # before: 160 rows in batches of 128 made 2 steps an epoch, and 3 epochs scored 0.09 held out (chance 0.1)
    images, y = digits(360, seed=3)
    frame = table(images)
    # shifts alone, as measured before (3 epochs of 160 images are too few to learn through turns and zooms as well)
    model = PixelCNN(pixels=Pixels(28, 28), epochs=3, rotate=0, zoom=0, random_state=0).fit(frame.iloc[:160], y[:160])
    assert model.network_.batch_size == 20  # 160 rows // 8 steps
    assert float((model.predict(frame.iloc[160:]) == y[160:]).mean()) > 0.35


def test_several_targets_of_images_each_resume_from_their_own_checkpoints(tmp_path: Path) -> None:
    # before: every target's network saved last.pt in the fold's one folder, so a resumed fit of each target read the
    # last target's finished network
    from pipeline.contract import FitContext
    from pipeline.tabular import Boosted, MultiTarget

    images, y = digits(160, seed=4)
    frame = table(images)
    values = np.column_stack([y * 10.0, (9 - y) * 5.0])
    net = PixelCNN("regression", Pixels(28, 28), epochs=2, tta=(), random_state=0)
    model = MultiTarget(net, "regression")
    assert model.supports_ddp and not MultiTarget(Boosted("lightgbm"), "regression").supports_ddp
    first = model.fit(frame, values, context=FitContext(workdir=tmp_path, progress=False, log=lambda s: None))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target0", "target1"]
    resumed = MultiTarget(net, "regression").fit(
        frame, values, context=FitContext(workdir=tmp_path, resume=True, progress=False, log=lambda s: None)
    )
    np.testing.assert_allclose(resumed.predict(frame[:20]), first.predict(frame[:20]), atol=1e-5)
