"""`python -m pipeline new` on a download of one greyscale file per channel (Human Protein Atlas' train/<Id>_red.png,
_green, _blue, _yellow): the channels it infers and writes into the Config, a run that reads the fourth channel
(its tags tell only from yellow), predict of the saved run, and the refusals of a missing channel file."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from channel_downloads import CHANNELS, hpa, plane
from test_new_images import new, run

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.stacked import channel_files
from pipeline.vision.csv_targets import CsvImageTargets
from pipeline.vision.multioutput import ImageMultiLabel

# what is learnt is a bright square, so crops keep most of the image and nothing is jittered
QUICK = ("--set", "epochs=12", "--set", "batch_size=8", "--set", "crop_scale=0.9", "--set", "color_jitter=0")


def without_yellow(y: np.ndarray) -> float:
    """The best macro F1 a model blind to yellow can score: tag 2 (green) right on every image, tags 0 and 1 (yellow)
    no better than naming them on every image, their best constant."""
    share = y[:, :2].mean(axis=0)
    return float((1.0 + (2 * share / (1 + share)).sum()) / 3)


def test_an_hpa_download_becomes_stacked_channels_that_read_the_fourth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: no file is named by an id, so `new` refused: "train.csv: no Id names an image of the download"
    monkeypatch.chdir(tmp_path)
    data, y = hpa(tmp_path / "human-protein-atlas-image-classification")
    assert new(tmp_path, "chan_hpa", data, "--metric", "f1_macro") == 0
    out = capsys.readouterr().out
    assert "image tags (3 in Target) of 64 images, id Id, metric f1_macro" in out
    assert "images: one file per channel (red, green, blue, yellow: Config.channels" in out
    assert "train.csv's Id names train/<id>_<channel>.png; sample_submission.csv's Id test/<id>_<channel>.png" in out
    module = load_competition(str(tmp_path / "comps" / "chan_hpa"))
    assert isinstance(module.FILES, CsvImageTargets)
    assert (module.FILES.image_path, module.FILES.test_image_path) == (
        "train/{}_{channel}.png",
        "test/{}_{channel}.png",
    )
    assert module.Config().channels == CHANNELS
    text = (tmp_path / "comps" / "chan_hpa" / "__init__.py").read_text()
    assert '    channels: tuple[str, ...] = ("red", "green", "blue", "yellow")\n' in text  # a setting to edit
    (network,) = module.models(module.Config()).values()
    assert isinstance(network, ImageMultiLabel) and network.channels == CHANNELS

    s = run(tmp_path, "chan_hpa", data, *QUICK)
    assert s["cv"] > without_yellow(y) + 0.1  # yellow, the fourth channel, is read
    sub, sample = pd.read_csv(s["published"]), pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["Id", "Target"] and sub["Id"].tolist() == sample["Id"].tolist()
    assert all(set(str(cell).split()) <= {"0", "1", "2"} for cell in sub["Target"])

    # predict of the saved run on the test files alone gives the run's own submission, byte for byte
    (run_dir,) = (tmp_path / "runs" / "chan_hpa").glob("*")
    test_only = tmp_path / "test-only"
    shutil.copytree(data / "test", test_only / "test")
    shutil.copy(data / "sample_submission.csv", test_only)
    assert main(["predict", str(run_dir), "--data", str(test_only), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    assert (tmp_path / "pred" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_the_generated_file_passes_ruff(tmp_path: Path) -> None:
    data, _ = hpa(tmp_path / "download", n_train=12, n_test=4)
    assert new(tmp_path, "chan_ruff", data) == 0
    path = tmp_path / "comps" / "chan_ruff" / "__init__.py"
    config = Path(__file__).resolve().parent.parent / "pyproject.toml"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--config", str(config), str(path)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr


def bands(root: Path, names: tuple[str, ...], sep: str) -> Path:
    """A download of classes whose images are one file per band, `names` in any order, joined to the id by `sep`."""
    rng = np.random.default_rng(4)
    for folder, n in (("train", 12), ("test", 4)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            for band in names:
                assert cv2.imwrite(str(root / folder / f"{folder}{i}{sep}{band}.png"), plane(rng, i % 2))
    pd.DataFrame({"id": [f"train{i}" for i in range(12)], "label": ["a", "b"] * 6}).to_csv(
        root / "train.csv", index=False
    )
    pd.DataFrame({"id": [f"test{i}" for i in range(4)], "label": "a"}).to_csv(
        root / "sample_submission.csv", index=False
    )
    return root


@pytest.mark.parametrize(
    ("names", "sep", "order"),
    [
        (("nir", "blue", "red", "green"), "-", ("red", "green", "blue", "nir")),  # the colours first, then the others
        (("b08", "b04", "b03"), "_", ("b03", "b04", "b08")),  # satellite bands: sorted
    ],
)
def test_the_channels_come_in_a_fixed_order_whatever_the_separator(
    tmp_path: Path, names: tuple[str, ...], sep: str, order: tuple[str, ...]
) -> None:
    data = bands(tmp_path / "download", names, sep)
    assert new(tmp_path, f"chan_order_{len(names)}", data) == 0
    module = load_competition(str(tmp_path / "comps" / f"chan_order_{len(names)}"))
    assert module.Config().channels == order
    assert module.FILES.image_path == f"train/{{}}{sep}{{channel}}.png"
    (network,) = module.models(module.Config()).values()
    loaded = module.load(module.Config(), data)
    assert [Path(f).name for f in channel_files(loaded.X[0])] == [f"train0{sep}{band}.png" for band in order]
    assert network.channels == order


@pytest.mark.parametrize("varying", [False, True])
def test_photos_of_an_id_are_no_channels(tmp_path: Path, capsys: pytest.CaptureFixture, varying: bool) -> None:
    # numbered files (PetFinder Adoption's <PetID>-1.jpg, <PetID>-2.jpg) are photos of an id, however many; and
    # named ones in varying sets (a front and a back photo, or a front one only) are no channels either
    data = bands(tmp_path / "download", ("front", "back", "side") if varying else ("1", "2"), "-")
    if varying:
        for i in range(0, 12, 2):
            (data / "train" / f"train{i}-back.png").unlink()
            (data / "train" / f"train{i + 1}-side.png").unlink()
    assert new(tmp_path, f"chan_photos_{int(varying)}", data) == 2
    assert "cannot tell which CSV lists the training images" in capsys.readouterr().err


def test_a_missing_channel_file_is_refused_naming_the_id_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, _ = hpa(tmp_path / "download", n_train=24, n_test=6)
    ids = pd.read_csv(data / "train.csv")["Id"]
    (data / "train" / f"{ids[5]}_yellow.png").unlink()
    assert new(tmp_path, "chan_missing", data) == 2
    assert capsys.readouterr().err.startswith(
        f"error: train.csv line 7: Id '{ids[5]}' has no yellow channel: train/{ids[5]}_yellow.png is not in the "
        "download (1 of 24 Ids lack a channel)"
    )
    assert not (tmp_path / "comps" / "chan_missing").exists()
    # a file gone after `new`: load refuses it, naming the line, the id and the file
    shutil.copy(data / "train" / f"{ids[6]}_yellow.png", data / "train" / f"{ids[5]}_yellow.png")
    assert new(tmp_path, "chan_missing", data) == 0
    module = load_competition(str(tmp_path / "comps" / "chan_missing"))
    test_id = pd.read_csv(data / "sample_submission.csv")["Id"][2]
    (data / "test" / f"{test_id}_green.png").unlink()
    with pytest.raises(ContractError) as refused:
        module.load(module.Config(), data)
    assert str(refused.value).startswith(
        f"sample_submission.csv line 4: Id '{test_id}' has no green channel: 'test/{test_id}_green.png' is not in "
        f"{data} (1 of 6 ids lack one)"
    )


def test_the_config_channels_are_what_load_and_the_network_read(tmp_path: Path) -> None:
    # the user drops a channel or reorders them in the Config: load reads those files in that order, the network takes
    # as many input channels; a {channel} pattern without channels, or channels without one, is refused
    data, _ = hpa(tmp_path / "download", n_train=12, n_test=4)
    assert new(tmp_path, "chan_edit", data) == 0
    module = load_competition(str(tmp_path / "comps" / "chan_edit"))
    cfg = dataclasses.replace(module.Config(), channels=("yellow", "red"))
    loaded = module.load(cfg, data)
    assert [Path(f).name.rsplit("_", 1)[1] for f in channel_files(loaded.X_test[0])] == ["yellow.png", "red.png"]
    (network,) = module.models(cfg).values()
    assert network.channels == ("yellow", "red") and network._in_chans == 2
    with pytest.raises(
        ContractError, match=r"names each channel's file by \{channel\}, but the Config has no channels"
    ):
        module.load(dataclasses.replace(cfg, channels=()), data)
    plain = dataclasses.replace(module.FILES, image_path="train/{}.png", test_image_path="test/{}.png")
    with pytest.raises(ContractError, match=r"FILES' image_path 'train/\{\}.png' has no \{channel\}"):
        plain.load(cfg, data)


def test_tags_under_another_name_than_the_samples_are_said_to_be_read_as_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # Human Protein Atlas' own files: train.csv's Target beside the sample's Predicted; `new` reads tags from the
    # sample's column only, so it reads each combination of tags as a class, and says so and how to learn the tags
    data, _ = hpa(tmp_path / "download")
    sample = pd.read_csv(data / "sample_submission.csv").rename(columns={"Target": "Predicted"})
    sample.to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "chan_renamed", data) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "warning: train.csv's Target holds space-separated tags, each combination read here as one class: `new` reads "
        "tags from a column named as the sample submission's (Predicted); to learn tags, name Target Predicted in "
        "train.csv"
    ) in out
