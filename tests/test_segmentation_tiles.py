"""Tiled segmentation (a recipe's `tile`, pipeline/segmentation/tiles.py): training on random crops that keep image
and masks aligned, predicting by blended sliding windows that give a per-pixel network's whole-image map exactly, and
a generated competition run with `--set tile=32`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from mask_downloads import tgs_download
from test_segmentation_model import shapes, smoke
from test_segmentation_run import final_oof

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.segmentation import rle
from pipeline.segmentation.data import SegDataset, make_transform
from pipeline.segmentation.estimator import Segmenter
from pipeline.vision.data import BatchNormalizer


def per_pixel(est: Segmenter, tile: int | None, overlap: float = 0.25) -> Segmenter:
    """`est` with a fixed 1x1 convolution for its network (each pixel's output a function of that pixel alone),
    ready to predict with `tile`."""
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, est.num_classes, 1).eval()
    est.set_params(tile=tile, tile_overlap=overlap)
    est.model_, est.runtime_ = model, est._runtime(None)
    est.normalizer_ = BatchNormalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "cpu", False)
    return est


@pytest.mark.parametrize(
    ("size", "tile", "overlap"),
    [
        ((64, 128), 32, 0.5),  # a step of 16: every window start on the step
        ((64, 128), 32, 0.25),  # a step of 24: the last window flush with the end, off the step
        ((72, 100), 32, 0.25),  # sides no multiple of the tile nor of the step
        ((96, 96), 96, 0.25),  # one window: the whole image
    ],
)
def test_sliding_windows_give_a_per_pixel_networks_whole_image_map(
    tmp_path: Path, size: tuple[int, int], tile: int, overlap: float
) -> None:
    X, _ = shapes(tmp_path, 4)
    whole = per_pixel(smoke(image_size=size, tta=True), None).predict(X)
    tiled = per_pixel(smoke(image_size=size, tta=True), tile, overlap).predict(X)
    assert tiled.shape == whole.shape == (4, 2 * 32 * 64)  # the grid's map, as the untiled path gives it
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


def test_windows_are_blended_towards_their_centres() -> None:
    from pipeline.segmentation.tiles import sliding_probs, window_weight

    weight = window_weight(32)
    assert weight[16, 16] > weight[16, 0] > 0 and weight[0, 0] > 0  # falls to the edges, never to 0
    # a network that answers each window with its number: where the windows at 0 and 24 overlap, pixel 31 leans to
    # the window whose centre is nearer (the second's, 8.5 pixels off against 15.5: weights 15/32 and 1/32)
    calls: list[torch.Tensor] = []

    def answer(v: torch.Tensor) -> torch.Tensor:
        calls.append(v)
        return v[:, :1] * 0 + torch.arange(len(v), dtype=torch.float32)[:, None, None, None]

    out = sliding_probs(answer, torch.zeros(1, 3, 32, 56), 32, 0.25, batch=8)
    assert out.shape == (1, 1, 32, 56) and len(calls) == 1 and len(calls[0]) == 2  # two windows, one forward
    assert out[0, 0, 5, 10] == 0 and out[0, 0, 5, 50] == 1 and out[0, 0, 5, 31] == pytest.approx(15 / 16)


def square_image(path: Path, size: int, seed: int) -> tuple[str, str]:
    """A noise image whose red channel is 255 exactly on a small square (its one mask), and the mask's cell."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 200, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    y0, x0 = int(rng.integers(0, size - 10)), int(rng.integers(0, size - 10))
    mask[y0 : y0 + 10, x0 : x0 + 10] = 1
    image[..., 0][mask > 0] = 255
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path), rle.encode(mask, "column")


def test_training_crops_are_tile_sized_aligned_and_often_hold_the_mask(tmp_path: Path) -> None:
    rows = [square_image(tmp_path / f"sq{i}.png", 128, i) for i in range(4)]
    paths, cells = [r[0] for r in rows], np.array([[r[1]] for r in rows], dtype=object)
    flips = make_transform(True, hflip=0.5, vflip=0.5, affine_p=0.0, color_p=0.0)
    ds = SegDataset(paths, cells, (128, 128), "column", flips, tile=32)
    held, corners = 0, set()
    for seed in range(50):
        for i in range(4):
            image, masks = ds[i, seed]
            assert image.shape == (32, 32, 3) and masks.shape == (1, 32, 32)
            assert torch.equal(masks[0] > 0, image[..., 0] == 255)  # the mask's pixels are the red square's
            held += int(masks.any())
            corners.add(image[:2, :2, 1].numpy().tobytes())
    assert len(corners) > 150  # the crops move about the images from seed to seed
    # a uniform 32 px crop of a 128 px image holds a 10 px square about 1 time in 5; half drawn around the mask
    assert held / 200 > 0.5
    again = SegDataset(paths, cells, (128, 128), "column", flips, tile=32)
    assert all(torch.equal(ds[1, s][0], again[1, s][0]) for s in range(5))  # a (row, seed) gives one crop


def test_crops_drawn_around_the_mask_find_a_small_object_as_often_as_a_large_one() -> None:
    from pipeline.segmentation.tiles import random_crop

    image, masks = np.zeros((128, 128, 3), np.uint8), np.zeros((128, 128, 1), np.uint8)
    masks[8:56, 8:56] = 1  # a large object: 2,304 pixels
    masks[110:112, 110:112] = 1  # a small one far from it: 4 pixels, which a pixel drawn at random almost never is
    rng = np.random.default_rng(0)
    small = 0
    for _ in range(400):
        _, crop = random_crop(image, masks, 32, rng, mask_p=1.0)
        small += int(crop.sum() == 4)  # the small object alone in the crop
    assert 0.35 < small / 400 < 0.65, small  # each object alike: about half the crops


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"tile": 48}, "tile 48: a multiple of 32"),
        ({"tile": 96}, "tile 96: larger than the working size 32x64"),
        ({"tile": 32, "tile_overlap": 1.0}, "tile_overlap 1.0"),
    ],
)
def test_a_tile_the_network_or_image_cannot_take_is_refused_naming_it(params: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        smoke(**params).check_params()


def test_a_run_with_tiles_writes_a_valid_submission_from_other_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, _ = tgs_download(tmp_path / "tgs", n_train=32, n_test=6, size=64)
    comps = tmp_path / "comps"
    assert main(["new", "seg_tiles_tgs", "--data", str(data), "--into", str(comps)]) == 0
    oofs, runs = {}, tmp_path / "runs" / "seg_tiles_tgs"
    for label, extra in (("whole", []), ("tiles", ["--set", "tile=32"])):
        before = set(runs.glob("*"))
        args = [
            "run",
            str(comps / "seg_tiles_tgs"),
            "--data",
            str(data),
            "--preset",
            "fast",
            "--quiet",
            "--set",
            "epochs=6",
            *extra,
        ]
        assert main(args) == 0
        (run_dir,) = set(runs.glob("*")) - before
        oofs[label] = final_oof(run_dir)
    module = load_competition(str(comps / "seg_tiles_tgs"))
    loaded = module.load(module.Config(), data)
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str, keep_default_na=False)
    assert module.validate(loaded, run_dir / "submission.csv") == int((sub.iloc[:, 1] != "").sum())
    assert oofs["tiles"].shape == oofs["whole"].shape
    assert not np.allclose(oofs["tiles"], oofs["whole"])


def test_the_time_kept_for_predictions_counts_every_window() -> None:
    from pipeline.segmentation.recipe import SegTrainConfig
    from pipeline.segmentation.trainer import SegTrainer

    # 96 px at tile 32, overlap 0.25: windows start at 0, 24, 48 and 64 on each side, 16 windows, each flipped for TTA
    est = Segmenter(encoder="test_resnet", pretrained=False, image_size=96, grid=(96, 96), tile=32, tta=True)
    assert est._runtime(None).predict_views == 2 * 16
    assert est.set_params(tile=None)._runtime(None).predict_views == 2
    # the forward the trainer times is one window of each image: a whole validation image is cut to it
    trainer = SegTrainer(SegTrainConfig(), est._runtime(None), None, tile=32)
    images = [torch.zeros((96, 96, 3), dtype=torch.uint8) for _ in range(3)]
    assert trainer.predict_input(images).shape == (3, 32, 32, 3)
