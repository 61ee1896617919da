"""`python -m pipeline new` on image-classification downloads: what it infers, what it refuses, and runs of the
generated competitions (timm's tiny test network from random init: `--preset fast`) that write valid submissions."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.dog_breeds.sample import write_sample as write_dogs
from competitions.leaves.sample import write_sample as write_leaves
from pipeline.cli import main
from pipeline.contract import load_competition


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def run(tmp_path: Path, name: str, data: Path, *extra: str) -> dict:
    """`run --preset fast` of a generated competition; the summary of the run folder it made."""
    args = ["run", str(tmp_path / "comps" / name), "--data", str(data), "--preset", "fast", "--quiet", *extra]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "runs" / name).glob("*")
    return json.loads((run_dir / "summary.json").read_text())


def png(label: int, rng: np.random.Generator, size: int = 32) -> bytes:
    """One PNG of pipeline.vision.synthetic's class-coloured shapes."""
    import cv2

    from pipeline.vision.synthetic import make_image

    ok, buf = cv2.imencode(".png", cv2.cvtColor(make_image(label, 2, size, rng), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def inner_zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def cactus_zip(path: Path, n_train: int = 60, n_test: int = 20, sample_value: str = "0.5") -> Path:
    """Aerial Cactus's layout: train.csv (id,has_cactus; ids with their .png), train.zip and test.zip holding
    train/<id> and test/<id>, sample_submission.csv (id,has_cactus) whose values are no class."""
    rng = np.random.default_rng(0)
    y = rng.permutation(np.arange(n_train) % 2)
    train_ids = [f"{rng.bytes(8).hex()}.png" for _ in range(n_train)]
    test_ids = [f"{rng.bytes(8).hex()}.png" for _ in range(n_test)]
    train = {f"train/{i}": png(int(k), rng) for i, k in zip(train_ids, y, strict=True)}
    test = {f"test/{i}": png(int(rng.integers(0, 2)), rng) for i in test_ids}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", pd.DataFrame({"id": train_ids, "has_cactus": y}).to_csv(index=False))
        zf.writestr("sample_submission.csv", "id,has_cactus\n" + "".join(f"{i},{sample_value}\n" for i in test_ids))
        zf.writestr("train.zip", inner_zip(train))
        zf.writestr("test.zip", inner_zip(test))
    return path


def test_a_dog_breeds_download_becomes_a_probability_competition_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    write_dogs(tmp_path / "dog-breed-identification")
    assert new(tmp_path, "dogs", tmp_path / "dog-breed-identification") == 0
    out = capsys.readouterr().out
    assert "metric log_loss" in out and "labels.csv's id names train/<id>.jpg" in out
    module = load_competition(str(tmp_path / "comps" / "dogs"))
    assert module.KAGGLE_SLUG == "dog-breed-identification" and module.CALIBRATE == "temperature"
    files = module.FILES
    assert (files.train_csv, files.label_column, files.probabilities) == ("labels.csv", "breed", True)
    assert module.EXPECTED_FILES == ["labels.csv", "sample_submission.csv", "test", "train"]
    s = run(tmp_path, "dogs", tmp_path / "dog-breed-identification")
    sub = pd.read_csv(s["published"])
    sample = pd.read_csv(tmp_path / "dog-breed-identification" / "sample_submission.csv")
    assert list(sub.columns) == list(sample.columns) and sub["id"].tolist() == sample["id"].tolist()
    assert np.allclose(sub.iloc[:, 1:].sum(axis=1), 1.0, atol=1e-5)
    assert s["cv"] < np.log(5) - 0.2  # better than the uniform guess over the 5 breeds


def test_a_leaves_download_of_image_paths_becomes_a_label_competition_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_leaves(tmp_path / "classify-leaves")
    assert new(tmp_path, "leafy", tmp_path / "classify-leaves") == 0
    module = load_competition(str(tmp_path / "comps" / "leafy"))
    files = module.FILES
    assert (files.id_column, files.image_path, files.test_csv) == ("image", "{}", "test.csv")
    assert not files.probabilities and not files.positive
    assert module.METRIC.name == "accuracy" and not hasattr(module, "CALIBRATE")
    s = run(tmp_path, "leafy", tmp_path / "classify-leaves")
    sub = pd.read_csv(s["published"])
    train = pd.read_csv(tmp_path / "classify-leaves" / "train.csv")
    assert list(sub.columns) == ["image", "label"] and set(sub["label"]) <= set(train["label"])
    assert s["cv"] > 0.2 + 0.2  # five balanced species: chance is 0.2


def test_a_cactus_download_with_inner_zips_asks_for_one_probability_scored_by_roc_auc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    z = cactus_zip(tmp_path / "aerial-cactus-identification.zip")
    assert new(tmp_path, "cactus", z) == 0
    assert "submission: the probability of has_cactus 1 (the second of 0, 1)" in capsys.readouterr().out
    module = load_competition(str(tmp_path / "comps" / "cactus"))
    files = module.FILES
    assert (files.positive, files.metric, files.image_path, files.test_image_path) == (
        True,
        "roc_auc",
        "train/{}",
        "test/{}",
    )
    assert module.EXPECTED_FILES == ["sample_submission.csv", "test", "train", "train.csv"]
    s = run(tmp_path, "cactus", z)
    sub = pd.read_csv(s["published"])
    assert list(sub.columns) == ["id", "has_cactus"] and sub["has_cactus"].between(0, 1).all()
    assert sub["has_cactus"].nunique() > 1 and s["cv"] > 0.7  # ROC AUC: chance is 0.5
    # predict: a new test set alone (the sample submission and test.zip) gives the run's submission, byte for byte
    only_test = tmp_path / "only_test.zip"
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(only_test, "w") as dst:
        for name in ("sample_submission.csv", "test.zip"):
            dst.writestr(name, src.read(name))
    assert main(["predict", s["run_dir"], "--data", str(only_test), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == Path(s["published"]).read_bytes()
    # validate: a probability outside [0, 1] is refused, naming the column
    bad = sub.assign(has_cactus=sub["has_cactus"] + 1.0)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    data_dir = tmp_path / "data" / "aerial-cactus-identification"  # the full download, beside the test set alone
    args = ["validate", str(tmp_path / "comps" / "cactus"), str(tmp_path / "bad.csv"), "--data", str(data_dir)]
    capsys.readouterr()
    assert main(args) == 2
    assert "has_cactus" in capsys.readouterr().err


def test_binary_labels_are_labels_unless_the_metric_asks_for_a_probability(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    z = cactus_zip(tmp_path / "cactus.zip", sample_value="0")
    assert new(tmp_path, "binary_labels", z) == 0
    assert "--metric roc_auc writes the probability of has_cactus 1" in capsys.readouterr().out
    module = load_competition(str(tmp_path / "comps" / "binary_labels"))
    assert (module.METRIC.name, module.FILES.positive) == ("accuracy", False)
    assert new(tmp_path, "binary_auc", z, "--metric", "roc_auc") == 0
    module = load_competition(str(tmp_path / "comps" / "binary_auc"))
    assert (module.METRIC.name, module.FILES.positive) == ("roc_auc", True)
    assert new(tmp_path, "binary_loss", z, "--metric", "log_loss") == 0
    module = load_competition(str(tmp_path / "comps" / "binary_loss"))
    assert (module.METRIC.name, module.FILES.metric, module.CALIBRATE) == ("log_loss", "log_loss", "temperature")


def test_cifar_s_numbered_images_are_found_in_their_own_folder(tmp_path: Path) -> None:
    # CIFAR-10: trainLabels.csv ids 1..N, test ids 1..M > N, so test/ also holds a file for every training id
    rng = np.random.default_rng(1)
    data = tmp_path / "cifar-10"
    for folder, n in (("train", 12), ("test", 20)):
        (data / folder).mkdir(parents=True)
        for i in range(1, n + 1):
            (data / folder / f"{i}.png").write_bytes(png(i % 2, rng))
    pd.DataFrame({"id": range(1, 13), "label": ["cat", "dog"] * 6}).to_csv(data / "trainLabels.csv", index=False)
    pd.DataFrame({"id": range(1, 21), "label": "cat"}).to_csv(data / "sampleSubmission.csv", index=False)
    assert new(tmp_path, "cifar_like", data) == 0
    files = load_competition(str(tmp_path / "comps" / "cifar_like")).FILES
    assert (files.image_path, files.test_image_path) == ("train/{}.png", "test/{}.png")
    assert files.train_csv == "trainLabels.csv"


def test_new_says_how_the_classes_are_spread_and_when_labels_are_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Planet's tags are read as tags by default (tests/test_new_image_targets.py); --metric accuracy asks for one
    # class per combination, as `new` read them before
    rng = np.random.default_rng(4)
    data = tmp_path / "planet"
    (data / "train-jpg").mkdir(parents=True)
    tags = ["clear primary", "haze primary", "clear primary water"] * 3 + ["cloudy"]
    for i in range(12):
        (data / "train-jpg" / f"train_{i}.png").write_bytes(png(i % 2, rng, 8))
    labels = pd.DataFrame({"image_name": [f"train_{i}" for i in range(10)], "tags": tags})
    labels.to_csv(data / "train_v2.csv", index=False)
    pd.DataFrame({"image_name": ["train_10", "train_11"], "tags": "clear primary"}).to_csv(
        data / "sample_submission_v2.csv", index=False
    )
    assert new(tmp_path, "planet", data, "--metric", "accuracy") == 0
    out = capsys.readouterr().out
    assert "classes: 4, from 3 images (clear primary) to 1 (cloudy)" in out
    assert "tags holds several space-separated tags a row: each combination is read as one class" in out


def test_the_generated_file_passes_ruff(tmp_path: Path) -> None:
    write_dogs(tmp_path / "dogs")
    assert new(tmp_path, "dogs_ruff", tmp_path / "dogs") == 0
    path = tmp_path / "comps" / "dogs_ruff" / "__init__.py"
    config = Path(__file__).resolve().parent.parent / "pyproject.toml"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--config", str(config), str(path)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr


def test_a_table_beside_photos_is_a_tabular_competition(tmp_path: Path) -> None:
    # PetFinder's layout: train.csv and test.csv of several columns, and a folder of photos per row
    rng = np.random.default_rng(3)
    data = tmp_path / "petfinder"
    (data / "photos").mkdir(parents=True)
    n = 40
    for i in range(n + 10):
        (data / "photos" / f"p{i}.png").write_bytes(png(i % 2, rng, 8))
    frame = pd.DataFrame({"PetID": [f"p{i}" for i in range(n + 10)], "Age": rng.integers(1, 50, n + 10)})
    frame["Fee"] = rng.integers(0, 100, n + 10)
    train = frame.head(n).assign(Speed=rng.integers(0, 2, n))
    train.to_csv(data / "train.csv", index=False)
    frame.tail(10).to_csv(data / "test.csv", index=False)
    frame.tail(10)[["PetID"]].assign(Speed=0).to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "pets", data) == 0
    module = load_competition(str(tmp_path / "comps" / "pets"))
    assert (module.TARGET, module.TASK) == ("Speed", "binary")


def seedlings(data: Path, n_train: int = 40, n_test: int = 10, flat: bool = False) -> None:
    """Plant Seedlings' layout: train/<species>/<image>.png (flat: train/<image>.png, no label anywhere),
    test/<image>.png, sample_submission.csv (file, species)."""
    rng = np.random.default_rng(2)
    for i in range(n_train):
        folder = data / "train" / ("" if flat else ("Black-grass", "Charlock")[i % 2])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.png").write_bytes(png(i % 2, rng))
    (data / "test").mkdir()
    for i in range(n_test):
        (data / "test" / f"t{i}.png").write_bytes(png(i % 2, rng))
    pd.DataFrame({"file": [f"t{i}.png" for i in range(n_test)], "species": "Charlock"}).to_csv(
        data / "sample_submission.csv", index=False
    )


def test_a_folder_per_class_download_becomes_a_label_competition_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused ("Folders of images per class (train/<class>/...) are not read: write such a CSV")
    monkeypatch.chdir(tmp_path)
    seedlings(tmp_path / "plant-seedlings-classification")
    assert new(tmp_path, "seedlings", tmp_path / "plant-seedlings-classification") == 0
    assert "images: train/<class>/, an image's folder its class" in capsys.readouterr().out
    files = load_competition(str(tmp_path / "comps" / "seedlings")).FILES
    assert (files.train_csv, files.class_folders, files.image_path, files.test_image_path) == (
        "train",
        True,
        "{}",
        "test/{}",
    )
    s = run(tmp_path, "seedlings", tmp_path / "plant-seedlings-classification")
    sub = pd.read_csv(s["published"])
    assert list(sub.columns) == ["file", "species"] and set(sub["species"]) <= {"Black-grass", "Charlock"}
    assert sub["species"].nunique() == 2 and s["cv"] > 0.7  # two balanced species: chance is 0.5


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no labels", "lists the training images (two columns: the image, as the sample submission's file names it"),
        ("metric", "--metric rmse: a submission of probabilities (sample_submission.csv) is scored by log_loss"),
        ("table flag", "holds images: --time are for tables"),
        ("image missing", "labels.csv line 2: id"),
    ],
)
def test_refusals_name_what_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str) -> None:
    data, extra = tmp_path / "download", []
    if case == "no labels":
        seedlings(data, 6, 6, flat=True)
    else:
        write_dogs(data)
    if case == "metric":
        extra = ["--metric", "rmse"]
    elif case == "table flag":
        extra = ["--time", "day"]
    elif case == "image missing":
        first = pd.read_csv(data / "labels.csv")["id"][0]
        (data / "train" / f"{first}.jpg").unlink()
    assert new(tmp_path, "refused", data, *extra) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "comps" / "refused").exists()
