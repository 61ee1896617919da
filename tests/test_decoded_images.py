"""The process's store of decoded images: a k-fold image run decodes each image once, and predicts the same."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.vision.data import ImageReadError, read_image
from pipeline.vision.decoded import DecodedImages, store
from pipeline.vision.synthetic import write_images


def pngs(folder: Path, n: int, size: int = 8) -> list[str]:
    names = [f"{i}.png" for i in range(n)]
    write_images(folder, names, np.arange(n) % 2, 2, size, 0)
    return [str(folder / name) for name in names]


def test_held_images_are_decoded_once_and_equal_a_fresh_decode(tmp_path):
    paths = pngs(tmp_path, 6)
    images = DecodedImages()
    first = images.stack(paths[:4])
    again = images.stack(paths[2:])
    assert images.decodes == 6  # rows 2 and 3 came from memory the second time
    np.testing.assert_array_equal(first, np.stack([read_image(p) for p in paths[:4]]))
    np.testing.assert_array_equal(again, np.stack([read_image(p) for p in paths[2:]]))
    assert images.nbytes == 6 * 8 * 8 * 3


def _record_pids(monkeypatch: pytest.MonkeyPatch, pids: Path) -> None:
    """The store's decodes write their process id to `pids`, one line per image (from workers too)."""
    import pipeline.vision.decoded as decoded

    def read_and_say_where(path: str) -> np.ndarray:
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        return read_image(path)

    monkeypatch.setattr(decoded, "read_image", read_and_say_where)


def test_many_images_decoded_by_loader_workers_equal_those_decoded_here(tmp_path, monkeypatch):
    import pipeline.vision.decoded as decoded

    monkeypatch.setattr(decoded, "PARALLEL_FROM", 4)
    pids = tmp_path / "pids.txt"
    _record_pids(monkeypatch, pids)
    paths = pngs(tmp_path / "images", 40)
    held = DecodedImages()
    parallel = held.stack(paths[:30], workers=2)
    assert held.decodes == 30
    # the first image here (its size decides whether the set fits the budget), the other 29 in two workers
    assert sorted(collections.Counter(pids.read_text().split()).values()) == [1, 14, 15]
    np.testing.assert_array_equal(parallel, DecodedImages().stack(paths[:30]))
    # held ones come from memory, the others from the workers, in the order asked
    np.testing.assert_array_equal(held.stack(paths[::-1], workers=2), np.stack([read_image(p) for p in paths[::-1]]))
    assert held.decodes == 40
    # cut (a detector's inputs) in the workers too: the same pixels as cut here, the decoded sizes beside them, and
    # held apart from the images as decoded
    cut = held.cut(paths, 4, workers=2)
    assert held.decodes == 80 and [(w, h) for _, w, h in cut] == [(8, 8)] * 40
    for (image, _, _), path in zip(cut, paths, strict=True):
        np.testing.assert_array_equal(image, decoded.downsized(read_image(path), 4))
        assert image.shape == (4, 4, 3)
    Path(paths[20]).write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="20.png"):  # named from inside a worker too
        DecodedImages().stack(paths, workers=2)


def test_few_images_go_to_workers_only_when_decoding_them_here_would_be_slow(tmp_path, monkeypatch):
    import pipeline.vision.decoded as decoded

    pids = tmp_path / "pids.txt"
    _record_pids(monkeypatch, pids)
    paths = pngs(tmp_path / "images", 12)
    for seconds, processes in ((float("inf"), 1), (0.0, 3)):  # tiny PNGs here; large photos in the workers
        monkeypatch.setattr(decoded, "PARALLEL_SECONDS", seconds)
        pids.unlink(missing_ok=True)
        held = DecodedImages().stack(paths, workers=2)
        assert len(set(pids.read_text().split())) == processes
        np.testing.assert_array_equal(held, np.stack([read_image(p) for p in paths]))


def test_a_changed_file_is_decoded_again(tmp_path):
    paths = pngs(tmp_path, 2)
    images = DecodedImages()
    before = images.stack(paths)
    os.replace(pngs(tmp_path / "other", 2, size=8)[1], paths[0])  # a different image under the same name
    st = os.stat(paths[1])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    after = images.stack(paths)
    assert images.decodes == 3
    np.testing.assert_array_equal(after[0], read_image(paths[0]))
    assert not np.array_equal(after[0], before[0])


def test_the_budget_evicts_the_least_recently_used_and_refuses_what_cannot_fit(tmp_path):
    paths = pngs(tmp_path, 6)
    one = 8 * 8 * 3
    images = DecodedImages(max_bytes=4 * one)
    images.stack(paths[:2])
    images.stack(paths[2:4])
    images.stack(paths[:2])  # rows 0 and 1 are now the most recently used
    images.stack(paths[4:6])  # room is made by evicting rows 2 and 3
    assert images.nbytes == 4 * one and images.decodes == 6
    images.stack(paths[:2])
    assert images.decodes == 6
    images.stack(paths[2:4])
    assert images.decodes == 8
    assert images.stack(paths) is None  # six images exceed the budget: nothing is held for them
    images.resize(2 * one)
    assert images.nbytes == 2 * one


def test_the_default_budget_is_a_quarter_of_the_memory_shared_by_the_local_ranks(monkeypatch):
    from pipeline.vision import ImageClassifier
    from pipeline.vision.decoded import default_mb

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    alone = default_mb()
    assert 0 < alone <= memory // 4 + 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun's 4 processes on this machine hold 4 stores
    assert abs(default_mb() - alone / 4) <= 1
    assert ImageClassifier().cache_mb is None  # the runner leaves it alone unless --cache-mb is given


def test_images_of_several_sizes_are_held_as_a_list_within_the_budget(tmp_path):
    paths = pngs(tmp_path / "a", 2, size=8) + pngs(tmp_path / "b", 1, size=16)
    images = DecodedImages()
    held = images.images(paths)
    assert [im.shape for im in held] == [(8, 8, 3), (8, 8, 3), (16, 16, 3)] and images.nbytes == (64 + 64 + 256) * 3
    assert images.stack(paths) is None and images.decodes == 3  # one array needs one size
    small = DecodedImages(max_bytes=(64 + 64 + 255) * 3)
    assert small.images(paths) is None and small.nbytes == 0  # one byte short: nothing is held


def test_a_fit_on_images_of_several_sizes_decodes_each_once(tmp_path, monkeypatch):
    import albumentations as A

    from pipeline.vision import ImageClassifier

    paths = np.array(pngs(tmp_path / "a", 12, size=36) + pngs(tmp_path / "b", 12, size=44))
    y = np.arange(24) % 2
    resize = A.Compose([A.Resize(32, 32)])  # photos of any size to one: what the fine-tuning recipes do
    params = {"arch": "test_resnet", "num_classes": 2, "epochs": 3, "batch_size": 8, "lr": 0.01, "tta": ()}
    params["num_workers"] = 0
    params |= {"train_transform": resize, "eval_transform": resize}
    reads = _count_reads(monkeypatch)
    store().clear()
    held = ImageClassifier(**params).fit(paths, y)
    assert reads["n"] == 24  # not once an epoch
    streamed = ImageClassifier(**params, cache_images=False).fit(paths, y)
    assert reads["n"] == 24 + 3 * 24
    proba = held.predict_proba(paths)
    assert np.isfinite(proba).all()
    np.testing.assert_array_equal(proba, streamed.predict_proba(paths))


def test_a_missing_or_broken_file_is_named(tmp_path):
    paths = pngs(tmp_path, 3)
    Path(paths[1]).write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="1.png"):
        DecodedImages().stack(paths)
    Path(paths[1]).unlink()
    with pytest.raises(ImageReadError, match="1.png"):
        DecodedImages().stack(paths)


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every image read in this process, by the store or by a loader without workers, counted in the dict's "n"
    (detection's loader reads through the store's read_cut)."""
    import pipeline.vision.data as vdata
    import pipeline.vision.decoded as decoded

    reads = {"n": 0}

    def counting_read(path: str) -> np.ndarray:
        reads["n"] += 1
        return read_image(path)

    for module in (vdata, decoded):
        monkeypatch.setattr(module, "read_image", counting_read)
    return reads


def test_an_eval_transform_runs_on_the_held_images(tmp_path, monkeypatch):
    import albumentations as A

    from pipeline.vision import ImageClassifier

    # 32 px at the least: smaller, test_resnet's last stride-2 conv sees 1x1 maps, whose weight gradient torch's CPU
    # (oneDNN) kernel leaves unset at the taps that see only padding (random values, at times NaN)
    paths = np.array(pngs(tmp_path, 40, size=32))
    y = np.arange(40) % 2
    params = {"arch": "test_resnet", "num_classes": 2, "epochs": 1, "batch_size": 8, "lr": 0.01, "tta": ()}
    params["eval_transform"] = A.Compose([A.Resize(40, 40)])  # not the identity: it runs in the loader
    est = ImageClassifier(**params, num_workers=0).fit(paths[:24], y[:24])
    reads = _count_reads(monkeypatch)
    store().clear()
    first = est.predict_proba(paths[24:])
    again = est.predict_proba(paths[24:])
    assert reads["n"] == 16  # decoded for the first call only
    np.testing.assert_array_equal(first, again)
    assert np.isfinite(first).all()
    streamed = est.set_params(cache_images=False).predict_proba(paths[24:])
    assert reads["n"] == 32  # without the store every call decodes
    np.testing.assert_array_equal(first, streamed)


def _run(tmp_path: Path, tag: str, *extra: str) -> Path:
    from pipeline.cli import main

    args = ["run", "competitions/cifar10", "--sample", "--preset", "fast", "--set", "holdout=0", "--folds", "3"]
    # augmentation in the loader either way: on the device it needs the images in memory
    sets = ["--set", "epochs=1", "--set", "batch_size=32", "--set", "augment_on=loader"]
    assert main([*args, *sets, "--tag", tag, "--quiet", *extra]) == 0
    return next((tmp_path / "runs" / "cifar10").glob(f"*-{tag}*"))


def test_a_kfold_image_run_decodes_each_image_once_and_predicts_as_without_the_store(tmp_path, monkeypatch):
    from competitions.cifar10.sample import sample_labels

    reads = _count_reads(monkeypatch)  # no loader workers below: every read is counted
    monkeypatch.chdir(tmp_path)
    store().clear()
    held = _run(tmp_path, "held", "--num-workers", "0")
    n_train, n_test = (len(y) for y in sample_labels())
    # 3 folds: each image once, where every fold's training, validation and test rows used to be decoded anew
    assert reads["n"] == n_train + n_test
    reads["n"] = 0
    streamed = _run(tmp_path, "streamed", "--num-workers", "0", "--cache-mb", "0")
    # the option took effect: nothing held, and each fold read its training rows in the epoch's full batches of 32,
    # its validation rows for the epoch's score and again for the out-of-fold predictions, and every test image
    n_valid = n_train // 3
    assert store().nbytes == 0 and reads["n"] == 3 * ((n_train - n_valid) // 32 * 32 + 2 * n_valid + n_test)
    cv = [json.loads((run / "summary.json").read_text())["cv"] for run in (held, streamed)]
    assert cv[0] == cv[1]
    for kind in ("oof", "test"):
        for saved in (held / kind).glob("*.npy"):
            np.testing.assert_array_equal(np.load(saved), np.load(streamed / kind / saved.name))


def test_a_kfold_detection_run_decodes_each_image_once_and_predicts_as_without_the_store(tmp_path, monkeypatch):
    import pipeline.vision.data as vdata
    from competitions.cowboy_outfits.sample import N_TEST, N_TRAIN
    from pipeline.cli import main

    reads = _count_reads(monkeypatch)  # the store's decodes and the detection loader's, no workers below
    monkeypatch.setattr(vdata, "read_image", read_image)  # the per-fold plots' few example images are not counted
    monkeypatch.chdir(tmp_path)
    args = ["run", "competitions/cowboy_outfits", "--sample", "--set", "holdout=0", "--folds", "2"]
    args += ["--set", "epochs=2", "--set", "valid_loss=true", "--num-workers", "0", "--quiet"]
    runs, counted = {}, {}
    for tag, extra in (("held", []), ("streamed", ["--cache-mb", "0"])):
        store().clear()
        reads["n"] = 0
        assert main([*args, *extra, "--tag", tag]) == 0
        runs[tag], counted[tag] = next((tmp_path / "runs" / "cowboy_outfits").glob(f"*-{tag}*")), reads["n"]
    # each training and test image once (2 folds, 2 epochs), where before the store each fit decoded its training
    # rows and, every epoch, its validation rows for the loss and again for the mAP, then those rows for the
    # out-of-fold boxes and the whole test set
    assert counted["held"] == N_TRAIN + N_TEST
    # the option took effect: nothing held; each fold read its half of the training rows in 2 epochs, the other
    # half for 2 epochs' loss and mAP and once more for their boxes, and the test set
    assert store().nbytes == 0 and counted["streamed"] == 2 * (2 * N_TRAIN // 2 + 5 * N_TRAIN // 2 + N_TEST)
    cv = [json.loads((run / "summary.json").read_text())["cv"] for run in runs.values()]
    assert cv[0] == cv[1]
    for kind in ("oof", "test"):
        saved = sorted((runs["held"] / kind).glob("*.npy"))
        assert saved
        for path in saved:
            boxes = np.load(path)
            assert np.isfinite(boxes).any()  # some boxes found, so equal means equal boxes
            np.testing.assert_array_equal(boxes, np.load(runs["streamed"] / kind / path.name))
