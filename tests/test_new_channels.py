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
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.csv_targets import CsvImageTargets
from pipeline.vision.multioutput import ImageMultiLabel

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
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
    # Human Protein Atlas' train.csv names its tags Target, its sample Predicted: learnt from one, written under the
    # other (before: each combination of tags was read as one class)
    assert (
        "columns: train.csv's Target holds the tags, learnt from it and written under sample_submission.csv's "
        "Predicted (FILES' train_tags_column); --tags COLUMN names another column of train.csv, --tags none reads "
        "each combination of tags as one class"
    ) in " ".join(out.split())
    assert "images: one file per channel (red, green, blue, yellow: Config.channels" in out
    assert "train.csv's Id names train/<id>_<channel>.png; sample_submission.csv's Id test/<id>_<channel>.png" in out
    module = load_competition(str(tmp_path / "comps" / "chan_hpa"))
    assert isinstance(module.FILES, CsvImageTargets)
    assert (module.FILES.tags_column, module.FILES.train_tags_column) == ("Predicted", "Target")
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
    assert list(sub.columns) == ["Id", "Predicted"] and sub["Id"].tolist() == sample["Id"].tolist()
    assert all(set(str(cell).split()) <= {"0", "1", "2"} for cell in sub["Predicted"])
    assert any(len(str(cell).split()) > 1 for cell in sub["Predicted"])  # tags, several an image

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
    tmp_path: Path, capsys: pytest.CaptureFixture, names: tuple[str, ...], sep: str, order: tuple[str, ...]
) -> None:
    data = bands(tmp_path / "download", names, sep)
    assert new(tmp_path, f"chan_order_{len(names)}", data) == 0
    others = [n for n in order if n not in ("red", "green", "blue")]
    assert (
        f"normalisation: {', '.join(others)} by the mean of ImageNet's red, green and blue mean and std (no pretrained "
        "weights saw them), red, green and blue by their own; declare mean and std in the Config, one each per channel"
    ) in " ".join(capsys.readouterr().out.split())
    module = load_competition(str(tmp_path / "comps" / f"chan_order_{len(names)}"))
    assert module.Config().channels == order
    assert module.FILES.image_path == f"train/{{}}{sep}{{channel}}.png"
    (network,) = module.models(module.Config()).values()
    loaded = module.load(module.Config(), data)
    assert [Path(f).name for f in channel_files(loaded.X[0])] == [f"train0{sep}{band}.png" for band in order]
    assert network.channels == order
    # the Config's own mean and std, one per channel (a band's over the training images), are the network's
    own = dataclasses.make_dataclass(
        "Bands",
        [("mean", tuple, (0.2,) * len(order)), ("std", tuple, (0.1,) * len(order))],
        bases=(module.Config,),
        frozen=True,
    )
    (mine,) = module.models(own()).values()
    assert mine._normalisation({"mean": IMAGENET_MEAN, "std": IMAGENET_STD}) == (
        (0.2,) * len(order),
        (0.1,) * len(order),
    )


@pytest.mark.parametrize("varying", [True])
def test_photos_of_an_id_are_no_channels(tmp_path: Path, capsys: pytest.CaptureFixture, varying: bool) -> None:
    # named files in varying sets (a front and a back photo, or a front one only) are no channels; numbered ones
    # (PetFinder Adoption's <PetID>-1.jpg, <PetID>-2.jpg) are an id's photos, read as its views: test_new_views.py
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


def with_extra_tags(data: Path) -> None:
    """train.csv with a second column of tags beside Target (another annotator's, say)."""
    train = pd.read_csv(data / "train.csv", dtype=str)
    train["Extra"] = train["Target"].sample(frac=1.0, random_state=0).to_numpy()
    train.to_csv(data / "train.csv", index=False)


def test_two_columns_of_tags_named_otherwise_than_the_samples_are_refused_until_tags_names_one(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: --tags was no flag, and the tags of a column named otherwise than the sample's were read as classes
    data, y = hpa(tmp_path / "download", n_train=24, n_test=6)
    with_extra_tags(data)
    assert new(tmp_path, "chan_two", data) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "error: train.csv: several columns hold space-separated tags (Target, Extra), none named as the sample "
        "submission's Predicted; which are the tags to learn? Name it with --tags COLUMN (--tags none: each "
        "combination read as one class)."
    ) in err
    assert not (tmp_path / "comps" / "chan_two").exists()
    assert new(tmp_path, "chan_two", data, "--tags", "Target") == 0
    module = load_competition(str(tmp_path / "comps" / "chan_two"))
    assert (module.FILES.tags_column, module.FILES.train_tags_column) == ("Predicted", "Target")
    loaded = module.load(module.Config(), data)
    np.testing.assert_array_equal(loaded.y, y)  # Target's tags, not Extra's
    assert loaded.info["trained"]["tags"] == ["0", "1", "2"]
    gone = dataclasses.replace(module.FILES, train_tags_column="Labels")
    with pytest.raises(ContractError, match=r"train.csv: no column 'Labels' \(FILES' train_tags_column, its tags\)"):
        gone.load(module.Config(), data)


def test_tags_none_or_a_class_metric_reads_each_combination_of_tags_as_a_class(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, y = hpa(tmp_path / "download", n_train=24, n_test=6)
    for name, flags in (("chan_none", ("--tags", "none")), ("chan_accuracy", ("--metric", "accuracy"))):
        assert new(tmp_path, name, data, *flags) == 0
        module = load_competition(str(tmp_path / "comps" / name))
        assert isinstance(module.FILES, CsvImages) and module.FILES.train_label_column == "Target"
        assert len(set(module.load(module.Config(), data).y)) == len({tuple(row) for row in y})
    assert new(tmp_path, "chan_nope", data, "--tags", "Labels") == 2
    assert "error: --tags Labels: no CSV of the download holds a column Labels of space-separated tags" in (
        " ".join(capsys.readouterr().err.split())
    )
