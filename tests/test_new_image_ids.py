"""`python -m pipeline new` and `run` on image downloads whose ids name their images unlike the usual ones
(tests/test_new_images.py): a training CSV that names its columns otherwise than the sample submission, ids without
a suffix whose images mix .jpg and .jpeg in one folder, and ids whose suffix is in another case than the files'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_new_images import new, run

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition

# a run in seconds: timm's tiny test network from random init (--preset fast), two folds of two epochs
QUICK = ("--folds", "2", "--set", "epochs=2")


def encoded(label: int, rng: np.random.Generator, suffix: str) -> bytes:
    """One 16-pixel image of pipeline.vision.synthetic's class-coloured shapes, a JPEG for a .jpg or .jpeg name (in
    any case), else a PNG."""
    import cv2

    from pipeline.vision.synthetic import make_image

    image = cv2.cvtColor(make_image(label, 2, 16, rng), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg" if suffix.lower() in (".jpg", ".jpeg") else ".png", image)
    assert ok
    return buf.tobytes()


def write_images(folder: Path, names: list[str], seed: int = 0) -> None:
    """folder/<name> for each name, the image of class i % 2 for the i-th."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).write_bytes(encoded(i % 2, rng, Path(name).suffix))


def renamed_download(data: Path, train_header: tuple[str, str], n_train: int = 16, n_test: int = 6) -> list[str]:
    """train.csv of `train_header` (the image's id, its label: cat or dog), train/<id>.png, test/<id>.png and a
    sample submission of id,label; returns the test ids."""
    train_ids = [f"tr{i}" for i in range(n_train)]
    test_ids = [f"te{i}" for i in range(n_test)]
    write_images(data / "train", [f"{i}.png" for i in train_ids])
    write_images(data / "test", [f"{i}.png" for i in test_ids], seed=1)
    labels = [("cat", "dog")[i % 2] for i in range(n_train)]
    pd.DataFrame(dict(zip(train_header, (train_ids, labels), strict=True))).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": test_ids, "label": "cat"}).to_csv(data / "sample_submission.csv", index=False)
    return test_ids


def test_a_training_csv_naming_its_columns_otherwise_than_the_sample_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused ("cannot tell which CSV lists the training images (two columns: id, ..."): the training CSV had
    # to name its image column as the sample does, and its label column too
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "renamed-columns"
    test_ids = renamed_download(data, ("image_id", "category"))
    assert new(tmp_path, "img_renamed_cols", data) == 0
    out = capsys.readouterr().out
    assert "images: train.csv's image_id names train/<id>.png" in out
    assert "columns: train.csv's image_id, category; sample_submission.csv's id, label" in out
    files = load_competition(str(tmp_path / "comps" / "img_renamed_cols")).FILES
    assert (files.id_column, files.label_column, files.train_columns) == ("id", "label", ("image_id", "category"))
    written = (tmp_path / "comps" / "img_renamed_cols" / "__init__.py").read_text()
    assert 'train_id_column="image_id",' in written and 'train_label_column="category",' in written
    s = run(tmp_path, "img_renamed_cols", data, *QUICK)
    sub = pd.read_csv(s["published"], dtype=str)
    assert list(sub.columns) == ["id", "label"] and sub["id"].tolist() == test_ids
    assert set(sub["label"]) <= {"cat", "dog"}


def test_only_the_id_column_named_otherwise_is_stated_alone(tmp_path: Path) -> None:
    data = tmp_path / "renamed-id"
    renamed_download(data, ("image_id", "label"))
    assert new(tmp_path, "img_renamed_id", data) == 0
    module = load_competition(str(tmp_path / "comps" / "img_renamed_id"))
    assert (module.FILES.train_id_column, module.FILES.train_label_column) == ("image_id", None)
    loaded = module.load(module.Config(), data)
    assert [Path(p).name for p in loaded.X[:2]] == ["tr0.png", "tr1.png"] and loaded.y[:4].tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty label", "train.csv line 4 (tr2): empty category (1 row(s) without one); label the image"),
        ("image listed twice", "train.csv line 18: image_id tr1 is listed twice."),
    ],
)
@pytest.mark.parametrize("command", ["new", "run"])
def test_errors_of_a_renamed_training_csv_name_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str, command: str
) -> None:
    data = tmp_path / "download"
    renamed_download(data, ("image_id", "category"))
    if command == "run":  # the download was fine when new read it
        assert new(tmp_path, f"img_renamed_{case.replace(' ', '_')}", data) == 0
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    if case == "empty label":
        train.loc[2, "category"] = ""
    else:
        train = pd.concat([train, train.iloc[[1]]])  # line 18
    train.to_csv(data / "train.csv", index=False)
    capsys.readouterr()
    if command == "new":
        assert new(tmp_path, "refused", data) == 2
    else:
        comp = str(tmp_path / "comps" / f"img_renamed_{case.replace(' ', '_')}")
        assert main(["run", comp, "--data", str(data), "--preset", "fast", "--quiet", *QUICK]) == 2
    assert expected in capsys.readouterr().err


# the suffixes of 16 training images (tr0, tr3, ... .jpeg, the others .jpg) and of 6 test images (4 .jpg, 2 .jpeg)
MIXED = ([".jpeg" if i % 3 == 0 else ".jpg" for i in range(16)], [".jpg"] * 4 + [".jpeg"] * 2)


def mixed_download(data: Path, train_suffixes: list[str], test_suffixes: list[str]) -> list[str]:
    """train.csv (id,label: cat or dog) and a sample submission whose ids have no suffix, train/<id><suffix> and
    test/<id><suffix> with the suffixes given; returns the test ids."""
    train_ids = [f"tr{i}" for i in range(len(train_suffixes))]
    test_ids = [f"te{i}" for i in range(len(test_suffixes))]
    write_images(data / "train", [i + x for i, x in zip(train_ids, train_suffixes, strict=True)])
    write_images(data / "test", [i + x for i, x in zip(test_ids, test_suffixes, strict=True)], seed=1)
    labels = [("cat", "dog")[i % 2] for i in range(len(train_ids))]
    pd.DataFrame({"id": train_ids, "label": labels}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": test_ids, "label": "cat"}).to_csv(data / "sample_submission.csv", index=False)
    return test_ids


def test_ids_whose_images_mix_jpg_and_jpeg_in_one_folder_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused ("train.csv line 2: id 'tr0' names no image: train/tr0.jpg is not in the download"): an id named
    # its file by one pattern, train/{}.jpg
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "mixed-suffixes"
    test_ids = mixed_download(data, *MIXED)
    assert new(tmp_path, "img_mixed_suffixes", data) == 0
    assert "train.csv's id names train/<id>.jpg or train/<id>.jpeg (the first there)" in capsys.readouterr().out
    files = load_competition(str(tmp_path / "comps" / "img_mixed_suffixes")).FILES
    assert files.image_path == ("train/{}.jpg", "train/{}.jpeg")  # the commoner first
    assert files.test_image_path == ("test/{}.jpg", "test/{}.jpeg")
    written = (tmp_path / "comps" / "img_mixed_suffixes" / "__init__.py").read_text()
    assert 'image_path=("train/{}.jpg", "train/{}.jpeg"),' in written
    s = run(tmp_path, "img_mixed_suffixes", data, *QUICK)
    sub = pd.read_csv(s["published"], dtype=str)
    assert sub["id"].tolist() == test_ids and set(sub["label"]) <= {"cat", "dog"}


def test_a_suffix_first_seen_after_200_ids_is_found_too(tmp_path: Path) -> None:
    # new reads the first 200 ids for the patterns; the one .png among 250 .jpg files is past them
    data = tmp_path / "rare-suffix"
    mixed_download(data, [".jpg"] * 249 + [".png"], [".jpg"] * 2)
    assert new(tmp_path, "img_rare_suffix", data) == 0
    module = load_competition(str(tmp_path / "comps" / "img_rare_suffix"))
    assert module.FILES.image_path == ("train/{}.jpg", "train/{}.png")
    assert Path(module.load(module.Config(), data).X[-1]).name == "tr249.png"


@pytest.mark.parametrize("command", ["new", "run"])
def test_an_id_with_no_image_of_either_suffix_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    data = tmp_path / "download"
    mixed_download(data, *MIXED)
    if command == "run":  # the download was fine when new read it
        assert new(tmp_path, "img_mixed_missing", data) == 0
    (data / "train" / "tr3.jpeg").unlink()
    capsys.readouterr()
    if command == "new":
        assert new(tmp_path, "refused", data) == 2
        expected = "train.csv line 5: id 'tr3' names no image: train/tr3.jpg or train/tr3.jpeg is not in the download"
    else:
        comp = str(tmp_path / "comps" / "img_mixed_missing")
        assert main(["run", comp, "--data", str(data), "--preset", "fast", "--quiet", *QUICK]) == 2
        expected = "train.csv line 5: image 'train/tr3.jpg' (or 'train/tr3.jpeg') not found in"
    assert expected in capsys.readouterr().err


def case_download(data: Path) -> list[str]:
    """train.csv and a sample submission whose ids end in .png, the files of half the training images and of every
    other test image in .PNG; returns the test ids."""
    train_ids = [f"tr{i}.png" for i in range(16)]
    test_ids = [f"te{i}.png" for i in range(6)]
    write_images(data / "train", [i.replace(".png", ".PNG") if k % 2 == 0 else i for k, i in enumerate(train_ids)])
    write_images(data / "test", [i.replace(".png", ".PNG") if k % 2 == 1 else i for k, i in enumerate(test_ids)], 1)
    labels = [("cat", "dog")[i % 2] for i in range(len(train_ids))]
    pd.DataFrame({"id": train_ids, "label": labels}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": test_ids, "label": "cat"}).to_csv(data / "sample_submission.csv", index=False)
    return test_ids


def test_ids_whose_suffix_differs_in_case_from_the_files_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused ("train.csv line 2: id 'tr0.png' names no image: train/tr0.png is not in the download"); a
    # case-insensitive filesystem (macOS, Windows) opens tr0.png as tr0.PNG, Linux (and so Kaggle) does not: run reads
    # each file as it is named
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "upper-suffixes"
    test_ids = case_download(data)
    assert new(tmp_path, "img_case_suffixes", data) == 0
    out = capsys.readouterr().out
    assert "images: 8 of 16 train.csv ids name their file in another case (tr0.png: train/tr0.PNG)" in out
    assert "images: 3 of 6 sample_submission.csv ids name their file in another case (te1.png: test/te1.PNG)" in out
    module = load_competition(str(tmp_path / "comps" / "img_case_suffixes"))
    assert (module.FILES.image_path, module.FILES.test_image_path) == ("train/{}", "test/{}")
    loaded = module.load(module.Config(), data)
    assert [Path(p).name for p in loaded.X[:2]] == ["tr0.PNG", "tr1.png"]  # the files' own names
    s = run(tmp_path, "img_case_suffixes", data, *QUICK)
    sub = pd.read_csv(s["published"], dtype=str)
    assert sub["id"].tolist() == test_ids and set(sub["label"]) <= {"cat", "dog"}  # the sample's ids, as listed


@pytest.mark.parametrize("command", ["new", "run"])
def test_two_files_that_differ_from_an_id_only_in_case_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    data = tmp_path / "download"
    case_download(data)
    if command == "run":  # the download was fine when new read it
        assert new(tmp_path, "img_case_twins", data) == 0
    (data / "train" / "tr0.Png").write_bytes((data / "train" / "tr0.PNG").read_bytes())
    capsys.readouterr()
    if command == "new":
        assert new(tmp_path, "refused", data) == 2
        expected = (
            "train.csv line 2: id 'tr0.png' names no image: train/tr0.png is not in the download (1 of 16 ids name "
            "none); train/tr0.PNG and train/tr0.Png differ from it only in case: rename the one meant."
        )
    else:
        comp = str(tmp_path / "comps" / "img_case_twins")
        assert main(["run", comp, "--data", str(data), "--preset", "fast", "--quiet", *QUICK]) == 2
        folder = data.resolve() / "train"
        expected = (
            f"train.csv line 2: image 'train/tr0.png' not found in {data.resolve()} (1 missing image(s) in all, first: "
            f"'train/tr0.png'); {folder / 'tr0.PNG'} and {folder / 'tr0.Png'} are there, names that differ from it "
            "only in case: rename the one meant to tr0.png."
        )
    assert expected in capsys.readouterr().err


def test_run_says_once_how_many_files_are_named_in_another_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: run read x.PNG for a listed x.png without a word (only new's notes said so)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "upper-suffixes"
    case_download(data)
    assert new(tmp_path, "img_case_logged", data) == 0
    s = run(tmp_path, "img_case_logged", data, *QUICK)
    log = (Path(s["run_dir"]) / "log.txt").read_text()
    lines = [line for line in log.splitlines() if "in another case" in line]
    assert len(lines) == 2, lines  # one per CSV, not one per image
    assert "warning: images: 8 of 16 train.csv ids name their file in another case (tr0.png: train/tr0.PNG)" in lines[0]
    assert (
        "images: 3 of 6 sample_submission.csv ids name their file in another case (te1.png: test/te1.PNG)" in lines[1]
    )


def test_images_answered_by_values_say_so_too_and_exact_names_say_nothing(tmp_path: Path) -> None:
    from test_image_targets import pawpularity

    data, _ = pawpularity(tmp_path / "paw", n_train=24, n_test=6)
    assert new(tmp_path, "img_case_values", data) == 0
    module = load_competition(str(tmp_path / "comps" / "img_case_values"))
    assert "warnings" not in module.load(module.Config(), data).info
    (data / "test" / "p025.png").rename(data / "test" / "p025.PNG")
    (warning,) = module.load(module.Config(), data).info["warnings"]
    assert warning.startswith("images: 1 of 6 sample_submission.csv ids name their file in another case (p025: ")
    assert warning.endswith("test/p025.PNG); each is read as its file is named")


@pytest.mark.parametrize("kind", ["classes", "probabilities", "values"])
def test_a_test_csv_naming_its_ids_otherwise_than_the_sample_is_checked_against_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, kind: str
) -> None:
    # before: test.csv of image_id beside a sample of id was not taken for the test CSV (test_csv None), so a test.csv
    # listing other images than the sample went unchecked
    data = tmp_path / "download"
    if kind != "values":
        test_ids = renamed_download(data, ("id", "label"))
        pd.DataFrame({"image_id": test_ids[::-1]}).to_csv(data / "test.csv", index=False)
        if kind == "probabilities":  # its test CSV was not checked even when named as the sample's id column
            pd.DataFrame({"id": test_ids, "cat": 0.5, "dog": 0.5}).to_csv(data / "sample_submission.csv", index=False)
    else:
        from test_image_targets import pawpularity

        pawpularity(data, n_train=24, n_test=6)
        test = pd.read_csv(data / "test.csv", dtype=str).rename(columns={"Id": "image_id"})
        test.to_csv(data / "test.csv", index=False)
        test_ids = test["image_id"].tolist()
    name = f"img_test_ids_{kind}"
    assert new(tmp_path, name, data) == 0
    sample_id = "Id" if kind == "values" else "id"
    assert (
        f"columns: test.csv's image_id lists the images of sample_submission.csv's {sample_id}"
        in capsys.readouterr().out
    )
    module = load_competition(str(tmp_path / "comps" / name))
    assert (module.FILES.test_csv, module.FILES.test_id_column) == ("test.csv", "image_id")
    assert 'test_id_column="image_id",  # the test CSV\'s' in (tmp_path / "comps" / name / "__init__.py").read_text()
    cfg = module.Config()
    assert len(module.load(cfg, data).X_test) == len(test_ids)
    test = pd.read_csv(data / "test.csv", dtype=str)
    lacking = test[test["image_id"] != test_ids[2]]
    lacking.to_csv(data / "test.csv", index=False)
    with pytest.raises(ContractError, match=rf"test.csv: its image_id lacks '{test_ids[2]}', the {sample_id} of "):
        module.load(cfg, data)
    pd.concat([test, pd.DataFrame({"image_id": ["stray"]})]).to_csv(data / "test.csv", index=False)
    with pytest.raises(ContractError, match=rf"test.csv line {len(test) + 2}: image_id 'stray' is not in sample_"):
        module.load(cfg, data)
