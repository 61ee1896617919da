"""Keypoints move with the face (pipeline/keypoints.py): the training augmentation's shift, turn, zoom and flip
move each row's keypoints where they move its image (a flipped row's left and right twins swapped), and a flipped or
shifted TTA view's predictions are moved back before they are averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from face_downloads import NAMES

from pipeline.keypoints import find_keypoints, twin
from pipeline.vision.batch_augment import BatchAugment

KAGGLE = [
    f"{part}_{axis}"
    for part in (
        "left_eye_center", "right_eye_center", "left_eye_inner_corner", "left_eye_outer_corner",
        "right_eye_inner_corner", "right_eye_outer_corner", "left_eyebrow_inner_end", "left_eyebrow_outer_end",
        "right_eyebrow_inner_end", "right_eyebrow_outer_end", "nose_tip", "mouth_left_corner", "mouth_right_corner",
        "mouth_center_top_lip", "mouth_center_bottom_lip",
    )
    for axis in ("x", "y")
]  # fmt: skip


def test_the_targets_names_say_which_are_coordinates_and_which_are_twins() -> None:
    kp = find_keypoints(KAGGLE)
    assert (
        kp is not None
        and len(kp.x) == 15
        and [KAGGLE[j] for j in kp.x[:2]] == ["left_eye_center_x"] + ["right_eye_center_x"]
    )
    named = {KAGGLE[j]: KAGGLE[m] for j, m in enumerate(kp.mirror)}
    assert named["left_eye_center_x"] == "right_eye_center_x" and named["right_eye_center_y"] == "left_eye_center_y"
    assert named["mouth_left_corner_x"] == "mouth_right_corner_x" and named["nose_tip_x"] == "nose_tip_x"
    assert named["left_eyebrow_outer_end_y"] == "right_eyebrow_outer_end_y"
    assert twin("LeftEye") == "RightEye" and twin("RIGHT_ear") == "LEFT_ear"
    assert find_keypoints(["Nose_X", "Nose_Y"]) is not None  # the axis in any case
    # a target that is no coordinate of a pair: not keypoints, and nothing may move them
    assert find_keypoints([*KAGGLE, "smile"]) is None and find_keypoints(["nose_x"]) is None
    assert find_keypoints(["label"]) is None and find_keypoints([]) is None


def _dots(points: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, side, side, K) images, channel k a bright round dot centred on keypoint k (pixel i's centre at i)."""
    n, k = points.shape[:2]
    yy, xx = np.mgrid[:side, :side].astype(float)
    d2 = (xx[None, None] - points[..., 0, None, None]) ** 2 + (yy[None, None] - points[..., 1, None, None]) ** 2
    return np.rint(255 * np.exp(-d2 / (2 * 1.5**2))).astype(np.uint8).transpose(0, 2, 3, 1)


def _centroids(images: np.ndarray) -> np.ndarray:
    """(N, K, 2): each channel's brightness-weighted centre, x then y."""
    w = images.astype(float).transpose(0, 3, 1, 2)
    yy, xx = np.mgrid[: w.shape[2], : w.shape[3]]
    mass = w.sum((2, 3))
    return np.stack([(w * xx).sum((2, 3)) / mass, (w * yy).sum((2, 3)) / mass], -1)


def test_each_dot_lands_on_its_moved_keypoint_and_a_flipped_face_swaps_left_and_right() -> None:
    kp = find_keypoints(NAMES)  # left eye, right eye, nose, mouth
    assert kp is not None
    rng = np.random.default_rng(0)
    side, n = 40, 200
    points = np.stack([rng.uniform(11, 29, (n, 4)), rng.uniform(11, 29, (n, 4))], -1)  # (n, keypoint, x / y)
    images = torch.from_numpy(_dots(points, side))
    values = torch.from_numpy(points.reshape(n, 8)).float()  # NAMES: x then y of each keypoint
    values[0, 6:] = float("nan")  # the first face marks no mouth
    augment = BatchAugment(pad=2, flip=True, rotate=15.0, zoom=0.1)
    draws = augment.draw(tuple(images.shape[:3]), torch.Generator().manual_seed(1))
    moved = kp.moved(values, augment, draws, (side, side)).numpy().reshape(n, 4, 2)
    seen = _centroids(augment.apply(images, draws).numpy())
    flipped = draws["flip"].numpy()
    assert 0.3 < flipped.mean() < 0.7 and draws["dx"].abs().max() == 2 and draws["angle"].abs().max() > 10
    # a flipped face's left eye is the dot that was its right eye: its label is that dot's, and the other way round
    dot_of = np.where(flipped[:, None], [1, 0, 2, 3], [0, 1, 2, 3])
    want = seen[np.arange(n)[:, None], dot_of]
    assert np.isnan(moved[0, 3]).all() and np.isfinite(moved[1:]).all()  # missing stays missing
    assert np.abs(moved - want)[np.isfinite(moved)].max() < 0.5
    shifted_only = np.abs(want - points).max()  # the test would pass without moving anything: it would not
    assert shifted_only > 5


def test_a_keypoint_moved_off_the_image_is_marked_missing_and_a_resized_image_is_measured_in_its_own_pixels() -> None:
    kp = find_keypoints(["a_x", "a_y", "b_x", "b_y"])
    assert kp is not None
    values = torch.tensor([[1.0, 10.0, 10.0, 10.0]])
    augment = BatchAugment(pad=3)
    draws = {"dy": torch.tensor([0]), "dx": torch.tensor([3])}  # the image moved 3 pixels left: a falls off it
    out = kp.moved(values, augment, draws, (20, 20))
    assert torch.isnan(out[0, :2]).all() and out[0, 2:].tolist() == [7.0, 10.0]
    big = type(kp)(kp.x, kp.y, kp.mirror, size=(10, 10))  # stored at 10x10, the network's image 20x20
    flip = {"flip": torch.tensor([True])}
    out = big.moved(torch.tensor([[2.0, 3.0, 7.0, 3.0]]), BatchAugment(flip=True), flip, (20, 20))
    assert out[0].tolist() == pytest.approx([7.0, 3.0, 2.0, 3.0])  # mirrored about the stored image's centre 4.5


class Eyes(torch.nn.Module):
    """An "identity" network of two keypoints as a trained one reads a face: its left eye (outputs 0, 1) the bright
    dot on the image's right half, its right eye (2, 3) the one on its left half, each the dot's centre."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x[:, 0].float()
        w = grey.shape[2]
        yy, xx = torch.meshgrid(torch.arange(grey.shape[1]), torch.arange(w), indexing="ij")
        out = []
        for half in (xx >= w / 2, xx < w / 2):
            mass = (grey * half).sum((1, 2))
            out += [(grey * half * xx).sum((1, 2)) / mass, (grey * half * yy).sum((1, 2)) / mass]
        return torch.stack(out, 1)


def test_the_flipped_and_shifted_views_of_an_identity_network_average_to_its_own_prediction() -> None:
    from pipeline.vision.multioutput import ImageRegressor
    from pipeline.vision.objectives import Regression

    names = ["left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y"]
    points = np.array([[[27.0, 14.0], [9.0, 11.0]], [[25.5, 20.0], [12.0, 17.5]]])  # not symmetric about the centre
    images = np.repeat(_dots(points, 36).max(3, keepdims=True), 3, axis=3)

    def predicted(tta: tuple[str, ...]) -> np.ndarray:
        est = ImageRegressor(tta=tta, keypoints=find_keypoints(names), clip_values=False)
        est.model_, est.objective_ = Eyes(), Regression(4, center=(0.0,) * 4, scale=(1.0,) * 4)
        est.normalizer_, est.device_, est.dtype_, est.workers_ = (lambda x: x.permute(0, 3, 1, 2)), "cpu", None, 0
        return est.predict(images)

    own = predicted(())
    assert np.abs(own - points.reshape(2, 4)).max() < 0.05
    np.testing.assert_allclose(predicted(("hflip",)), own, atol=1e-4)
    # upside down each eye keeps its side of the image, so its name: mirrored back in y, nothing swapped
    np.testing.assert_allclose(predicted(("vflip",)), own, atol=1e-4)
    # shifted a pixel, a dot's faint edge crosses the middle the network splits the halves at: a few thousandths
    np.testing.assert_allclose(predicted(("hflip", "shift")), own, atol=0.01)


def test_the_trainers_batches_carry_each_faces_keypoints_where_its_augmented_image_shows_them() -> None:
    from pipeline.training.runtime import Runtime
    from pipeline.vision.data import BatchNormalizer, ImageDataset
    from pipeline.vision.objectives import Regression
    from pipeline.vision.trainer import TrainConfig, Trainer

    kp = find_keypoints(NAMES)
    rng = np.random.default_rng(2)
    n, side = 64, 40
    points = np.stack([rng.uniform(11, 29, (n, 4)), rng.uniform(11, 29, (n, 4))], -1)
    y = points.reshape(n, 8)
    objective = Regression(8).fit(y)  # the trainer's labels are on this scale, not in pixels
    data = ImageDataset([f"row {i}" for i in range(n)], objective.targets(y), None, _dots(points, side)[..., :4])
    augment = BatchAugment(pad=2, flip=True, rotate=15.0, zoom=0.1)
    norm = BatchNormalizer((0.5,) * 4, (0.25,) * 4, "cpu", False)
    trainer = Trainer(TrainConfig(batch_size=16, seed=0), Runtime(), norm, objective, augment, kp)
    for xb, yb in trainer._train_batches(data, seed=3, drop_last=False):
        moved = (yb.numpy() * np.asarray(objective.scale) + np.asarray(objective.center)).reshape(len(yb), 4, 2)
        seen = _centroids(xb.numpy())
        left = np.abs(moved[:, 0] - seen[:, 0]).max(1) < 0.5  # rows not flipped: the left eye is its own dot
        right = np.abs(moved[:, 0] - seen[:, 1]).max(1) < 0.5  # flipped rows: the dot that was its right eye
        assert (left | right).all() and left.any() and right.any()
        assert np.abs(moved[:, 2:] - seen[:, 2:]).max() < 0.5  # nose and mouth, twins of none


def test_cnn_keypoints_on_targets_that_are_no_pairs_is_refused_naming_them() -> None:
    from pipeline.tabular import Pixels, TabularRecipe, model_set

    cfg = TabularRecipe(models=("cnn",), cnn_keypoints=True)
    with pytest.raises(ValueError, match=r"cnn_keypoints: the targets nose_x, smile are not keypoints"):
        model_set("regression", cfg, ["nose_x", "smile"], pixels=Pixels(8, 8, column="Image"))
    model = model_set("regression", cfg, NAMES, pixels=Pixels(8, 8, column="Image"))["cnn"]
    assert model.keypoints == find_keypoints(NAMES)


@pytest.mark.parametrize("mix", ["mixup_alpha", "cutmix_alpha"])
def test_keypoints_mixed_by_mixup_or_cutmix_are_refused_naming_both(mix: str) -> None:
    from pipeline.contract import ContractError
    from pipeline.vision.batch_augment import BatchAugment
    from pipeline.vision.multioutput import ImageRegressor

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (16, 28, 28, 3), dtype=np.uint8)
    y = rng.uniform(5, 23, (16, len(NAMES)))
    est = ImageRegressor(
        arch="airbench_small",
        epochs=1,
        batch_size=8,
        batch_augment=BatchAugment(pad=2),
        keypoints=find_keypoints(NAMES),
    )
    est.set_params(**{mix: 0.4})  # two faces' eyes blended: a place neither face shows
    with pytest.raises(
        ContractError, match="mixup or cutmix would blend two faces' places.*mixup_alpha=0 and cutmix_alpha=0"
    ):
        est.fit(images, y)
