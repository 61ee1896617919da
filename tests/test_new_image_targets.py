"""`python -m pipeline new` on image downloads answered by values (PetFinder Pawpularity), 0/1 label columns (plant
pathology) or space-separated tags (Planet): the competition each becomes, runs of them (`--preset fast`) that beat
the best constant answer out of fold and write the sample's submission, the download that stays a table, and the
refusals that name the file, line or flag."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_image_targets import pawpularity, tagged
from test_new_images import new, png, run

from pipeline import multilabel
from pipeline.config import apply_overrides
from pipeline.contract import load_competition
from pipeline.vision.csv_images import CsvImages
from pipeline.vision.csv_targets import CsvImageTargets
from pipeline.vision.multioutput import ImageMultiLabel, ImageRegressor

# the hand-written competitions' settings (tests/test_image_targets.py): a brightness or a colour is what is learnt,
# so crops keep most of the image and colours are not jittered
QUICK = ("--set", "epochs=12", "--set", "batch_size=8", "--set", "crop_scale=0.9", "--set", "color_jitter=0")


def plant_pathology(root: Path, n_train: int = 64, n_test: int = 16) -> Path:
    """Plant pathology 2020's layout: train.csv (image_id and 0/1 columns), test.csv (image_id),
    images/<image_id>.png for both, a sample of image_id and a probability per column."""
    data, _ = tagged(root, tags_column=False, n_train=n_train, n_test=n_test)
    (data / "images").mkdir()
    for folder in ("train", "test"):
        for image in (data / folder).iterdir():
            image.rename(data / "images" / image.name)
        (data / folder).rmdir()
    pd.read_csv(data / "sample_submission.csv")[["image_id"]].to_csv(data / "test.csv", index=False)
    return data


def planet(root: Path, n_train: int = 64, n_test: int = 16) -> tuple[Path, np.ndarray]:
    """Planet's layout: train_v2.csv (image_name,tags of space-separated tags), sample_submission_v2.csv."""
    data, y = tagged(root, tags_column=True, n_train=n_train, n_test=n_test)
    (data / "train.csv").rename(data / "train_v2.csv")
    (data / "sample_submission.csv").rename(data / "sample_submission_v2.csv")
    return data, y


def published(summary: dict, sample: Path) -> pd.DataFrame:
    """The run's submission, checked to hold the sample's columns and ids in its order."""
    sub, want = pd.read_csv(summary["published"]), pd.read_csv(sample)
    assert list(sub.columns) == list(want.columns) and sub.iloc[:, 0].tolist() == want.iloc[:, 0].tolist()
    return sub


def test_a_pawpularity_download_becomes_a_values_competition_that_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: train.csv's photo metadata made it a table (a LightGBM regression on Eyes and Blur, photos unused)
    monkeypatch.chdir(tmp_path)
    data, y = pawpularity(tmp_path / "petfinder-pawpularity-score", n_train=64, n_test=16)
    assert new(tmp_path, "tgt_pawpularity", data) == 0
    out = capsys.readouterr().out
    assert "image values (Pawpularity) of 64 images, id Id, metric rmse" in out
    assert "metric: rmse (default for values); change with --metric: any regression metric" in out
    assert "columns: train.csv's other 2 (Eyes, Blur) are not used by the image networks" in out
    module = load_competition(str(tmp_path / "comps" / "tgt_pawpularity"))
    files = module.FILES
    assert isinstance(files, CsvImageTargets) and (files.columns, files.labels, files.test_csv) == (
        ("Pawpularity",),
        False,
        "test.csv",
    )
    assert (module.METRIC.name, module.METRIC.greater_is_better, module.FOLDS) == ("rmse", False, "kfold")
    (network,) = module.models(module.Config()).values()
    assert isinstance(network, ImageRegressor) and network.loss == "mse"
    (network,) = module.models(dataclasses.replace(module.Config(), loss="bce")).values()
    assert network.loss == "bce"  # Config.loss reaches the estimator (--set loss=bce)
    s = run(tmp_path, "tgt_pawpularity", data, *QUICK)
    assert s["cv"] < 0.7 * float(np.std(y))  # the best constant, the training mean, scores the deviation
    assert published(s, data / "sample_submission.csv")["Pawpularity"].std() > 5


def test_a_plant_pathology_download_becomes_label_columns_scored_by_mean_auc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused (train.csv of four columns beside images was a table, "train.csv and test.csv share no feature
    # column")
    monkeypatch.chdir(tmp_path)
    data = plant_pathology(tmp_path / "plant-pathology-2020-fgvc7")
    assert new(tmp_path, "tgt_pathology", data) == 0
    out = capsys.readouterr().out
    assert "image labels (3 columns of 0/1: red, green, blue) of 64 images, id image_id, metric roc_auc" in out
    assert "images: train.csv's image_id names images/<id>.png" in out
    module = load_competition(str(tmp_path / "comps" / "tgt_pathology"))
    files = module.FILES
    assert (files.columns, files.labels, files.metric, files.image_path, files.test_csv) == (
        ("red", "green", "blue"),
        True,
        "roc_auc",
        "images/{}.png",
        "test.csv",
    )
    assert isinstance(next(iter(module.models(module.Config()).values())), ImageMultiLabel)
    s = run(tmp_path, "tgt_pathology", data, *QUICK)
    assert s["cv"] > 0.8  # mean column-wise ROC AUC; any constant scores 0.5
    sub = published(s, data / "sample_submission.csv")
    assert sub.iloc[:, 1:].stack().between(0, 1).all() and sub.iloc[:, 1:].std().min() > 0.05
    assert new(tmp_path, "tgt_pathology_loss", data, "--metric", "log_loss") == 0
    module = load_competition(str(tmp_path / "comps" / "tgt_pathology_loss"))
    assert (module.FILES.metric, module.METRIC.greater_is_better) == ("log_loss", False)


def test_a_planet_download_becomes_tags_cut_out_of_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: one class per combination of tags, with a warning
    monkeypatch.chdir(tmp_path)
    data, y = planet(tmp_path / "planet-understanding-the-amazon-from-space")
    assert new(tmp_path, "tgt_planet", data) == 0
    out = capsys.readouterr().out
    assert "image tags (3 in tags) of 64 images, id image_name, metric f1_samples" in out
    assert "f2_samples is Planet's, f1_macro Human Protein Atlas'" in out
    module = load_competition(str(tmp_path / "comps" / "tgt_planet"))
    assert (module.FILES.tags_column, module.FILES.train_csv, module.Config().threshold) == (
        "tags",
        "train_v2.csv",
        True,
    )
    assert apply_overrides(module.Config, {"threshold": "per_tag"}).threshold == "per_tag"  # the option it names
    s = run(tmp_path, "tgt_planet", data, *QUICK)
    assert s["cv"] > multilabel.f_score("f1_samples", y, np.ones(y.shape)) + 0.1  # every tag: the best constant
    sub = published(s, data / "sample_submission_v2.csv")
    assert all(cell.split() and set(cell.split()) <= {"red", "green", "blue"} for cell in sub["tags"])
    assert new(tmp_path, "tgt_planet_f2", data, "--metric", "f2_samples") == 0
    assert load_competition(str(tmp_path / "comps" / "tgt_planet_f2")).FILES.metric == "f2_samples"
    assert new(tmp_path, "tgt_planet_combinations", data, "--metric", "accuracy") == 0  # the reading before
    files = load_competition(str(tmp_path / "comps" / "tgt_planet_combinations")).FILES
    assert isinstance(files, CsvImages) and files.label_column == "tags"


def scores(data: Path, values: list[int]) -> None:
    """train.csv (id, score) of one image each, test images and a sample of id, score (0)."""
    rng = np.random.default_rng(7)
    for folder, n in (("train", len(values)), ("test", 4)):
        (data / folder).mkdir(parents=True)
        for i in range(n):
            (data / folder / f"{folder}{i}.png").write_bytes(png(i % 2, rng, 8))
    pd.DataFrame({"id": [f"train{i}" for i in range(len(values))], "score": values}).to_csv(
        data / "train.csv", index=False
    )
    pd.DataFrame({"id": [f"test{i}" for i in range(4)], "score": 0}).to_csv(data / "sample_submission.csv", index=False)


def test_whole_numbers_are_values_when_many_and_classes_when_a_few(tmp_path: Path) -> None:
    # more than 10 distinct whole numbers (a score of 1 to 100) are values; APTOS's grades 0-4 stay classes
    scores(tmp_path / "many", list(range(1, 25)))
    assert new(tmp_path, "tgt_scores", tmp_path / "many") == 0
    files = load_competition(str(tmp_path / "comps" / "tgt_scores")).FILES
    assert isinstance(files, CsvImageTargets) and files.columns == ("score",)
    assert new(tmp_path, "tgt_scores_classes", tmp_path / "many", "--metric", "accuracy") == 0
    assert isinstance(load_competition(str(tmp_path / "comps" / "tgt_scores_classes")).FILES, CsvImages)
    scores(tmp_path / "grades", [0, 1, 2, 3, 4] * 4)
    assert new(tmp_path, "tgt_grades", tmp_path / "grades") == 0
    files = load_competition(str(tmp_path / "comps" / "tgt_grades")).FILES
    assert isinstance(files, CsvImages) and files.label_column == "score"


@pytest.mark.parametrize("kind", ["values", "label_columns", "tags"])
def test_the_generated_file_passes_ruff(tmp_path: Path, kind: str) -> None:
    if kind == "values":
        data, _ = pawpularity(tmp_path / "download", n_train=12, n_test=4)
    elif kind == "label_columns":
        data = plant_pathology(tmp_path / "download", n_train=12, n_test=4)
    else:
        data, _ = planet(tmp_path / "download", n_train=12, n_test=4)
    assert new(tmp_path, f"tgt_ruff_{kind}", data) == 0
    assert isinstance(load_competition(str(tmp_path / "comps" / f"tgt_ruff_{kind}")).FILES, CsvImageTargets)
    path = tmp_path / "comps" / f"tgt_ruff_{kind}" / "__init__.py"
    config = Path(__file__).resolve().parent.parent / "pyproject.toml"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--config", str(config), str(path)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr


def test_an_adoption_download_stays_a_table(tmp_path: Path) -> None:
    # PetFinder Adoption: train.csv of many columns whose ids name no image (photos <PetID>-1.png, several an id), so
    # the table is the competition even with a target of values; its photos are left aside
    rng = np.random.default_rng(3)
    data = tmp_path / "petfinder-adoption-prediction"
    (data / "train_images").mkdir(parents=True)
    ids = [f"pet{i}" for i in range(50)]
    for pet in ids:
        for k in (1, 2):
            (data / "train_images" / f"{pet}-{k}.png").write_bytes(png(k % 2, rng, 8))
    frame = pd.DataFrame({"PetID": ids, "Age": rng.integers(1, 50, 50), "Fee": rng.integers(0, 100, 50)})
    frame.head(40).assign(Score=rng.uniform(0, 100, 40).round(1)).to_csv(data / "train.csv", index=False)
    frame.tail(10).to_csv(data / "test.csv", index=False)
    frame.tail(10)[["PetID"]].assign(Score=0.0).to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "tgt_adoption", data) == 0
    module = load_competition(str(tmp_path / "comps" / "tgt_adoption"))
    assert (module.TARGET, module.TASK) == ("Score", "regression")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("value text", "train.csv line 7: Pawpularity is 'n/a', not a number (1 such); fix that line."),
        (
            "label 2",
            "train.csv line 4: green is '2', not 0 or 1 (1 such); fix that line, or --metric rmse reads these columns "
            "as values.",
        ),
        ("values by accuracy", "--metric accuracy scores classes, which `new` reads from a CSV of two columns"),
        ("labels by tags", "--metric f1_samples: a tag metric scores one column of space-separated tags; train.csv's"),
        ("tags by rmse", "--metric rmse scores values; train_v2.csv's tags holds space-separated tags"),
        (
            "table by tags",
            "--metric f1_micro: unknown. micro-averaged F1 of one label a row is accuracy: --metric accuracy. Valid",
        ),
    ],
)
def test_refusals_name_the_file_line_and_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture, case: str, expected: str
) -> None:
    data = tmp_path / "download"
    if case in ("value text", "values by accuracy"):
        pawpularity(data, n_train=12, n_test=4)
    elif case in ("label 2", "labels by tags"):
        plant_pathology(data, n_train=12, n_test=4)
    elif case == "tags by rmse":
        planet(data, n_train=12, n_test=4)
    else:
        data.mkdir()
        pd.DataFrame({"id": range(20), "x": range(20), "y": [0, 1] * 10}).to_csv(data / "train.csv", index=False)
        pd.DataFrame({"id": range(20, 24), "x": range(4)}).to_csv(data / "test.csv", index=False)
        pd.DataFrame({"id": range(20, 24), "y": 0}).to_csv(data / "sample_submission.csv", index=False)
    extra = {
        "values by accuracy": ["--metric", "accuracy"],
        "labels by tags": ["--metric", "f1_samples"],
        "tags by rmse": ["--metric", "rmse"],
        "table by tags": ["--metric", "f1_micro"],
    }.get(case, [])
    if case in ("value text", "label 2"):
        column, row, value = ("Pawpularity", 5, "n/a") if case == "value text" else ("green", 2, "2")
        train = pd.read_csv(data / "train.csv", dtype=str)
        train.loc[row, column] = value
        train.to_csv(data / "train.csv", index=False)
    assert new(tmp_path, "tgt_refused", data, *extra) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "comps" / "tgt_refused").exists()


def aptos(root: Path, n_train: int = 80, n_test: int = 20) -> tuple[Path, np.ndarray]:
    """APTOS 2019's layout: train.csv (id_code,diagnosis of grades 0-4), train_images/<id_code>.png,
    test_images/<id_code>.png, a sample of id_code,diagnosis 0; the grade follows a disc's brightness."""
    from test_image_targets import disc, save

    rng = np.random.default_rng(3)
    grades = np.arange(n_train + n_test) % 5
    ids = [f"a{i:03d}" for i in range(n_train + n_test)]
    for i, (name, g) in enumerate(zip(ids, grades, strict=True)):
        folder = "train_images" if i < n_train else "test_images"
        save(root / folder / f"{name}.png", disc(rng, 120 + 30 * g + rng.uniform(-8, 8)))
    pd.DataFrame({"id_code": ids[:n_train], "diagnosis": grades[:n_train]}).to_csv(root / "train.csv", index=False)
    pd.DataFrame({"id_code": ids[n_train:], "diagnosis": 0}).to_csv(root / "sample_submission.csv", index=False)
    return root, grades[:n_train]


def test_grades_scored_by_qwk_are_values_cut_out_of_fold_into_the_training_grades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the submission wrote each image's value as a decimal (2.3174), which no QWK competition takes
    import json

    from pipeline.cli import main
    from pipeline.submission import SubmissionError

    monkeypatch.chdir(tmp_path)
    data, _ = aptos(tmp_path / "aptos2019-blindness-detection")
    assert new(tmp_path, "tgt_aptos_qwk", data, "--metric", "qwk") == 0
    module = load_competition(str(tmp_path / "comps" / "tgt_aptos_qwk"))
    assert isinstance(module.FILES, CsvImageTargets) and module.FILES.grades and module.Config().threshold
    s = run(tmp_path, "tgt_aptos_qwk", data, *QUICK, "--set", "folds=2")
    sub = published(s, data / "sample_submission.csv")
    assert set(sub["diagnosis"]) <= {0, 1, 2, 3, 4} and sub["diagnosis"].nunique() > 1
    assert s["cv"] > 0.5  # quadratic weighted kappa: a constant grade scores 0
    run_dir = Path(s["run_dir"])
    cut = json.loads((run_dir / "threshold.json").read_text())
    assert cut["grades"] == [0, 1, 2, 3, 4] and len(cut["cuts"]) == 4 and "score_after" in cut
    # predict of the test set alone: the run's grades and cuts, the same submission
    only = tmp_path / "only_test"
    only.mkdir()
    (only / "sample_submission.csv").write_bytes((data / "sample_submission.csv").read_bytes())
    (only / "test_images").symlink_to(data / "test_images")
    assert main(["predict", str(run_dir), "--data", str(only), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == Path(s["published"]).read_bytes()
    # a grade the training values never held is refused, naming the line
    bad = tmp_path / "bad.csv"
    sub.assign(diagnosis=sub["diagnosis"].where(sub.index != 3, 7)).to_csv(bad, index=False)
    test = module.load_test(module.Config(), only, {"grades": [0, 1, 2, 3, 4]})
    with pytest.raises(SubmissionError, match=r"bad.csv line 5: diagnosis '7' is none of the grades 0, 1, 2, 3, 4"):
        module.validate(test, bad)
