"""`python -m pipeline new` and `run` on image downloads laid out unlike the usual ones: test images split across two
folders (Planet's test-jpg/ and test-jpg-additional/), for tags and for classes, and a training CSV of values or tags
whose id column is named otherwise than the sample's (Id beside id); and what is refused, naming the line, the
folders tried or the columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_image_targets import TAGS, pawpularity, save, squares
from test_new_image_ids import QUICK as CLASS_QUICK
from test_new_image_ids import write_images
from test_new_image_targets import QUICK, published
from test_new_images import new, run

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.csv_targets import CsvImageTargets


def planet_split(data: Path, n_train: int = 48, n_test: int = 8, n_more: int = 6) -> list[str]:
    """Planet's layout: train_v2.csv (image_name,tags), train-jpg/train_<i>.jpg, the test images in
    test-jpg/test_<i>.jpg and test-jpg-additional/file_<i>.jpg, and sample_submission_v2.csv listing both, ids without
    their suffix; returns the sample's ids."""
    rng = np.random.default_rng(1)
    y = rng.random((n_train + n_test + n_more, 3)) < 0.5
    y[~y.any(axis=1), 0] = True
    names = [
        *(f"train-jpg/train_{i}" for i in range(n_train)),
        *(f"test-jpg/test_{i}" for i in range(n_test)),
        *(f"test-jpg-additional/file_{i}" for i in range(n_more)),
    ]
    for name, row in zip(names, y, strict=True):
        save(data / f"{name}.jpg", squares(rng, row))
    ids = [n.partition("/")[2] for n in names]
    cells = [" ".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in y[:n_train]]
    pd.DataFrame({"image_name": ids[:n_train], "tags": cells}).to_csv(data / "train_v2.csv", index=False)
    sample = pd.DataFrame({"image_name": ids[n_train:], "tags": "red green"})
    sample.to_csv(data / "sample_submission_v2.csv", index=False)
    return ids[n_train:]


def test_planet_test_images_split_across_two_folders_become_tags_that_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused ("sample_submission_v2.csv line 10: image_name 'file_0' names no image: test-jpg/file_0.jpg is
    # not in the download"): one folder held every test image
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "planet-understanding-the-amazon-from-space"
    test_ids = planet_split(data)
    assert new(tmp_path, "lay_planet_split", data) == 0
    out = capsys.readouterr().out
    assert (
        "sample_submission_v2.csv's image_name names test-jpg/<id>.jpg or test-jpg-additional/<id>.jpg (the first "
        "there)" in out
    )
    files = load_competition(str(tmp_path / "comps" / "lay_planet_split")).FILES
    assert isinstance(files, CsvImageTargets) and files.tags_column == "tags"
    assert (files.image_path, files.test_image_path) == (
        "train-jpg/{}.jpg",
        ("test-jpg/{}.jpg", "test-jpg-additional/{}.jpg"),
    )
    written = (tmp_path / "comps" / "lay_planet_split" / "__init__.py").read_text()
    assert 'test_image_path=("test-jpg/{}.jpg", "test-jpg-additional/{}.jpg"),' in written
    s = run(tmp_path, "lay_planet_split", data, *QUICK)
    sub = published(s, data / "sample_submission_v2.csv")
    assert sub["image_name"].tolist() == test_ids
    assert all(cell.split() and set(cell.split()) <= set(TAGS) for cell in sub["tags"])


def test_class_test_images_split_across_two_folders_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: refused ("sample_submission.csv line 6: id 'more0' names no image: test/more0.png is not in the download")
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "split-classes"
    write_images(data / "train", [f"tr{i}.png" for i in range(16)])
    write_images(data / "test", [f"te{i}.png" for i in range(4)], seed=1)
    write_images(data / "test_more", [f"more{i}.png" for i in range(3)], seed=2)
    labels = [("cat", "dog")[i % 2] for i in range(16)]
    pd.DataFrame({"id": [f"tr{i}" for i in range(16)], "label": labels}).to_csv(data / "train.csv", index=False)
    test_ids = [f"te{i}" for i in range(4)] + [f"more{i}" for i in range(3)]
    pd.DataFrame({"id": test_ids, "label": "cat"}).to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "lay_split_classes", data) == 0
    files = load_competition(str(tmp_path / "comps" / "lay_split_classes")).FILES
    assert isinstance(files, CsvImages) and files.test_image_path == ("test/{}.png", "test_more/{}.png")
    s = run(tmp_path, "lay_split_classes", data, *CLASS_QUICK)
    sub = pd.read_csv(s["published"], dtype=str)
    assert sub["id"].tolist() == test_ids and set(sub["label"]) <= {"cat", "dog"}


def test_class_training_images_nested_at_several_depths_are_found_under_their_folder_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no one folder holds every training image, each lies somewhere under train/ (as SIIM's DICOM tree): the deep
    # pattern train/**/{}.png finds each image by its name, and run trains and predicts on them
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "nested-classes"
    write_images(data / "train" / "a" / "x1", [f"tr{i}.png" for i in range(8)])
    write_images(data / "train" / "b", [f"tr{i}.png" for i in range(8, 12)], seed=3)
    write_images(data / "train" / "c" / "y" / "z", [f"tr{i}.png" for i in range(12, 16)], seed=4)
    write_images(data / "test", [f"te{i}.png" for i in range(4)], seed=1)
    labels = [("cat", "dog")[i % 2] for i in range(16)]
    pd.DataFrame({"id": [f"tr{i}" for i in range(16)], "label": labels}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": [f"te{i}" for i in range(4)], "label": "cat"}).to_csv(
        data / "sample_submission.csv", index=False
    )
    assert new(tmp_path, "lay_nested_classes", data) == 0
    files = load_competition(str(tmp_path / "comps" / "lay_nested_classes")).FILES
    assert isinstance(files, CsvImages) and (files.image_path, files.test_image_path) == (
        "train/**/{}.png",
        "test/{}.png",
    )
    s = run(tmp_path, "lay_nested_classes", data, *CLASS_QUICK)
    sub = pd.read_csv(s["published"], dtype=str)
    assert sub["id"].tolist() == [f"te{i}" for i in range(4)] and set(sub["label"]) <= {"cat", "dog"}


def renamed_pawpularity(data: Path) -> None:
    """PetFinder's layout (train.csv of Id, metadata and Pawpularity), its sample's id column named id."""
    pawpularity(data, n_train=24, n_test=6)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str).rename(columns={"Id": "id"})
    sample.to_csv(data / "sample_submission.csv", index=False)


def test_values_whose_training_csv_names_its_id_column_otherwise_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: a table (train.csv's ids, under Id, were not the sample's id column, so its photo metadata was read as
    # the features)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "petfinder-pawpularity-score"
    renamed_pawpularity(data)
    assert new(tmp_path, "lay_paw_renamed", data) == 0
    out = capsys.readouterr().out
    assert "image values (Pawpularity) of 24 images, id id, metric rmse" in out
    assert "columns: train.csv's Id; sample_submission.csv's id" in out
    assert "columns: train.csv's other 2 (Eyes, Blur) are not used by the image networks" in out
    files = load_competition(str(tmp_path / "comps" / "lay_paw_renamed")).FILES
    assert isinstance(files, CsvImageTargets)
    assert (files.id_column, files.train_id_column, files.columns) == ("id", "Id", ("Pawpularity",))
    written = (tmp_path / "comps" / "lay_paw_renamed" / "__init__.py").read_text()
    assert 'train_id_column="Id",  # the training CSV\'s' in written
    s = run(tmp_path, "lay_paw_renamed", data, *QUICK)
    sub = published(s, data / "sample_submission.csv")
    assert list(sub.columns) == ["id", "Pawpularity"] and np.isfinite(sub["Pawpularity"]).all()


def renamed_tags(data: Path, n_train: int = 12) -> None:
    """train.csv of image_id,tags (space-separated), train/<id>.png, test/<id>.png and a sample of id,tags."""
    rng = np.random.default_rng(2)
    y = rng.random((n_train + 4, 3)) < 0.5
    y[~y.any(axis=1), 0] = True
    ids = [f"img{i}" for i in range(n_train + 4)]
    for i, (name, row) in enumerate(zip(ids, y, strict=True)):
        save(data / ("train" if i < n_train else "test") / f"{name}.png", squares(rng, row))
    cells = [" ".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in y[:n_train]]
    pd.DataFrame({"image_id": ids[:n_train], "tags": cells}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": ids[n_train:], "tags": "red"}).to_csv(data / "sample_submission.csv", index=False)


def test_tags_whose_training_csv_names_its_id_column_otherwise_are_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: one class per combination of tags (CsvImages), with a note that tags need the sample's column names
    data = tmp_path / "renamed-tags"
    renamed_tags(data)
    assert new(tmp_path, "lay_tags_renamed", data) == 0
    assert "image tags (3 in tags) of 12 images, id id" in capsys.readouterr().out
    module = load_competition(str(tmp_path / "comps" / "lay_tags_renamed"))
    files = module.FILES
    assert isinstance(files, CsvImageTargets)
    assert (files.id_column, files.train_id_column, files.tags_column) == ("id", "image_id", "tags")
    loaded = module.load(module.Config(), data)
    assert [Path(p).name for p in loaded.X[:2]] == ["img0.png", "img1.png"] and loaded.y.shape == (12, 3)
    assert loaded.test_ids.tolist() == [f"img{i}" for i in range(12, 16)]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "in neither folder",
            "sample_submission_v2.csv line 10: image_name 'file_0' names no image: test-jpg/file_0.jpg or "
            "test-jpg-additional/file_0.jpg is not in the download (1 of 14 image_names name none).",
        ),
        (
            "in both folders",
            "sample_submission_v2.csv line 10: image_name 'file_0' names no image: test-jpg/file_0.jpg is not in the "
            "download (6 of 14 image_names name none); test-jpg-additional/file_0.jpg is there, but its folder also "
            "holds 1 image(s) found already (test_0: test-jpg/test_0.jpg and test-jpg-additional/test_0.jpg): an id's "
            "image must be in one folder only, remove the one not meant.",
        ),
    ],
)
def test_split_test_images_are_refused_naming_the_line_and_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str
) -> None:
    data = tmp_path / "download"
    planet_split(data, n_train=12)
    if case == "in neither folder":
        (data / "test-jpg-additional" / "file_0.jpg").unlink()
    else:
        (data / "test-jpg-additional" / "test_0.jpg").write_bytes((data / "test-jpg" / "test_0.jpg").read_bytes())
    assert new(tmp_path, "lay_refused", data) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "comps" / "lay_refused").exists()


def test_run_names_both_folders_of_a_missing_split_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "download"
    planet_split(data, n_train=12)
    assert new(tmp_path, "lay_split_missing", data) == 0  # the download was fine when new read it
    (data / "test-jpg-additional" / "file_2.jpg").unlink()
    capsys.readouterr()
    comp = str(tmp_path / "comps" / "lay_split_missing")
    assert main(["run", comp, "--data", str(data), "--preset", "fast", "--quiet"]) == 2
    expected = "sample_submission_v2.csv line 12: image 'test-jpg/file_2.jpg' (or 'test-jpg-additional/file_2.jpg')"
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("image listed twice", "train.csv line 14: image_id img1 is listed twice."),
        ("empty tags", "train.csv line 4 (img2): empty tags (1 row(s) without one); label the image"),
    ],
)
@pytest.mark.parametrize("command", ["new", "run"])
def test_errors_of_a_renamed_id_column_name_the_training_csvs_own(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str, command: str
) -> None:
    data = tmp_path / "download"
    renamed_tags(data)
    name = f"lay_renamed_{case.replace(' ', '_')}_{command}"
    assert new(tmp_path, name, data) == 0  # the download was fine when new read it
    files = load_competition(str(tmp_path / "comps" / name)).FILES
    assert isinstance(files, CsvImageTargets) and files.train_id_column == "image_id"
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    if case == "empty tags":
        train.loc[2, "tags"] = ""
    else:
        train = pd.concat([train, train.iloc[[1]]])  # line 14
    train.to_csv(data / "train.csv", index=False)
    capsys.readouterr()
    if command == "new":
        assert new(tmp_path, "lay_refused", data) == 2
    else:
        assert main(["run", str(tmp_path / "comps" / name), "--data", str(data), "--preset", "fast", "--quiet"]) == 2
    assert expected in capsys.readouterr().err


def test_values_whose_column_is_named_otherwise_than_the_samples_are_refused_as_values_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # train.csv of Id,Score beside a sample of id,Pawpularity: the answers are read from the sample's columns by name
    data = tmp_path / "download"
    renamed_pawpularity(data)
    train = pd.read_csv(data / "train.csv", dtype=str)
    train[["Id", "Pawpularity"]].rename(columns={"Pawpularity": "Score"}).to_csv(data / "train.csv", index=False)
    (data / "test.csv").unlink()
    assert new(tmp_path, "lay_refused", data, "--metric", "rmse") == 2
    assert (
        "--metric rmse scores values or tags, which `new` reads from the training CSV's column named as the sample "
        "submission's after its id (Pawpularity); train.csv's are Id, Score: name Score Pawpularity in train.csv."
    ) in capsys.readouterr().err
    assert new(tmp_path, "lay_score_classes", data) == 0
    assert (
        "warning: train.csv's Score holds values, read here as classes: `new` reads values from a column named as the "
        "sample submission's (Pawpularity); to learn values, name Score Pawpularity in train.csv"
    ) in capsys.readouterr().out
    train.to_csv(data / "train.csv", index=False)  # Pawpularity by name, its id still Id
    assert new(tmp_path, "lay_score_values", data, "--metric", "rmse") == 0
    assert isinstance(load_competition(str(tmp_path / "comps" / "lay_score_values")).FILES, CsvImageTargets)


def test_a_generated_targets_file_whose_training_csv_lacks_a_target_column_is_refused_by_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "download"
    renamed_pawpularity(data)
    assert new(tmp_path, "lay_paw_lacking", data) == 0
    train = pd.read_csv(data / "train.csv", dtype=str)
    train.rename(columns={"Pawpularity": "Score"}).to_csv(data / "train.csv", index=False)
    capsys.readouterr()
    comp = str(tmp_path / "comps" / "lay_paw_lacking")
    assert main(["run", comp, "--data", str(data), "--preset", "fast", "--quiet"]) == 2
    assert (
        "train.csv: no column 'Pawpularity'; the training CSV holds the sample submission's columns after its id by "
        "name (Pawpularity), and its columns are ['Id', 'Eyes', 'Blur', 'Score']."
    ) in capsys.readouterr().err
