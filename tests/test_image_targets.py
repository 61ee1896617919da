"""Image competitions answered by values, label columns or tags (pipeline/vision/csv_targets.py with ImageRegressor
and ImageMultiLabel): `run` of a competition of each kind on a generated download beats the best constant answer out
of fold and writes the sample's submission; a tags run cuts at a threshold fitted out of fold, which `predict` of the
test set alone applies too; bad files are refused naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline import multilabel
from pipeline.cli import main
from pipeline.contract import ContractError, load_competition

SIZE = 32
COLOURS = ((230, 40, 40), (40, 220, 60), (50, 80, 240))
TAGS = ("red", "green", "blue")

COMPETITION = '''"""A generated-download stand-in for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.contract import Metric
from pipeline.vision.augment import standard_transforms
from pipeline.vision.backbones import networks
from pipeline.vision.csv_targets import CsvImageTargets
from pipeline.vision.multioutput import {kind}
from pipeline.vision.recipe import SCRATCH_SAMPLE, FineTuneRecipe

KAGGLE_SLUG = "stand-in"
METRIC = Metric({metric!r}, greater_is_better={greater})
FOLDS = "kfold"
EXPECTED_FILES = ["train.csv", "sample_submission.csv", "train", "test"]
FILES = CsvImageTargets("train.csv", {id!r}, {fields}, image_path="train/{{}}.png", test_image_path="test/{{}}.png")
load, load_test, score = FILES.load, FILES.load_test, FILES.score
write_submission, validate = FILES.write_submission, FILES.validate


@dataclass(frozen=True)
class Config(FineTuneRecipe):
    archs: tuple[str, ...] = ("test_resnet",)
    threshold: bool | str = True


PRESETS: dict[str, dict[str, Any]] = {{
    "fast": {{**SCRATCH_SAMPLE, "epochs": 12, "batch_size": 8, "lr": 3e-3, "crop_scale": 0.9, "color_jitter": 0.0}}
}}


def models(cfg: Config) -> dict[str, Any]:
    return networks(cfg, standard_transforms, {kind})
'''


def write_competition(
    root: Path, name: str, kind: str, metric: str, greater: bool, id_column: str, fields: str
) -> Path:
    folder = root / "comps" / name
    folder.mkdir(parents=True)
    text = COMPETITION.format(kind=kind, metric=metric, greater=greater, id=id_column, fields=fields)
    (folder / "__init__.py").write_text(text)
    return folder


def canvas(rng: np.random.Generator) -> np.ndarray:
    return (rng.uniform(40, 110, 3) + rng.normal(0, 10, (SIZE, SIZE, 3))).clip(0, 255)


def save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2BGR))


def disc(rng: np.random.Generator, level: float) -> np.ndarray:
    """A disc of grey `level` (what crops and flips keep) at a random place and size."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img, (cy, cx), r = canvas(rng), rng.uniform(12, 20, 2), rng.uniform(6, 10)
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = level
    return img


def squares(rng: np.random.Generator, row: np.ndarray) -> np.ndarray:
    img = canvas(rng)
    for k in np.flatnonzero(row):
        y, x = rng.integers(2, SIZE - 10, 2)
        img[y : y + 8, x : x + 8] = COLOURS[k]
    return img


def pawpularity(root: Path, n_train: int = 96, n_test: int = 24) -> tuple[Path, np.ndarray]:
    """PetFinder's layout: train.csv (Id, two metadata columns, Pawpularity), test.csv (Id and the metadata),
    train/<Id>.png, test/<Id>.png; the score (6 to 94) follows a disc's brightness."""
    rng = np.random.default_rng(0)
    level = rng.uniform(110, 250, n_train + n_test)
    ids = [f"p{i:03d}" for i in range(n_train + n_test)]
    for i, (name, v) in enumerate(zip(ids, level, strict=True)):
        save(root / ("train" if i < n_train else "test") / f"{name}.png", disc(rng, v))
    meta = {"Eyes": rng.integers(0, 2, n_train + n_test), "Blur": rng.integers(0, 2, n_train + n_test)}
    frame = pd.DataFrame({"Id": ids, **meta, "Pawpularity": np.round((level - 100) / 1.6).astype(int)})
    frame.iloc[:n_train].to_csv(root / "train.csv", index=False)
    frame.iloc[n_train:, :3].to_csv(root / "test.csv", index=False)
    pd.DataFrame({"Id": ids[n_train:], "Pawpularity": 50}).to_csv(root / "sample_submission.csv", index=False)
    return root, frame["Pawpularity"].to_numpy()[:n_train]


def tagged(
    root: Path, tags_column: bool, n_train: int = 96, n_test: int = 24, shares: tuple[float, ...] = (0.5, 0.5, 0.5)
) -> tuple[Path, np.ndarray]:
    """Images with any of three coloured squares (each in about `shares` of them): as 0/1 columns red,green,blue
    (plant pathology's layout) or one column of space-separated tags (Planet's), each image with at least one."""
    rng = np.random.default_rng(1)
    y = rng.random((n_train + n_test, 3)) < np.asarray(shares)
    y[~y.any(axis=1), 0] = True
    ids = [f"img_{i}" for i in range(n_train + n_test)]
    for i, (name, row) in enumerate(zip(ids, y, strict=True)):
        save(root / ("train" if i < n_train else "test") / f"{name}.png", squares(rng, row))
    if tags_column:
        cells = [" ".join(t for t, on in zip(TAGS, row, strict=True) if on) for row in y[:n_train]]
        pd.DataFrame({"image_name": ids[:n_train], "tags": cells}).to_csv(root / "train.csv", index=False)
        sample = pd.DataFrame({"image_name": ids[n_train:], "tags": "red green"})
    else:
        frame = pd.DataFrame(y[:n_train].astype(int), columns=list(TAGS))
        frame.insert(0, "image_id", ids[:n_train])
        frame.to_csv(root / "train.csv", index=False)
        sample = pd.DataFrame({"image_id": ids[n_train:], **{t: 0.5 for t in TAGS}})
    sample.to_csv(root / "sample_submission.csv", index=False)
    return root, y[:n_train].astype(int)


def run(root: Path, competition: Path, data: Path, *extra: str) -> tuple[dict, Path]:
    assert main(["run", str(competition), "--data", str(data), "--preset", "fast", "--quiet", *extra]) == 0
    run_dir = sorted((root / "runs" / competition.name).glob("*"))[-1]
    return json.loads((run_dir / "summary.json").read_text()), run_dir


def test_a_value_per_image_competition_beats_the_mean_and_writes_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, y = pawpularity(tmp_path / "paw")
    comp = write_competition(
        tmp_path,
        "paw_targets_t",
        "ImageRegressor",
        "rmse",
        False,
        "Id",
        'columns=("Pawpularity",), test_csv="test.csv"',
    )
    s, _ = run(tmp_path, comp, data)
    assert s["cv"] < 0.7 * float(np.std(y))  # the mean of the training scores would score their deviation
    sub, sample = pd.read_csv(s["published"]), pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["Id", "Pawpularity"] and sub["Id"].tolist() == sample["Id"].tolist()
    assert sub["Pawpularity"].std() > 5  # values per image, not a constant


def test_label_columns_get_a_probability_each_scored_by_mean_auc(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, _ = tagged(tmp_path / "pathology", tags_column=False)
    fields = 'columns=("red", "green", "blue"), labels=True, metric="roc_auc"'
    comp = write_competition(tmp_path, "pathology_targets_t", "ImageMultiLabel", "roc_auc", True, "image_id", fields)
    s, _ = run(tmp_path, comp, data)
    assert s["cv"] > 0.8  # mean column-wise ROC AUC; chance is 0.5
    sub = pd.read_csv(s["published"])
    assert list(sub.columns) == ["image_id", "red", "green", "blue"] and sub.iloc[:, 1:].stack().between(0, 1).all()
    assert not np.allclose(sub.iloc[:, 1:].sum(axis=1), 1.0)  # independent labels, not one class a row


def test_tags_are_cut_out_of_fold_and_predict_applies_the_same_cut(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data, y = tagged(tmp_path / "planet", tags_column=True)
    fields = 'tags_column="tags", metric="f1_samples"'
    comp = write_competition(tmp_path, "planet_targets_t", "ImageMultiLabel", "f1_samples", True, "image_name", fields)
    s, run_dir = run(tmp_path, comp, data)
    every_tag = multilabel.f_score("f1_samples", y, np.ones(y.shape))  # the best constant guess here
    assert s["cv"] > every_tag + 0.1
    cut = json.loads((run_dir / "threshold.json").read_text())
    assert len(cut["fold_thresholds"]) == 2 and 0 < cut["threshold"] < 1  # fitted per fold on the other fold's rows
    if cut["applied"]:
        assert s["cv"] == pytest.approx(cut["score_after"]) and cut["score_after"] > cut["score_before"]
    else:
        assert s["cv"] == pytest.approx(cut["score_before"])
    sub = pd.read_csv(s["published"])
    assert list(sub.columns) == ["image_name", "tags"]
    assert all(cell.split() and set(cell.split()) <= set(TAGS) for cell in sub["tags"])
    # predict of the test set alone (no train.csv): the run's submission again, its cut included
    assert predict_test_alone(tmp_path, data, run_dir) == Path(s["published"]).read_bytes()


def predict_test_alone(tmp_path: Path, data: Path, run_dir: Path) -> bytes:
    """`predict` of the run's test set alone (its sample and images, no train.csv): the submission's bytes."""
    only = tmp_path / "only_test"
    only.mkdir()
    (only / "sample_submission.csv").write_bytes((data / "sample_submission.csv").read_bytes())
    (only / "test").symlink_to(data / "test")
    assert main(["predict", str(run_dir), "--data", str(only), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    return (tmp_path / "out" / "submission.csv").read_bytes()


def test_a_cut_per_tag_is_fitted_out_of_fold_and_predict_applies_the_same_cuts(tmp_path, monkeypatch):
    # tags of very different shares, learnt for a few epochs: probabilities each tag wants cut at its own point
    monkeypatch.chdir(tmp_path)
    data, _ = tagged(tmp_path / "planet", tags_column=True, shares=(0.85, 0.4, 0.12))
    fields = 'tags_column="tags", metric="f2_samples"'
    comp = write_competition(tmp_path, "planet_per_tag_t", "ImageMultiLabel", "f2_samples", True, "image_name", fields)
    s, run_dir = run(tmp_path, comp, data, "--set", "threshold=per_tag", "--set", "epochs=6")
    cut = json.loads((run_dir / "threshold.json").read_text())
    per_tag, stages = cut["per_tag"], json.loads((run_dir / "stages.json").read_text())
    assert len(per_tag["thresholds"]) == 3 and len(per_tag["fold_thresholds"]) == 2  # a cut per tag, per fold
    assert per_tag["score_before"] == (cut["score_after"] if cut["applied"] else cut["score_before"])
    if per_tag["applied"]:  # it beat the one cut out of fold (here it does, by 0.005)
        assert s["cv"] == pytest.approx(per_tag["score_after"]) and per_tag["score_after"] > per_tag["score_before"]
        assert stages["threshold"] == {"kind": "tag_thresholds", "thresholds": per_tag["thresholds"]}
    else:
        assert s["cv"] == pytest.approx(per_tag["score_before"])
    assert predict_test_alone(tmp_path, data, run_dir) == Path(s["published"]).read_bytes()


def test_a_cut_per_tag_is_refused_where_there_are_no_tags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data, _ = pawpularity(tmp_path / "paw", n_train=12, n_test=4)
    comp = write_competition(
        tmp_path, "paw_per_tag_t", "ImageRegressor", "rmse", False, "Id", 'columns=("Pawpularity",)'
    )
    assert main(["run", str(comp), "--data", str(data), "--preset", "fast", "--set", "threshold=per_tag"]) == 2
    assert 'Config.threshold "per_tag" fits a cut per tag' in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before the run folder, let alone a fit


def test_a_cut_per_tag_on_a_config_of_threshold_bool_says_to_declare_it_bool_or_str(tmp_path, monkeypatch, capsys):
    # a tags competition generated before the cut per tag: its Config declares `threshold: bool`
    monkeypatch.chdir(tmp_path)
    data, _ = tagged(tmp_path / "planet", tags_column=True, n_train=12, n_test=4)
    fields = 'tags_column="tags", metric="f2_samples"'
    comp = write_competition(tmp_path, "planet_bool_cut_t", "ImageMultiLabel", "f2_samples", True, "image_name", fields)
    init = comp / "__init__.py"
    init.write_text(init.read_text().replace("threshold: bool | str = True", "threshold: bool = True"))
    args = ["run", str(comp), "--data", str(data), "--preset", "fast"]
    assert main([*args, "--set", "threshold=per_tag"]) == 2
    err = capsys.readouterr().err
    assert "Wrong type for 'threshold': expected bool (true/false), got 'per_tag'." in err
    assert (
        '"per_tag" (a cut per tag, for tags scored by an F-score) needs the field declared '
        "`threshold: bool | str = True` in comps/planet_bool_cut_t/__init__.py" in err
    )
    assert not (tmp_path / "runs").exists()  # refused before the run folder
    assert main([*args, "--set", "threshold=maybe"]) == 2  # another value: the type's refusal alone
    err = capsys.readouterr().err
    assert "expected bool (true/false), got 'maybe'." in err and "bool | str" not in err


def test_bad_target_files_are_refused_naming_the_line(tmp_path):
    data, _ = pawpularity(tmp_path / "paw", n_train=12, n_test=4)
    train = pd.read_csv(data / "train.csv", dtype=str)
    train.loc[5, "Pawpularity"] = "n/a"
    train.to_csv(data / "train.csv", index=False)
    comp = write_competition(
        tmp_path, "paw_bad_targets_t", "ImageRegressor", "rmse", False, "Id", 'columns=("Pawpularity",)'
    )
    module = load_competition(str(comp))
    with pytest.raises(ContractError, match=r"train.csv line 7: Pawpularity is 'n/a', not a number"):
        module.load(module.Config(), data)
    labels, _ = tagged(tmp_path / "pathology", tags_column=False, n_train=12, n_test=4)
    table = pd.read_csv(labels / "train.csv", dtype=str)
    table.loc[2, "green"] = "2"
    table.to_csv(labels / "train.csv", index=False)
    fields = 'columns=("red", "green", "blue"), labels=True, metric="roc_auc"'
    comp = write_competition(
        tmp_path, "pathology_bad_targets_t", "ImageMultiLabel", "roc_auc", True, "image_id", fields
    )
    module = load_competition(str(comp))
    with pytest.raises(ContractError, match=r"train.csv line 4: green is '2', not 0 or 1"):
        module.load(module.Config(), labels)


def test_tags_named_by_numbers_are_checked_as_tags_not_numbers(tmp_path):
    # Human Protein Atlas' tags are 0 to 27 and its sample's cells are "0": a submission of "0 5 25" holds no number,
    # but is valid tags; a tag never trained on is refused naming the line
    from pipeline.contract import Data
    from pipeline.submission import SubmissionError
    from pipeline.vision.csv_targets import CsvImageTargets

    files = CsvImageTargets("train.csv", "Id", tags_column="Predicted", metric="f1_macro")
    pd.DataFrame({"Id": ["a", "b"], "Predicted": "0"}).to_csv(tmp_path / "sample_submission.csv", index=False)
    data = Data(None, None, None, np.array(["a", "b"]), tmp_path / "sample_submission.csv", info={"tags": ["0", "5"]})
    files.write_submission(data, np.array([[0.9, 0.8], [0.1, 0.7]]), tmp_path / "submission.csv")
    assert (tmp_path / "submission.csv").read_text() == "Id,Predicted\na,0 5\nb,5\n"
    files.validate(data, tmp_path / "submission.csv")
    (tmp_path / "submission.csv").write_text("Id,Predicted\na,0 5\nb,25\n")
    with pytest.raises(SubmissionError, match="submission.csv line 3: tag '25' is none of the 2 trained on"):
        files.validate(data, tmp_path / "submission.csv")
