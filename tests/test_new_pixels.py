"""`new` on a table whose rows hold images (Digit Recognizer, Kannada MNIST, Fashion-MNIST, FER2013: numbered pixel
columns or one column of space-separated values): it writes PIXELS and the "cnn" model, a run of it trains the
network on the images and writes a submission the project validates, and `predict` on the run's folder applies the
saved networks. Numbered columns that are no image stay an ordinary table."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pixel_downloads as downloads
import pytest

from pipeline.cli import main
from pipeline.config import apply_overrides
from pipeline.contract import load_competition
from pipeline.tabular import Pixels

N_TRAIN, N_TEST = 300, 60
# the smoke-test preset with 4 epochs: 2 epochs on a 150-row fold (batches of 18) learn little
RUN = ("--preset", "fast", "--set", "cnn_epochs=4", "--quiet")

# layout: how to write it, the sample's columns, PIXELS as `new` should find it, and what `new` says of it
LAYOUTS: dict[str, tuple[Callable, list[str], Pixels, str]] = {
    "digits": (
        downloads.digit_recognizer,
        ["ImageId", "Label"],
        Pixels(28, 28, prefix="pixel", start=0),
        "image: columns pixel0 .. pixel783 hold one 28x28 grey image per row (white 255): models cnn",
    ),
    "kannada": (
        downloads.kannada,
        ["id", "label"],
        Pixels(28, 28, prefix="pixel", start=0),
        "image: columns pixel0 .. pixel783 hold one 28x28 grey image per row (white 255): models cnn",
    ),
    "fashion": (
        downloads.fashion,
        ["id", "label"],
        Pixels(28, 28, prefix="pixel", start=1),
        "image: columns pixel1 .. pixel784 hold one 28x28 grey image per row (white 255): models cnn",
    ),
    "fer": (
        downloads.fer,
        ["id", "emotion"],
        Pixels(16, 16, column="pixels"),
        "image: column pixels holds one 16x16 grey image per row, 256 space-separated values (white 255): models cnn",
    ),
}


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def ruff_clean(path: Path) -> None:
    """The generated file passes the project's ruff check and format check."""
    project = Path(__file__).resolve().parent.parent
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True, cwd=project)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_new_writes_the_cnn_on_the_images_and_its_run_submits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, layout: str
) -> None:
    # before: `new` wrote the boosters on 784 pixel columns (FER's one column: free text for the "text" model)
    monkeypatch.chdir(tmp_path)
    write, columns, pixels, said = LAYOUTS[layout]
    data, y_test = write(tmp_path / f"{layout}.zip", N_TRAIN, N_TEST)
    name = f"pix_{layout}"
    capsys.readouterr()
    assert new(tmp_path, name, data) == 0
    printed = capsys.readouterr().out
    assert said in printed and "PIXELS in the generated file says where the image lies" in printed
    assert "text (TF-IDF" not in printed  # FER's column of values is the image, not free text
    comp = tmp_path / "comps" / name
    text = (comp / "__init__.py").read_text()
    assert "\nPIXELS = tabular.Pixels(" in text and "tabular.model_set(TASK, cfg, TARGET, pixels=PIXELS)" in text
    assert "LightGBM" not in text.split('"""')[1]  # the docstring's Recipe says what the file trains
    ruff_clean(comp / "__init__.py")
    module = load_competition(str(comp))  # the contract check
    assert pixels == module.PIXELS and module.Config().models == ("cnn",)
    assert module.PRESETS["fast"] == {"cnn_epochs": 2, "folds": 2}
    assert module.PRESETS["cpu"] == {"cnn_epochs": 6, "folds": 3}
    assert module.PRESETS["best"] == {"learning_rate": 0.02, "bag_folds": 5, "bag": 2, "cnn_bag": 2}
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    space = module.search_space(trial)  # the cnn's knobs, each a Config field
    assert set(space) == {"cnn_lr", "cnn_shift", "cnn_rotate", "cnn_zoom", "cnn_epochs"}
    assert apply_overrides(module.Config, space)

    assert main(["run", str(comp), "--data", str(data), *RUN]) == 0
    (run_dir,) = (tmp_path / "runs" / name).iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cv"] > 0.4, summary["cv"]  # out of fold, ten classes: chance is 0.1
    assert sorted(p.name for p in (run_dir / "models" / "cnn").glob("*.pt")) == ["fold0.pt", "fold1.pt"]
    sub = pd.read_csv(summary["published"])
    with zipfile.ZipFile(data) as zf:
        sample = pd.read_csv(zf.open("sample_submission.csv"))
    assert list(sub.columns) == columns and sub[columns[0]].tolist() == sample[columns[0]].tolist()
    assert (sub[columns[1]].to_numpy() == y_test).mean() > 0.4  # held out: labels no file holds
    assert main(["validate", str(comp), summary["published"], "--data", str(data)]) == 0

    # predict on the run's folder: the saved networks, read back, write the same submission
    out = tmp_path / "predicted"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == Path(summary["published"]).read_bytes()
    if layout == "digits":  # a new test set of 40 rows, its own sample numbering them 1 .. 40: the same labels
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        with zipfile.ZipFile(data) as zf:
            pd.read_csv(zf.open("test.csv")).iloc[20:].to_csv(fresh / "test.csv", index=False)
        pd.DataFrame({"ImageId": range(1, 41), "Label": 0}).to_csv(fresh / "sample_submission.csv", index=False)
        out = tmp_path / "fresh_out"
        assert main(["predict", str(run_dir), "--data", str(fresh), "--out", str(out), "--quiet"]) == 0
        again = pd.read_csv(out / "submission.csv")
        assert again["ImageId"].tolist() == list(range(1, 41))
        assert again["Label"].tolist() == sub["Label"].iloc[20:].tolist()


def numbered_table(path: Path, names: list[str]) -> Path:
    """A classification download whose features are numbered columns of 0-255 values: train `target` and the
    columns, test `id` and the columns, sample `id,target`."""
    rng = np.random.default_rng(0)
    values = pd.DataFrame(rng.integers(0, 256, (N_TRAIN + N_TEST, len(names))), columns=names)
    train = values.iloc[:N_TRAIN].assign(target=(values[names[0]].iloc[:N_TRAIN] > 127).astype(int))
    ids = np.arange(N_TEST)
    test = pd.concat([pd.DataFrame({"id": ids}), values.iloc[N_TRAIN:].reset_index(drop=True)], axis=1)
    return downloads.write(path, train, test, pd.DataFrame({"id": ids, "target": 0}))


@pytest.mark.parametrize(
    ("layout", "names"),
    [
        ("playground", [f"f_{i:02d}" for i in range(100)]),  # a 10x10 square, but no name of pixels
        ("gap", [f"pixel{i}" for i in range(101) if i != 50]),  # 100 pixel columns, pixel50 missing
    ],
)
def test_numbered_columns_that_are_no_image_stay_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture, layout: str, names: list[str]
) -> None:
    data = numbered_table(tmp_path / f"{layout}.zip", names)
    capsys.readouterr()
    assert new(tmp_path, f"pix_no_{layout}", data) == 0
    assert "image:" not in capsys.readouterr().out
    text = (tmp_path / "comps" / f"pix_no_{layout}" / "__init__.py").read_text()
    assert "PIXELS" not in text and "cnn" not in text
    assert load_competition(str(tmp_path / "comps" / f"pix_no_{layout}")).Config().models[0] == "lightgbm"


def test_pixels_none_reads_the_image_columns_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, _ = downloads.digit_recognizer(tmp_path / "digits.zip", 60, 20)
    assert new(tmp_path, "pix_none_digits", data, "--pixels", "none") == 0
    text = (tmp_path / "comps" / "pix_none_digits" / "__init__.py").read_text()
    assert "PIXELS" not in text and "cnn" not in text
    # FER's column of values, no image: free text, for the "text" model
    data, _ = downloads.fer(tmp_path / "fer.zip", 60, 20)
    assert new(tmp_path, "pix_none_fer", data, "--pixels", "none") == 0
    module = load_competition(str(tmp_path / "comps" / "pix_none_fer"))
    assert "text" in module.Config().models and not hasattr(module, "PIXELS")
    capsys.readouterr()
    assert new(tmp_path, "pix_yes", data, "--pixels", "yes") == 2
    assert "--pixels takes 'none'" in capsys.readouterr().err
    assert not (tmp_path / "comps" / "pix_yes").exists()


def test_free_text_between_two_numbers_is_no_image(tmp_path: Path) -> None:
    # before: `new` stopped on a ValueError (could not convert string to float): a review of 64 words or
    # more that began and ended with a number passed for a column of pixel values until its words were read
    rng = np.random.default_rng(0)
    words = np.array(["stars", "good", "plot", "slow", "actors", "again", "music", "long"])
    reviews = [f"{rng.integers(1, 6)} {' '.join(rng.choice(words, 70))} {rng.integers(1, 11)}" for _ in range(80)]
    frame = pd.DataFrame({"review": reviews, "x": rng.normal(size=80)})
    train = frame.iloc[:60].assign(target=rng.integers(0, 2, 60))
    test = frame.iloc[60:].reset_index(drop=True).assign(id=range(20))
    data = downloads.write(tmp_path / "reviews.zip", train, test, pd.DataFrame({"id": range(20), "target": 0}))
    assert new(tmp_path, "pix_reviews", data) == 0
    module = load_competition(str(tmp_path / "comps" / "pix_reviews"))
    assert "text" in module.Config().models and not hasattr(module, "PIXELS")
