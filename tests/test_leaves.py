"""Classify Leaves: the 176 species, the sample's layout, load errors, species-name submissions, two blended archs
end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import preset_takes_effect, sample_fixtures, subprocess_env, written_submission

import competitions.leaves as leaves
from competitions.leaves.sample import SAMPLE_SPECIES, sample_labels, write_sample
from competitions.leaves.species import SPECIES
from pipeline.config import apply_overrides, resolve_config
from pipeline.contract import ContractError, load_competition
from pipeline.submission import SubmissionError

sample_dir, data_dir = sample_fixtures(write_sample, "classify-leaves")


def test_contract_presets_species_and_search_space():
    import optuna

    module = load_competition("competitions/leaves")
    assert module.KAGGLE_SLUG == "classify-leaves" and module.METRIC.greater_is_better
    assert len(SPECIES) == 176 == len(set(SPECIES)) and list(SPECIES) == sorted(SPECIES)
    assert all(s == s.lower() and " " not in s for s in SPECIES) and set(SAMPLE_SPECIES) <= set(SPECIES)
    for preset in ("cpu", "fast"):
        preset_takes_effect(module, preset)
        cfg, _ = resolve_config(module, preset=preset)
        assert list(module.models(cfg)) == [a.split(".")[0] for a in cfg.archs] and len(cfg.archs) == 2  # 2 blended
    default = leaves.Config()
    assert list(module.models(default)) == [a.split(".")[0] for a in default.archs] and len(default.archs) == 2
    params = {
        "lr": 3e-4,
        "weight_decay": 0.01,
        "label_smoothing": 0.05,
        "cutmix_alpha": 0.5,
        "layer_decay": 0.7,
        "crop_scale": 0.6,
    }
    cfg = apply_overrides(leaves.Config, leaves.search_space(optuna.trial.FixedTrial(params)), source="search_space")
    assert cfg.cutmix_alpha == 0.5 and cfg.lr == 3e-4


def test_sample_is_the_competitions_layout_and_loads(sample_dir: Path):
    from PIL import Image

    train = pd.read_csv(sample_dir / "train.csv")
    assert list(train.columns) == ["image", "label"] and train["image"].iloc[0] == "images/0.jpg"
    assert list(pd.read_csv(sample_dir / "test.csv").columns) == ["image"]
    sub = pd.read_csv(sample_dir / "sample_submission.csv")
    assert list(sub.columns) == ["image", "label"] and sub["image"].iloc[-1] == "images/25.jpg"
    with Image.open(sample_dir / "images" / "7.jpg") as im:
        assert im.format == "JPEG" and im.size == (224, 224)
    data = leaves.load(leaves.Config(), sample_dir)
    y, _ = sample_labels(20, 6)
    assert data.classes == sorted(SAMPLE_SPECIES) and np.array_equal(data.y, y)
    assert list(data.test_ids) == [f"images/{i}.jpg" for i in range(20, 26)]


def test_missing_image_unknown_label_corrupt_jpeg_and_test_mismatch_are_named(data_dir: Path):
    # a file named in another case is read as it is named (Linux opens no images/4.jpg for a 4.JPG); where two are,
    # both are named
    (data_dir / "images" / "4.jpg").rename(data_dir / "images" / "4.JPG")
    assert leaves.load(leaves.Config(), data_dir).X[4] == str(data_dir / "images" / "4.JPG")
    shutil.copyfile(data_dir / "images" / "4.JPG", data_dir / "images" / "4.Jpg")
    with pytest.raises(ContractError, match=r"line 6: image 'images/4.jpg' not found .*4.JPG and .*4.Jpg are there"):
        leaves.load(leaves.Config(), data_dir)
    (data_dir / "images" / "4.Jpg").unlink()
    # the likely causes named: an archive extracted one folder deeper
    (data_dir / "images" / "deeper").mkdir()
    (data_dir / "images" / "4.JPG").rename(data_dir / "images" / "deeper" / "4.jpg")
    with pytest.raises(ContractError, match=r"deeper/4.jpg is there: one folder deeper than the CSV says"):
        leaves.load(leaves.Config(), data_dir)
    (data_dir / "images" / "deeper" / "4.jpg").unlink()
    with pytest.raises(ContractError, match=r"train.csv line 6: image 'images/4.jpg' not found in \S+ \(1 missing"):
        leaves.load(leaves.Config(), data_dir)
    (data_dir / "images" / "4.jpg").write_bytes(b"GIF89a? no")
    with pytest.raises(ContractError, match="train.csv line 6: image images/4.jpg is not a readable image"):
        leaves.load(leaves.Config(), data_dir)
    shutil.copyfile(data_dir / "images" / "5.jpg", data_dir / "images" / "4.jpg")
    train = pd.read_csv(data_dir / "train.csv")
    train.loc[2, "label"] = "Quercus Montana"
    train.to_csv(data_dir / "train.csv", index=False)
    with pytest.raises(
        ContractError,
        match=r"train.csv line 4 \(images/2.jpg\): unknown label 'Quercus Montana'. Closest valid labels: "
        r"quercus_montana.*176 species",
    ):
        leaves.load(leaves.Config(), data_dir)
    train.loc[2, "label"] = "ulmus_rubra"
    train.to_csv(data_dir / "train.csv", index=False)
    pd.DataFrame({"image": [f"images/{i}.jpg" for i in range(20, 27)]}).to_csv(data_dir / "test.csv", index=False)
    with pytest.raises(ContractError, match=r"test.csv line 8: image 'images/26.jpg' is not in sample_submission.csv"):
        leaves.load(leaves.Config(), data_dir)
    pd.DataFrame({"image": [f"images/{i}.jpg" for i in range(21, 26)]}).to_csv(data_dir / "test.csv", index=False)
    with pytest.raises(ContractError, match=r"test.csv: its image lacks 'images/20.jpg', the image of sample_submi"):
        leaves.load(leaves.Config(), data_dir)


def test_submission_labels_are_species_names(sample_dir: Path, tmp_path: Path):
    data, proba, sub = written_submission(leaves, sample_dir, tmp_path / "submission.csv")
    assert list(sub.columns) == ["image", "label"] and set(sub["label"]) <= set(SPECIES)
    assert list(sub["label"]) == [sorted(SAMPLE_SPECIES)[k] for k in proba.argmax(1)]
    sub.loc[3, "label"] = "3"  # a class index instead of its name
    sub.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SubmissionError, match="column label has unknown value '3' at line 5"):
        leaves.validate(data, tmp_path / "bad.csv")
    assert leaves.score(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])) == 0.5


def test_models_are_one_estimator_per_arch():
    cfg, _ = resolve_config(leaves, preset="fast")
    models = leaves.models(cfg)
    assert list(models) == ["test_resnet", "test_convnext"]
    assert [m.arch for m in models.values()] == ["test_resnet", "test_convnext"]
    cfg, _ = resolve_config(leaves, preset="fast", sets=["pretrained_files=a.pth"])
    with pytest.raises(ContractError, match="give one per arch"):
        leaves.models(cfg)


def test_end_to_end_two_archs_blended_into_a_valid_submission(tmp_path: Path):
    env = subprocess_env()
    cmd = [sys.executable, "-m", "pipeline", "run", "competitions/leaves", "--sample", "--preset", "fast", "--quiet"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "runs" / "leaves").glob("*-sample"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["models"]) == {"test_resnet", "test_convnext"}
    assert summary["cv"] > 0.4 and summary.get("calibration") is None  # chance is 0.2; no CALIBRATE for accuracy
    assert sum(summary["blend"]["weights"].values()) == pytest.approx(1.0)
    sub = pd.read_csv(run_dir / "submission.csv")
    assert set(sub["label"]) <= set(SAMPLE_SPECIES)
    _, y_test = sample_labels()
    assert np.mean(sub["label"].to_numpy() == np.asarray(sorted(SAMPLE_SPECIES))[y_test]) > 0.4
