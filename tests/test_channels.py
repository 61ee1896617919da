"""Images of one file per channel, each step on its own: decoding (greyscale, a colour file's brightest colour, 16
bits), the decoded-image store, the digests that tell a test image copied from a training image, each channel's
normalisation, the colour augmentation of four channels, the network's input channels (a weights file's first
convolution adapted as timm adapts the Hub's) and a fitted network saved and loaded."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from pipeline.contract import ContractError
from pipeline.imagedigests import run_copies, save_training_images
from pipeline.stacked import stacked
from pipeline.vision import ImageMultiLabel
from pipeline.vision.augment import standard_transforms
from pipeline.vision.channels import channel_stats, ordered
from pipeline.vision.data import ImageReadError, read_image
from pipeline.vision.decoded import DecodedImages
from pipeline.vision.pretrained import create_model

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def grey(path: Path, values: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), values)
    return str(path)


def four(folder: Path, key: str, rng: np.random.Generator, size: int = 8) -> tuple[str, list[np.ndarray]]:
    """The stacked name of `key`'s four greyscale channel files (random pixels) and their pixels."""
    planes = [rng.integers(0, 256, (size, size), dtype=np.uint8) for _ in range(4)]
    files = [
        grey(folder / f"{key}_{c}.png", p) for c, p in zip(("red", "green", "blue", "yellow"), planes, strict=True)
    ]
    return stacked(files), planes


def test_channel_files_are_stacked_in_order_each_read_as_one_grey_plane(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    name, planes = four(tmp_path, "a", rng)
    image = read_image(name)
    assert image.shape == (8, 8, 4) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.stack(planes, axis=-1))
    # a colour file: its brightest colour (a red-tinted channel is its red; a grey saved in colour its grey)
    tint = np.zeros((8, 8, 3), np.uint8)
    tint[..., 2] = planes[0]  # red, in OpenCV's BGR
    grey_rgb = np.repeat(planes[1][..., None], 3, axis=2)
    deep = planes[2].astype(np.uint16) * 257 + 3  # 16 bits: the high byte
    files = [grey(tmp_path / "tint.png", tint), grey(tmp_path / "rgb.png", grey_rgb), grey(tmp_path / "deep.png", deep)]
    np.testing.assert_array_equal(read_image(stacked(files)), np.stack(planes[:3], axis=-1))


def test_channel_files_of_two_sizes_are_refused_naming_them(tmp_path: Path) -> None:
    small = grey(tmp_path / "a_red.png", np.zeros((8, 8), np.uint8))
    large = grey(tmp_path / "a_green.png", np.zeros((8, 10), np.uint8))
    with pytest.raises(ImageReadError, match=rf"differ in size: {small} 8x8, {large} 10x8"):
        read_image(stacked([small, large]))


def test_the_store_holds_stacked_images_and_decodes_one_again_when_a_channel_file_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    names = [four(tmp_path, key, rng)[0] for key in "ab"]
    held = DecodedImages()
    first = held.stack(names)
    assert first.shape == (2, 8, 8, 4) and held.decodes == 2
    held.stack(names)
    assert held.decodes == 2  # from memory
    yellow = tmp_path / "b_yellow.png"
    grey(yellow, np.full((8, 8), 7, np.uint8))
    os.utime(yellow, ns=(1, 1))  # a new modification time, whatever the clock's tick
    again = held.stack(names)
    assert held.decodes == 3 and (again[1, :, :, 3] == 7).all() and np.array_equal(again[0], first[0])


def test_a_test_image_is_a_training_copy_only_when_every_channel_file_is(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    train = [four(tmp_path / "train", key, rng)[0] for key in ("t0", "t1")]
    copy, other = (four(tmp_path / "test", key, rng)[0] for key in ("copy", "other"))
    for path in tmp_path.rglob("*_yellow.png"):  # every image's yellow blank: the same bytes in all of them
        grey(path, np.zeros((8, 8), np.uint8))
    for channel in ("red", "green", "blue", "yellow"):  # "copy" is t1 in all four channels
        (tmp_path / "test" / f"copy_{channel}.png").write_bytes((tmp_path / "train" / f"t1_{channel}.png").read_bytes())
    images = save_training_images(tmp_path / "run", train, tmp_path)
    assert images[1]["file"] == "|".join(f"train/t1_{c}.png" for c in ("red", "green", "blue", "yellow"))
    warning = run_copies(images, [copy, other], tmp_path)
    assert warning.startswith("1 test image(s) are training images, byte for byte: test row 1 'test/copy_red.png|")
    assert "is training row 1 'train/t1_red.png|" in warning and "other" not in warning


def test_each_channel_is_normalised_by_its_name() -> None:
    mean, std = channel_stats(("red", "green", "blue", "yellow"), *IMAGENET)
    assert mean[:3] == IMAGENET[0] and std[:3] == IMAGENET[1]
    assert mean[3] == pytest.approx(sum(IMAGENET[0]) / 3) and std[3] == pytest.approx(sum(IMAGENET[1]) / 3)
    mean, _ = channel_stats(("yellow", "Blue"), *IMAGENET)
    assert mean == pytest.approx((sum(IMAGENET[0]) / 3, 0.406))
    assert ordered(["yellow", "nir", "blue", "red"]) == ("red", "blue", "yellow", "nir")


def test_four_channels_are_augmented_with_brightness_and_contrast_for_colour_jitter() -> None:
    cfg = SimpleNamespace(image_size=16, crop_scale=0.5, color_jitter=0.4, channels=("red", "green", "blue", "yellow"))
    image = np.random.default_rng(3).integers(0, 256, (24, 24, 4), dtype=np.uint8)
    assert standard_transforms(cfg, True)(image=image)["image"].shape == (16, 16, 4)
    assert standard_transforms(cfg, False)(image=image)["image"].shape == (16, 16, 4)
    names = [type(t).__name__ for t in standard_transforms(cfg, True).transforms]
    assert "RandomBrightnessContrast" in names and "ColorJitter" not in names
    rgb = SimpleNamespace(**{**vars(cfg), "channels": ("red", "green", "blue")})
    assert "ColorJitter" in [type(t).__name__ for t in standard_transforms(rgb, True).transforms]


def test_a_weights_file_of_rgb_is_adapted_to_four_channels_as_timm_adapts_the_hubs(tmp_path: Path) -> None:
    rgb, _ = create_model("test_resnet", 3, False, None, None)
    torch.save(rgb.state_dict(), tmp_path / "rgb.pth")
    model, note = create_model("test_resnet", 3, False, str(tmp_path / "rgb.pth"), None, in_chans=4)
    conv = rgb.pretrained_cfg["first_conv"] + ".weight"
    given, got = rgb.state_dict()[conv], model.state_dict()[conv]
    assert got.shape[1] == 4 and "keep their random init" not in note
    # timm's adapt_input_conv: the RGB filters repeated in turn (the fourth is red's), scaled by 3 / 4
    torch.testing.assert_close(got, torch.cat([given, given[:, :1]], dim=1) * 0.75)


def test_a_network_of_four_channels_fits_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    # 40 px, lr 0.01: on 16-px noise test_resnet's last stride-2 maps are 1x1, and one epoch sometimes ended with
    # non-finite weights (refused), depending on the thread count earlier tests left (a flaky test)
    X = rng.integers(0, 256, (16, 40, 40, 4), dtype=np.uint8)
    y = (X[:, :, :, 3].mean(axis=(1, 2)) > 127).astype(int)[:, None]
    params = dict(arch="test_resnet", epochs=1, batch_size=8, lr=0.01, tta=("hflip",), random_state=0)
    est = ImageMultiLabel(**params, channels=("red", "green", "blue", "yellow")).fit(X, y)
    assert est.model_.conv1[0].in_channels == 4 and len(est.mean_) == 4
    est.save_fitted(tmp_path / "model.pt")
    again = ImageMultiLabel.load_fitted(tmp_path / "model.pt")
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    with pytest.raises(ContractError, match=r"decoded images as uint8 \(N, H, W, 3\); got uint8 \(16, 40, 40, 4\)"):
        ImageMultiLabel(**params).fit(X, y)


def three_channels(image: np.ndarray, **_: Any) -> np.ndarray:
    """A user's transform that drops the fourth channel."""
    return image[:, :, :3]


def test_a_transform_ending_channel_first_gives_the_network_its_four_channels_in_place() -> None:
    # an albumentations pipeline ending in ToTensorV2 gives 4 x H x W: the network reads the same pixels as from the
    # H x W x 4 array the pipeline gives without it (before: the fourth axis was taken for the channels, and the
    # batch of N x 4 x 32 x 32 read as N x 32 x 4 x 32 broke the normalisation of four channels)
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, (16, 40, 40, 4), dtype=np.uint8)
    y = (X[:, :, :, 3].mean(axis=(1, 2)) > 127).astype(int)[:, None]
    channels = ("red", "green", "blue", "yellow")
    params = dict(arch="test_resnet", epochs=1, batch_size=8, lr=0.01, tta=(), random_state=0, channels=channels)
    shown = {}
    for name, end in (("hwc", []), ("chw", [ToTensorV2()])):
        make = A.Compose([A.Resize(32, 32), *end])
        est = ImageMultiLabel(**params, train_transform=make, eval_transform=make).fit(X, y)
        shown[name] = est.predict_proba(X)
    np.testing.assert_array_equal(shown["chw"], shown["hwc"])
    # a transform whose output has no axis of the network's four channels is refused, naming its shape
    odd = A.Compose([A.Resize(32, 32), A.Lambda(image=three_channels)])
    with pytest.raises(ContractError, match=r"image of shape \(32, 32, 3\), and the network takes 4 channels"):
        ImageMultiLabel(**params, train_transform=odd, eval_transform=odd).fit(X, y)
