"""Several values a row with some missing (Facial Keypoints: 30 coordinates, most faces marking 8): one network
learns every output from the rows that have it, a missing value counting in neither the scale nor the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from face_downloads import NAMES, faces, training_frame

from pipeline.tabular import Pixels, TabularRecipe, model_set
from pipeline.tabular.cnn import PixelCNN
from pipeline.vision.objectives import Regression


def test_a_missing_value_counts_in_neither_the_scale_nor_the_loss() -> None:
    y = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 30.0], [np.nan, 20.0]])
    objective = Regression(2).fit(y)
    assert objective.center == pytest.approx((3.0, 20.0))
    assert objective.scale == pytest.approx((np.std([1, 3, 5]), np.std([10, 20, 30])))
    targets = torch.as_tensor(objective.targets(y))
    logits = torch.tensor([[0.5, -1.0], [0.2, 7.0], [1.0, 1.0], [9.0, 0.0]])
    present = ~torch.isnan(targets)
    expected = ((logits - targets)[present] ** 2).mean()
    assert float(objective.loss(logits, targets)) == pytest.approx(float(expected))
    logits.requires_grad_(True)
    objective.loss(logits, targets).backward()
    assert torch.isfinite(logits.grad).all() and float(logits.grad[1, 1]) == 0.0 and float(logits.grad[3, 0]) == 0.0


def test_an_output_no_row_has_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="output 1 has no value"):
        Regression(2).fit(np.array([[1.0, np.nan], [2.0, np.nan]]))


def _rmse_present(y: np.ndarray, pred: np.ndarray) -> float:
    present = ~np.isnan(y)
    return float(np.sqrt(np.mean((y[present] - pred[present]) ** 2)))


def test_one_network_learns_keypoints_from_the_faces_that_mark_them() -> None:
    images, points = faces(300, side=48, seed=3)
    frame = training_frame(images, points, seed=3)
    y = frame[NAMES].to_numpy()
    cfg = TabularRecipe(models=("cnn",), cnn_epochs=6, cnn_shift=0)
    model = model_set("regression", cfg, NAMES, pixels=Pixels(48, 48, column="Image"))["cnn"]
    assert isinstance(model, PixelCNN)  # one network, not a MultiTarget of one per keypoint
    model.fit(frame[:225], y[:225])
    assert model.network_.n_outputs_ == len(NAMES)
    pred = model.predict(frame[225:])
    assert pred.shape == (75, len(NAMES)) and np.isfinite(pred).all()
    means = np.broadcast_to(np.nanmean(y[:225], axis=0), pred.shape)
    truth = points[225:]  # every keypoint, the ones training.csv leaves out included
    assert _rmse_present(truth, pred) < 0.4 * _rmse_present(truth, means)
    assert _rmse_present(truth[:, 4:], pred[:, 4:]) < 0.4 * _rmse_present(truth[:, 4:], means[:, 4:])


def test_a_model_per_target_fits_each_on_the_rows_that_have_it() -> None:
    from sklearn.linear_model import LinearRegression

    from pipeline.tabular import MultiTarget

    X = np.arange(12, dtype=float).reshape(6, 2)
    y = np.column_stack([X[:, 0] * 2.0, X[:, 1] + 1.0])
    y[[1, 4], 1] = np.nan  # the second target marked on 4 rows only
    model = MultiTarget(LinearRegression(), "regression").fit(X, y)
    np.testing.assert_allclose(model.predict(X), np.column_stack([X[:, 0] * 2.0, X[:, 1] + 1.0]), atol=1e-9)


def test_the_stack_of_several_values_fits_each_on_the_rows_that_have_it() -> None:
    from pipeline.stacking import stack
    from pipeline.tabular import present_rmse

    rng = np.random.default_rng(0)
    y = rng.normal(size=(60, 2))
    y[rng.random(60) < 0.5, 1] = np.nan
    truth = np.nan_to_num(y)
    oofs = {"a": truth + rng.normal(0, 0.3, y.shape), "b": truth + rng.normal(0, 0.6, y.shape)}
    folds = np.arange(60) % 3
    st = stack(oofs, oofs, y, folds, present_rmse, classification=False)
    assert np.isfinite(st["oof"]).all() and np.isfinite(st["test"]).all()
    assert st["score"] < present_rmse(y, oofs["b"])
