"""`python -m pipeline new` on a download of numbered photos per id (PetFinder Adoption's train_images/<PetID>-1.jpg,
<PetID>-2.jpg ..., one to three here), each id's class shown in one of its photos alone: the layout it infers, a run
whose out-of-fold score beats chance and whose submission has one row per id, predict of the saved run, an id
predicted as the mean over its photos, the view a training row shows drawn per (row, epoch) and a resumed fit equal
to an uninterrupted one, and the refusal of an id without a photo."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_new_images import new, run
from view_downloads import petfinder

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.views import joined, views_of
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.data import ImageDataset, read_image

QUICK = ("--set", "epochs=12", "--set", "batch_size=8", "--set", "crop_scale=0.9", "--set", "color_jitter=0")


def test_numbered_photos_become_views_of_one_row_that_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: numbered files were no id's image, so `new` refused: "cannot tell which CSV lists the training images"
    monkeypatch.chdir(tmp_path)
    data, counts = petfinder(tmp_path / "petfinder-adoption")
    # a name no other test gives its competition: load_competition imports it by that name, once a process
    assert new(tmp_path, "pet_views", data) == 0
    out = capsys.readouterr().out
    assert "images: numbered photos of an id: train.csv's PetID names train_images/<id>-<n>.png (1 to 3 an id)" in out
    module = load_competition(str(tmp_path / "comps" / "pet_views"))
    assert isinstance(module.FILES, CsvImages)
    assert module.FILES.image_path == "train_images/{}-{view}.png"
    loaded = module.load(module.Config(), data)
    train_ids = pd.read_csv(data / "train.csv", dtype=str)["PetID"]
    assert [len(views_of(x)) for x in loaded.X] == [counts[k] for k in train_ids]  # every photo, one row an id
    assert [Path(v).name for v in views_of(loaded.X[0])] == [
        f"{train_ids[0]}-{k + 1}.png" for k in range(counts[train_ids[0]])
    ]

    s = run(tmp_path, "pet_views", data, *QUICK)
    assert s["cv"] > 0.7  # two balanced classes: chance is 0.5, and most photos show nothing
    sub, sample = pd.read_csv(s["published"], dtype=str), pd.read_csv(data / "sample_submission.csv", dtype=str)
    assert list(sub.columns) == ["PetID", "Adopted"] and sub["PetID"].tolist() == sample["PetID"].tolist()
    assert set(sub["Adopted"]) <= {"0", "1"}

    # predict of the saved run on the test photos alone gives the run's own submission, byte for byte
    (run_dir,) = (tmp_path / "runs" / "pet_views").glob("*")
    test_only = tmp_path / "test-only"
    shutil.copytree(data / "test_images", test_only / "test_images")
    shutil.copy(data / "sample_submission.csv", test_only)
    assert main(["predict", str(run_dir), "--data", str(test_only), "--out", str(tmp_path / "pred"), "--quiet"]) == 0
    assert (tmp_path / "pred" / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_an_id_is_predicted_as_the_mean_over_its_photos(tmp_path: Path) -> None:
    from pipeline.vision import ImageClassifier

    data, _ = petfinder(tmp_path / "download", n_train=8, n_test=2)
    module = CsvImages("train.csv", "PetID", "Adopted", "train_images/{}-{view}.png", "test_images/{}-{view}.png")
    loaded = module.load(None, data)
    params = {"arch": "test_resnet", "num_classes": 2, "epochs": 1, "batch_size": 4, "lr": 0.01, "num_workers": 0}
    est = ImageClassifier(**params, tta=("hflip",)).fit(loaded.X, loaded.y)  # rows of 1 to 3 views
    rows = np.concatenate([loaded.X, loaded.X_test])
    proba = est.predict_proba(rows)
    assert proba.shape == (len(rows), 2)
    for name, p in zip(rows, proba, strict=True):
        each = est.predict_proba(np.array(views_of(name)))
        np.testing.assert_allclose(p, each.mean(axis=0), rtol=1e-5, atol=1e-6)
    several = next(name for name in rows if len(views_of(name)) > 1)
    assert not np.allclose(*est.predict_proba(np.array(views_of(several)[:2])))  # the mean is of views that differ


def test_a_training_row_shows_one_view_drawn_per_row_and_epoch(tmp_path: Path) -> None:
    data, _ = petfinder(tmp_path / "download", n_train=6, n_test=1)
    files = sorted(str(p) for p in (data / "train_images").glob("*.png"))[:3]
    name = joined(files)
    images = [read_image(f) for f in files]
    dataset = ImageDataset([name, name], np.array([0, 1]))
    held = ImageDataset([name, name], np.array([0, 1]), cache=[images, images])  # decoded once, views held
    shown = {}
    for seed in range(30):
        for row in (0, 1):
            image, _ = dataset[(row, seed)]
            (k,) = [k for k, view in enumerate(images) if np.array_equal(image.numpy(), view)]
            again, _ = dataset[(row, seed)]
            assert np.array_equal(again.numpy(), image.numpy())  # a resumed run replays the epoch's view
            assert np.array_equal(held[(row, seed)][0].numpy(), image.numpy())  # the same view from the store
            shown[(row, seed)] = k
    assert set(shown.values()) == {0, 1, 2}  # every view is learnt from
    assert any(shown[(0, s)] != shown[(1, s)] for s in range(30))  # drawn per row, not one view for the epoch
    with pytest.raises(ContractError, match="several views"):
        read_image(name)  # a row of views is no one image


class Interrupt(Exception):
    pass


def test_a_resumed_fit_on_rows_of_views_equals_the_uninterrupted_one(tmp_path: Path) -> None:
    # each epoch's views are drawn from (seed, row) alone: a fit killed after an epoch and resumed replays the others
    from sklearn.metrics import accuracy_score

    from pipeline.contract import FitContext, Metric
    from pipeline.vision import ImageClassifier

    data, _ = petfinder(tmp_path / "download", n_train=12, n_test=4)
    module = CsvImages("train.csv", "PetID", "Adopted", "train_images/{}-{view}.png", "test_images/{}-{view}.png")
    loaded = module.load(None, data)
    X, y, X_valid, y_valid = loaded.X[:8], loaded.y[:8], loaded.X[8:], loaded.y[8:]
    params = {"arch": "test_resnet", "num_classes": 2, "epochs": 3, "batch_size": 4, "lr": 0.02, "num_workers": 0}

    def ctx(workdir: Path, resume: bool = False, log=lambda s: None) -> FitContext:
        return FitContext(
            workdir=workdir,
            eval_set=(X_valid, y_valid),
            score=lambda truth, proba: accuracy_score(truth, proba.argmax(axis=1)),
            metric=Metric("accuracy", True),
            resume=resume,
            progress=False,
            log=log,
        )

    def kill(line: str) -> None:
        if line.startswith("epoch 2/"):
            raise Interrupt  # the process dies after the second epoch's work, before its checkpoint

    full = ImageClassifier(**params, precision="fp32").fit(X, y, context=ctx(tmp_path / "full"))
    with pytest.raises(Interrupt):
        ImageClassifier(**params, precision="fp32").fit(X, y, context=ctx(tmp_path / "cut", log=kill))
    lines: list[str] = []
    resumed = ImageClassifier(**params, precision="fp32").fit(
        X, y, context=ctx(tmp_path / "cut", resume=True, log=lines.append)
    )
    assert any("continuing from epoch 1" in line for line in lines)
    np.testing.assert_array_equal(resumed.predict_proba(loaded.X_test), full.predict_proba(loaded.X_test))


def test_an_id_without_a_photo_is_refused_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, counts = petfinder(tmp_path / "download", n_train=12, n_test=3)
    train_ids = pd.read_csv(data / "train.csv", dtype=str)["PetID"]
    assert new(tmp_path, "pet_views_ok", data) == 0
    module = load_competition(str(tmp_path / "comps" / "pet_views_ok"))
    for k in range(counts[train_ids[3]]):
        (data / "train_images" / f"{train_ids[3]}-{k + 1}.png").unlink()
    assert new(tmp_path, "pet_views_refused", data) == 2
    err = capsys.readouterr().err
    assert f"train.csv line 5: PetID {train_ids[3]!r} has no photo: train_images/{train_ids[3]}-1.png" in err
    assert "1 of 12 PetIDs have none" in err
    assert not (tmp_path / "comps" / "pet_views_refused").exists()
    with pytest.raises(ContractError, match=f"train.csv line 5: PetID '{train_ids[3]}' has no photo"):
        module.load(module.Config(), data)  # the competition written before the photos went
