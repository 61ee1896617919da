"""`python -m pipeline new` and `run` on image downloads whose ids name their images unlike the usual ones
(tests/test_new_images.py): a training CSV that names its columns otherwise than the sample submission."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_new_images import new, run

from pipeline.cli import main
from pipeline.contract import load_competition

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
