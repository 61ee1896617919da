"""`python -m pipeline new` on an image download whose training CSV holds photo metadata (SIIM-ISIC Melanoma 2020):
the image and the target picked by name, the other columns left aside, and its patient_id read as groups of images
that every fold keeps whole (a patient's moles photographed several times would otherwise be validated on what the
models trained on); the same groups for images answered by values or tags (CsvImageTargets.group_column)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_new_image_targets import QUICK, published
from test_new_images import new, png, run

from pipeline.contract import ContractError, load_competition
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.csv_targets import CsvImageTargets

SITES = ("torso", "head/neck", "lower extremity", "upper extremity", "")


def siim(root: Path, patients: int = 20, per_patient: int = 3, n_test: int = 20) -> Path:
    """SIIM-ISIC Melanoma 2020's layout: train.csv (image_name, patient_id, sex, age_approx,
    anatom_site_general_challenge, diagnosis, benign_malignant, target 0/1), test.csv (its first five columns),
    sample_submission.csv (image_name,target of 0.0), jpeg/train/ and jpeg/test/ of 32 px PNGs whose colour is the
    target. `per_patient` 1: every image its own patient."""
    rng = np.random.default_rng(7)
    n = patients * per_patient
    data = root / "siim-isic-melanoma-classification"
    for folder in ("train", "test"):
        (data / "jpeg" / folder).mkdir(parents=True)
    y = rng.permutation(np.arange(n) % 2)

    def table(count: int, first: int, patient_ids: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "image_name": [f"ISIC_{first + i:07d}" for i in range(count)],
                "patient_id": patient_ids,
                "sex": rng.choice(["male", "female"], count),
                "age_approx": rng.choice([35.0, 45.0, 55.0, 70.0], count),
                "anatom_site_general_challenge": rng.choice(SITES, count),
            }
        )

    train = table(n, 0, [f"IP_{1000 + i // per_patient}" for i in rng.permutation(n)])
    train["diagnosis"] = np.where(y == 1, "melanoma", rng.choice(["unknown", "nevus"], n))
    train["benign_malignant"] = np.where(y == 1, "malignant", "benign")
    train["target"] = y
    test = table(n_test, n, [f"IP_{9000 + i // 2}" for i in range(n_test)])
    for frame, folder, labels in ((train, "train", y), (test, "test", rng.integers(0, 2, n_test))):
        for image, label in zip(frame["image_name"], labels, strict=True):
            (data / "jpeg" / folder / f"{image}.png").write_bytes(png(int(label), rng))
    train.to_csv(data / "train.csv", index=False)
    test.to_csv(data / "test.csv", index=False)
    test[["image_name"]].assign(target=0.0).to_csv(data / "sample_submission.csv", index=False)
    return data


def test_a_siim_download_keeps_each_patient_s_images_in_one_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: the download read as a table (train.csv's target beside photo metadata), its photos left aside
    monkeypatch.chdir(tmp_path)
    data = siim(tmp_path)
    assert new(tmp_path, "grp_siim", data) == 0
    out = capsys.readouterr().out
    assert "submission: the probability of target 1 (the second of 0, 1)" in out
    assert "folds: stratified_group, each patient_id's images in one fold (20 patient_ids of 3 images each" in out
    assert "--groups none" in out and "train.csv's other 6 (patient_id, sex, age_approx" in out
    module = load_competition(str(tmp_path / "comps" / "grp_siim"))
    files = module.FILES
    assert isinstance(files, CsvImages) and files.positive and module.METRIC.name == "roc_auc"
    assert (files.id_column, files.label_column, files.group_column) == ("image_name", "target", "patient_id")
    assert (files.image_path, files.test_csv, module.FOLDS) == ("jpeg/train/{}.png", "test.csv", "stratified_group")
    train = pd.read_csv(data / "train.csv")
    loaded = module.load(module.Config(), data)
    assert list(loaded.groups) == list(train["patient_id"])  # one per training row, in load's order
    s = run(tmp_path, "grp_siim", data, *QUICK, "--set", "folds=2")
    sub = published(s, data / "sample_submission.csv")
    assert sub["target"].between(0, 1).all() and sub["target"].nunique() > 1
    assert s["cv"] > 0.5  # ROC AUC: chance is 0.5
    folds = np.load(Path(s["run_dir"]) / "folds.npy")
    per_patient = pd.Series(folds).groupby(train["patient_id"].to_numpy()).nunique()
    assert (per_patient == 1).all() and set(folds) == {0, 1}


@pytest.mark.parametrize(
    ("name", "flags", "folds"),
    [
        ("grp_alone", (), "stratified"),  # a patient per image: patient_id never repeats, no group of images
        ("grp_off", ("--groups", "none"), "stratified"),
        ("grp_named", ("--groups", "patient_id"), "stratified_group"),
    ],
)
def test_groups_only_where_a_column_groups_images(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, flags: tuple[str, ...], folds: str
) -> None:
    data = siim(tmp_path, patients=60, per_patient=1) if name == "grp_alone" else siim(tmp_path)
    assert new(tmp_path, name, data, *flags) == 0
    module = load_competition(str(tmp_path / "comps" / name))
    grouped = folds == "stratified_group"
    assert folds == module.FOLDS and (module.FILES.group_column == "patient_id") == grouped
    assert (module.load(module.Config(), data).groups is not None) == grouped
    assert ("folds: stratified_group" in capsys.readouterr().out) == grouped


def test_groups_refusals_name_the_column(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = siim(tmp_path)
    assert new(tmp_path, "grp_bad", data, "--groups", "patient") == 2
    err = capsys.readouterr().err
    assert "--groups patient: not a column of train.csv beside its images and labels; its others: patient_id" in err
    assert not (tmp_path / "comps" / "grp_bad").exists()


def test_groups_are_refused_for_a_table_and_a_column_the_training_csv_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--groups names a column grouping images; a table refuses it, and images answered by values refuse a column
    their training CSV lacks (and write nothing)."""
    from test_image_targets import pawpularity

    table = tmp_path / "table"
    table.mkdir()
    train = pd.DataFrame({"id": range(40), "x": np.arange(40) % 7, "y": np.arange(40) % 2})
    train.to_csv(table / "train.csv", index=False)
    pd.DataFrame({"id": range(40, 50), "x": 1}).to_csv(table / "test.csv", index=False)
    pd.DataFrame({"id": range(40, 50), "y": 0}).to_csv(table / "sample_submission.csv", index=False)
    assert new(tmp_path, "grp_table", table, "--groups", "x") == 2
    assert "--groups is for image downloads" in capsys.readouterr().err
    values, _ = pawpularity(tmp_path / "paw", n_train=24, n_test=6)
    assert new(tmp_path, "grp_values", values, "--groups", "Eyez") == 2
    err = capsys.readouterr().err
    assert "--groups Eyez: not a column of train.csv beside its images and values; its others: Eyes, Blur" in err
    assert not (tmp_path / "comps").exists() or not any((tmp_path / "comps").iterdir())


def patients_download(root: Path, kind: str, patients: int = 12, per_patient: int = 2) -> Path:
    """A download answered by values (PetFinder's layout) or tags (Planet's) whose train.csv also holds patient_id,
    each patient's images on consecutive rows of a shuffled order."""
    from test_image_targets import pawpularity, tagged

    n = patients * per_patient
    data = pawpularity(root, n_train=n, n_test=6)[0] if kind == "values" else tagged(root, True, n, 6)[0]
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    order = np.random.default_rng(3).permutation(n)
    train.insert(1, "patient_id", [f"PT_{100 + i // per_patient}" for i in order])
    train.to_csv(data / "train.csv", index=False)
    return data


@pytest.mark.parametrize("kind", ["values", "tags"])
def test_images_answered_by_values_or_tags_keep_each_patient_in_one_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, kind: str
) -> None:
    # before: a training CSV of values or tags and patient_id got folds drawn image by image (FOLDS "kfold"), a
    # patient's photos validated by models trained on the patient's other photos; --groups was refused
    monkeypatch.chdir(tmp_path)
    data = patients_download(tmp_path / "download", kind)
    name = f"grp_targets_{kind}"
    assert new(tmp_path, name, data) == 0
    out = capsys.readouterr().out
    assert "folds: group, each patient_id's images in one fold (12 patient_ids of 2 images each" in out
    assert 'FOLDS = "kfold") draws the images one by one' in out
    module = load_competition(str(tmp_path / "comps" / name))
    assert isinstance(module.FILES, CsvImageTargets) and module.FOLDS == "group"
    assert module.FILES.group_column == "patient_id"
    train = pd.read_csv(data / "train.csv")
    assert list(module.load(module.Config(), data).groups) == list(train["patient_id"])
    s = run(tmp_path, name, data, "--folds", "2", "--set", "epochs=1", "--set", "batch_size=8")
    published(s, data / "sample_submission.csv")
    folds = np.load(Path(s["run_dir"]) / "folds.npy")
    per_patient = pd.Series(folds).groupby(train["patient_id"].to_numpy()).nunique()
    assert (per_patient == 1).all() and set(folds) == {0, 1}


def test_group_column_of_images_answered_by_values_is_checked_as_csv_images_checks_it(tmp_path: Path) -> None:
    data = patients_download(tmp_path / "download", "values")
    assert new(tmp_path, "grp_checked", data, "--groups", "patient_id") == 0
    module = load_competition(str(tmp_path / "comps" / "grp_checked"))
    train = pd.read_csv(data / "train.csv", dtype=str)
    train.loc[4, "patient_id"] = ""  # a photo of no known patient: a group of its own, as CsvImages reads it
    train.to_csv(data / "train.csv", index=False)
    groups = module.load(module.Config(), data).groups
    assert groups[4] not in set(np.delete(groups, 4)) and list(np.delete(groups, 4)) == list(
        train["patient_id"][train.index != 4]
    )
    renamed = dataclasses.replace(module.FILES, group_column="patient")
    with pytest.raises(ContractError, match=r"train.csv: no column 'patient' \(FILES' group_column, grouping its"):
        renamed.load(module.Config(), data)
