"""Dog breeds: Kaggle's log loss, the sample's layout, load errors, the submission's columns, end to end with
temperature calibration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import preset_takes_effect, sample_fixtures, subprocess_env, written_submission

import competitions.dog_breeds as dogs
from competitions.dog_breeds.sample import SAMPLE_BREEDS, sample_spec, write_sample
from pipeline.config import apply_overrides, resolve_config
from pipeline.contract import ContractError, load_competition
from pipeline.submission import SubmissionError

sample_dir, data_dir = sample_fixtures(write_sample, "dog-breed-identification")


def test_contract_presets_and_search_space():
    import optuna

    module = load_competition("competitions/dog_breeds")
    assert module.KAGGLE_SLUG == "dog-breed-identification" and not module.METRIC.greater_is_better
    assert module.CALIBRATE == "temperature" and module.FOLDS == "stratified"
    for preset in ("cpu", "gpu_large", "fast"):
        preset_takes_effect(module, preset)
    cfg, _ = resolve_config(module, preset="fast", sets=["layer_decay=none", "tta=hflip"])
    assert cfg.layer_decay is None and cfg.tta == ("hflip",)
    trial = optuna.trial.FixedTrial(
        {
            "lr": 1e-4,
            "weight_decay": 0.02,
            "label_smoothing": 0.1,
            "layer_decay": 0.75,
            "drop_path": 0.1,
            "crop_scale": 0.4,
        }
    )
    cfg = apply_overrides(dogs.Config, dogs.search_space(trial), source="search_space")
    assert cfg.lr == 1e-4 and cfg.layer_decay == 0.75 and cfg.crop_scale == 0.4


def test_log_loss_is_kaggles_clipped_renormalised_log_loss():
    from sklearn.metrics import log_loss

    y = np.array([0, 2, 1, 1])
    pred = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.2, 0.0, 0.6],  # sums to 0.8 and has a zero: rescaled to [0.25, 0, 0.75]
            [1.0, 3.0, 0.0],  # unnormalised scores: rescaled to [0.25, 0.75, 0]
            [0.0, 1.0, 0.0],  # certain and right: clipped to 1 - 1e-15
        ]
    )
    reference = log_loss(y, pred / pred.sum(1, keepdims=True), labels=[0, 1, 2])
    assert dogs.score(y, pred) == pytest.approx(reference, rel=1e-9)
    by_hand = -np.mean(np.log([0.7, 0.75, 0.75, 1 - 1e-15]))
    assert dogs.score(y, pred) == pytest.approx(by_hand, rel=1e-12)
    # a zero on the true class costs -log(1e-15), not infinity
    assert dogs.score(np.array([1]), np.array([[1.0, 0.0]])) == pytest.approx(-np.log(1e-15))
    assert dogs.score(np.array([0, 1]), np.full((2, 4), 0.25)) == pytest.approx(np.log(4))


def test_sample_is_kaggles_layout_and_loads(sample_dir: Path):
    labels = pd.read_csv(sample_dir / "labels.csv")
    assert list(labels.columns) == ["id", "breed"] and len(labels) == 20
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in labels["id"])
    header = list(pd.read_csv(sample_dir / "sample_submission.csv", nrows=0).columns)
    assert header == ["id", *sorted(SAMPLE_BREEDS)]
    from PIL import Image

    sizes = set()
    for i in labels["id"]:
        with Image.open(sample_dir / "train" / f"{i}.jpg") as im:
            assert im.format == "JPEG"
            sizes.add(im.size)
    assert len(sizes) > 5  # varied sizes, not square
    data = dogs.load(dogs.Config(), sample_dir)
    spec = sample_spec(20, 6)
    assert data.classes == sorted(SAMPLE_BREEDS) and np.array_equal(data.y, spec["y"])
    assert list(data.test_ids) == list(spec["test_ids"]) and Path(data.X_test[0]).name == f"{spec['test_ids'][0]}.jpg"
    assert data.info["train_sizes"].shape == (20, 2)


def test_missing_image_unknown_breed_and_corrupt_jpeg_are_named(data_dir: Path):
    labels = pd.read_csv(data_dir / "labels.csv")
    victim = labels["id"].iloc[3]
    (data_dir / "train" / f"{victim}.jpg").unlink()
    with pytest.raises(ContractError, match=f"labels.csv line 5: image 'train/{victim}.jpg' not found"):
        dogs.load(dogs.Config(), data_dir)
    (data_dir / "train" / f"{victim}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ContractError, match=f"labels.csv line 5: image train/{victim}.jpg is not a readable image"):
        dogs.load(dogs.Config(), data_dir)
    test_id = pd.read_csv(data_dir / "sample_submission.csv")["id"].iloc[2]
    (data_dir / "test" / f"{test_id}.jpg").write_bytes(b"")
    labels.loc[6, "breed"] = "dingo"
    labels.to_csv(data_dir / "labels.csv", index=False)
    with pytest.raises(ContractError, match="labels.csv line 8 .*unknown breed 'dingo'; valid breeds .*: beagle, "):
        dogs.load(dogs.Config(), data_dir)
    labels.loc[6, "breed"] = "pug"
    labels.to_csv(data_dir / "labels.csv", index=False)
    (data_dir / "train" / f"{victim}.jpg").write_bytes((data_dir / "train" / f"{labels['id'][0]}.jpg").read_bytes())
    with pytest.raises(
        ContractError, match=f"sample_submission.csv line 4: image test/{test_id}.jpg is not a readable"
    ):
        dogs.load(dogs.Config(), data_dir)


def test_a_sample_header_out_of_alphabetical_order_is_the_submission_s(data_dir: Path, tmp_path: Path):
    sub = pd.read_csv(data_dir / "sample_submission.csv")
    order = ["pug", *sorted(SAMPLE_BREEDS)[:-1]]
    sub[["id", *order]].to_csv(data_dir / "sample_submission.csv", index=False)
    data = dogs.load(dogs.Config(), data_dir)
    assert data.classes == sorted(SAMPLE_BREEDS)  # the classes' indices stay alphabetical
    proba = np.random.default_rng(0).random((len(data.test_ids), 5))
    dogs.write_submission(data, proba, tmp_path / "sub.csv")
    dogs.validate(data, tmp_path / "sub.csv")
    written = pd.read_csv(tmp_path / "sub.csv")
    assert list(written.columns) == ["id", *order]  # the sample's order, each breed's own probabilities
    np.testing.assert_allclose(written["pug"], proba[:, 4] / proba.sum(1), rtol=1e-6)
    written[["id", *sorted(SAMPLE_BREEDS)]].to_csv(tmp_path / "sorted.csv", index=False)
    with pytest.raises(SubmissionError, match="in the sample submission's order; .*column 2: expected 'pug'"):
        dogs.validate(data, tmp_path / "sorted.csv")
    sub[["id", "pug", "pug", *sorted(SAMPLE_BREEDS)[:-1]]].to_csv(data_dir / "sample_submission.csv", index=False)
    with pytest.raises(ContractError, match="must be distinct"):
        dogs.load(dogs.Config(), data_dir)


def test_transforms_give_square_uint8_images_from_any_size():
    from pipeline.vision.synthetic import make_image

    rng = np.random.default_rng(0)
    cfg = dogs.Config(image_size=48)
    for shape in ((100, 60), (37, 150), (48, 48)):
        image = make_image(1, 5, max(shape), rng)[: shape[0], : shape[1]]
        for train in (True, False):
            out = dogs.transforms(cfg, train)(image=image)["image"]
            assert out.shape == (48, 48, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("competition", ["dog_breeds", "leaves"])
def test_transforms_average_the_pixels_they_shrink(competition: str):
    """Fine detail shrunk 4.1 times (1-px stripes, like fur or leaf veins) comes out as its average, as from the
    antialiased resize pretrained weights saw; a bilinear resize picks single stripes and aliases them."""
    import importlib

    import albumentations as A

    module = importlib.import_module(f"competitions.{competition}")
    stripes = np.zeros((410, 410, 3), np.uint8)
    stripes[:, ::2] = 255
    cfg = module.Config(image_size=100, crop_scale=1.0, color_jitter=0.0)
    out = module.transforms(cfg, False)(image=stripes)["image"].astype(float)
    assert abs(out.mean() - 127.5) < 3 and out.std() < 4  # 2 or 2.1 of the 4.1 stripes under a pixel white
    # training: with crop_scale 1 the random resized crop takes the whole image, and shrinks it the same way
    out = module.transforms(cfg, True)(image=stripes)["image"].astype(float)
    assert abs(out.mean() - 127.5) < 3 and out.std() < 4
    aliased = A.Resize(100, 100)(image=stripes)["image"].astype(float)  # what the transforms did before
    assert aliased.std() > 50


def test_submission_columns_are_id_and_sorted_breeds_and_validate(sample_dir: Path, tmp_path: Path):
    data, proba, sub = written_submission(dogs, sample_dir, tmp_path / "submission.csv")
    assert list(sub.columns) == ["id", *sorted(SAMPLE_BREEDS)]
    np.testing.assert_allclose(sub.iloc[:, 1:].to_numpy(), proba / proba.sum(1, keepdims=True), rtol=1e-6)
    assert list(sub["id"]) == list(data.test_ids)

    def broken(frame: pd.DataFrame, match: str) -> None:
        frame.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(SubmissionError, match=match):
            dogs.validate(data, tmp_path / "bad.csv")

    cols = list(sub.columns)
    swapped = sub[[cols[0], cols[2], cols[1], *cols[3:]]]
    broken(swapped, "breeds in the sample submission's order.*column 2: expected 'beagle'")
    broken(sub.drop(columns=["pug"]), "got 5 columns")
    broken(sub.assign(pug=sub["pug"] + 1.5), "column pug must lie in")
    broken(sub.assign(beagle=np.nan), "column beagle is empty")
    broken(sub.assign(beagle=np.inf), "column beagle has an infinite value")
    broken(sub.assign(id=sub["id"][::-1].to_numpy()), "not in the sample submission's order")
    broken(sub.iloc[:-1], "missing")
    zero = sub.copy()
    zero.iloc[1, 1:] = 0.0
    broken(zero, "line 3 has all probabilities 0")


def test_fast_models_and_calibrated_end_to_end_run(tmp_path: Path):
    cfg, _ = resolve_config(dogs, preset="fast")
    (name, est), *rest = dogs.models(cfg).items()
    assert not rest and name == "test_resnet" and est.arch == "test_resnet" and not est.pretrained
    env = subprocess_env()
    # heavy label smoothing makes the fold models underconfident: a temperature below 1 must then sharpen them and
    # improve the out-of-fold log loss, so the run takes the calibrated branch this test is about
    cmd = [sys.executable, "-m", "pipeline", "run", "competitions/dog_breeds", "--sample", "--preset", "fast"]
    cmd += ["--set", "label_smoothing=0.6"]
    result = subprocess.run([*cmd, "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "runs" / "dog_breeds").glob("*-sample"))
    summary = json.loads((run_dir / "summary.json").read_text())
    cal = summary["calibration"]
    assert cal["method"] == "temperature" and cal["applied"] and cal["out_of_fold"]
    assert cal["score_after"] < cal["score_before"] < np.log(5)  # the model beats the uniform prediction
    assert cal["temperature"] < 1 and all(t < 1 for t in cal["fold_temperatures"])  # underconfident: sharpened
    from pipeline.calibration import apply_temperature

    assert summary["cv"] == cal["score_after"]
    # the out-of-fold score: each fold's blended OOF rows at the temperature fitted on the other fold
    folds, oof = np.load(run_dir / "folds.npy"), np.load(run_dir / "oof" / "_blend.npy")
    y = np.asarray(dogs.load(cfg, tmp_path / "data" / "sample" / "dog_breeds").y)
    cal_oof = np.load(run_dir / "oof" / "_calibrated.npy")
    for f, t in enumerate(cal["fold_temperatures"]):
        np.testing.assert_allclose(cal_oof[folds == f], apply_temperature(oof[folds == f], t), rtol=1e-6)
    assert dogs.score(y, cal_oof) == pytest.approx(cal["score_after"], rel=1e-9)
    final = np.load(run_dir / "test" / "_calibrated.npy")
    # the temperature is applied to each fold model's test predictions, then they are averaged
    parts = [np.load(p)["test"] for p in sorted(run_dir.glob("parts/test_resnet/fold*.npz"))]
    assert len(parts) == 2 and cal["test_per_fold"]
    np.testing.assert_allclose(final, np.mean([apply_temperature(p, cal["temperature"]) for p in parts], axis=0))
    sample_sub = tmp_path / "data" / "sample" / "dog_breeds" / "sample_submission.csv"
    sub = pd.read_csv(run_dir / "submission.csv")
    assert list(sub.columns) == list(pd.read_csv(sample_sub, nrows=0).columns) == ["id", *sorted(SAMPLE_BREEDS)]
    np.testing.assert_allclose(sub.iloc[:, 1:].to_numpy(), final / final.sum(1, keepdims=True), rtol=1e-5, atol=1e-9)
    y_test = sample_spec()["y_test"]
    assert dogs.score(y_test, sub.iloc[:, 1:].to_numpy()) < np.log(5)
    assert json.loads((run_dir / "calibration.json").read_text()) == cal
