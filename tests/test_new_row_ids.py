"""`new` on downloads whose test table has no id column (Digit Recognizer: the ids are the test rows' numbers, in
order), a sample id matching a test column but for case, and refusals that name hundreds of columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from pipeline.tabular import load_tables

SIDE = 8  # Digit Recognizer's images are 28 x 28 (784 pixel columns); 8 x 8 keeps the run short


def digits(n: int, rng: np.random.Generator, protos: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """n noisy copies of the ten digit prototypes: their labels and pixel0 .. pixelN columns of 0-255 values."""
    y = rng.integers(0, 10, n)
    pixels = np.clip(protos[y] + rng.normal(0, 110, (n, protos.shape[1])), 0, 255).round().astype(int)
    return y, pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(protos.shape[1])])


def digit_recognizer(path: Path, n_train: int = 600, n_test: int = 200, side: int = SIDE, start: int = 1) -> tuple:
    """A Digit-Recognizer-shaped folder: train.csv (label, then pixels), test.csv (pixels only), and
    sample_submission.csv (ImageId start, start + 1, ... in order; Label 0). Returns it and the test rows' labels."""
    rng = np.random.default_rng(0)
    protos = rng.choice([0.0, 255.0], size=(10, side * side), p=[0.6, 0.4])
    y, train = digits(n_train, rng, protos)
    y_test, test = digits(n_test, rng, protos)
    path.mkdir()
    train.insert(0, "label", y)
    train.to_csv(path / "train.csv", index=False)
    test.to_csv(path / "test.csv", index=False)
    sample = pd.DataFrame({"ImageId": range(start, start + n_test), "Label": 0})
    sample.to_csv(path / "sample_submission.csv", index=False)
    return path, y_test


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def test_digit_recognizer_ids_come_from_the_test_rows_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: `new` refused ("its first column 'ImageId' is not a column of test.csv"), and no --id could settle it
    monkeypatch.chdir(tmp_path)
    data, y_test = digit_recognizer(tmp_path / "digits")
    # its 64 pixel columns are an 8x8 image, which `new` gives the cnn; --pixels none: the boosters, whose ids this is
    # about (test_new_pixels.py runs the cnn)
    assert new(tmp_path, "digits_rows", data, "--pixels", "none") == 0
    printed = capsys.readouterr().out
    assert "id ImageId (the test rows' numbers from 1)" in printed
    assert "each test row's id is its row number, counting from 1 (ROW_ID_START = 1 in the generated file" in printed
    comp = tmp_path / "comps" / "digits_rows"
    module = load_competition(str(comp))
    assert (module.ID, module.ROW_ID_START, module.TASK, module.SUBMISSION) == ("ImageId", 1, "multiclass", "labels")
    assert "\nROW_ID_START = 1  # None: ID is a column of TEST" in (comp / "__init__.py").read_text()

    fast = ["--preset", "fast", "--folds", "3", "--set", "max_trees=60", "--quiet"]
    assert main(["run", str(comp), "--data", str(data), *fast]) == 0
    run_dir = next((tmp_path / "runs" / "digits_rows").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    sub = pd.read_csv(summary["published"])
    sample = pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["ImageId", "Label"] and sub["ImageId"].tolist() == sample["ImageId"].tolist()
    accuracy = (sub["Label"].to_numpy() == y_test).mean()
    assert accuracy > 0.5  # chance is 0.1
    assert main(["validate", str(comp), summary["published"], "--data", str(data)]) == 0

    # a new test set of 50 rows with its own sample, no training rows: predict numbers its rows 1 .. 50 too
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    pd.read_csv(data / "test.csv").iloc[150:].to_csv(fresh / "test.csv", index=False)
    pd.DataFrame({"ImageId": range(1, 51), "Label": 0}).to_csv(fresh / "sample_submission.csv", index=False)
    assert main(["predict", str(run_dir), "--data", str(fresh), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    again = pd.read_csv(tmp_path / "out" / "submission.csv")
    assert again["ImageId"].tolist() == list(range(1, 51))
    assert again["Label"].tolist() == sub["Label"].iloc[150:].tolist()  # the same rows, the same saved models


def test_ids_counted_from_zero_and_a_named_test_column_wins(tmp_path: Path) -> None:
    data, _ = digit_recognizer(tmp_path / "digits", n_train=60, n_test=20, side=3, start=0)
    assert new(tmp_path, "from_zero", data) == 0
    module = load_competition(str(tmp_path / "comps" / "from_zero"))
    assert module.ROW_ID_START == 0
    loaded = module.load(module.Config(), data)
    assert loaded.test_ids.tolist() == list(range(20)) and "ImageId" not in loaded.X_test

    test = pd.read_csv(data / "test.csv")
    test.insert(0, "key", range(100, 120))  # a real id column, named with --id: the rows' order no longer counts
    test.to_csv(data / "test.csv", index=False)
    pd.DataFrame({"ImageId": range(100, 120), "Label": 0}).to_csv(data / "sample_submission.csv", index=False)
    assert new(tmp_path, "named_id", data, "--id", "key") == 0
    module = load_competition(str(tmp_path / "comps" / "named_id"))
    assert (module.ID, module.ROW_ID_START) == ("key", None)
    assert module.load(module.Config(), data).test_ids.tolist() == [str(i) for i in range(100, 120)]


@pytest.mark.parametrize(
    ("ids", "why"),
    [
        (list(range(1, 10)) + [11] + list(range(12, 22)), "line 11 holds 11 where 10 would follow 9"),
        (list(range(20, 0, -1)), "line 3 holds 19 where 21 would follow 20"),
        (list(range(1, 20)), "it has 19 rows, test.csv 20"),
        ([f"img{i}" for i in range(20)], "its first id img0 is no whole number"),
    ],
)
def test_sample_ids_that_do_not_number_the_test_rows_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, ids: list, why: str
) -> None:
    data, _ = digit_recognizer(tmp_path / "digits", n_train=60, n_test=20, side=3)
    pd.DataFrame({"ImageId": ids, "Label": 0}).to_csv(data / "sample_submission.csv", index=False)
    capsys.readouterr()
    assert new(tmp_path, "no_range", data) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: sample_submission.csv: its first column 'ImageId' is not a column of test.csv, and its ids are not "
        f"the test rows' numbers in order ({why}), so the id is unclear"
    )
    assert err.rstrip().endswith("Name it with --id COL.") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "comps" / "no_range").exists()


def test_a_test_column_holding_the_sample_ids_under_another_name_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # the sample's ids 0 .. 19 would number the test rows, but column key holds them in another order: which is it?
    data, _ = digit_recognizer(tmp_path / "digits", n_train=60, n_test=20, side=3, start=0)
    test = pd.read_csv(data / "test.csv")
    test.insert(0, "key", np.random.default_rng(2).permutation(20))
    test.to_csv(data / "test.csv", index=False)
    capsys.readouterr()
    assert new(tmp_path, "held", data) == 2
    err = capsys.readouterr().err
    assert (
        "its first column 'ImageId' is not a column of test.csv, whose column key holds its ids, so the id is " in err
    )
    assert "Name it with --id COL." in err and not (tmp_path / "comps" / "held").exists()


def test_column_lists_in_errors_are_capped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `--id` on Digit Recognizer listed all 784 pixel columns
    data, _ = digit_recognizer(tmp_path / "digits", n_train=30, n_test=10, side=28)
    capsys.readouterr()
    assert new(tmp_path, "capped", data, "--id", "Nope") == 2
    err = capsys.readouterr().err
    assert "--id Nope: not a column of test.csv; columns: pixel0, pixel1," in err
    assert "pixel9 ... and 774 more." in err and "pixel10," not in err and len(err) < 300
    assert new(tmp_path, "capped", data, "--target", "Nope") == 2
    assert "columns: label, pixel0, pixel1," in (err := capsys.readouterr().err) and "pixel8 ... and 775 more." in err

    # run's reading of the tables: no id column and no ROW_ID_START says which setting numbers the rows
    with pytest.raises(ContractError) as e:
        load_tables(data, "train.csv", "test.csv", "sample_submission.csv", "ImageId", "label", "multiclass")
    assert "no id column 'ImageId'; columns: pixel0," in str(e.value) and "... and 774 more." in str(e.value)
    assert "set ROW_ID_START to the first row's" in str(e.value) and len(str(e.value)) < 400
    test = pd.concat([pd.read_csv(data / "test.csv"), pd.DataFrame({"ImageId": range(1, 11)})], axis=1)
    test.to_csv(data / "test.csv", index=False)
    with pytest.raises(ContractError, match="has an id column 'ImageId', but ROW_ID_START = 1 numbers the rows"):
        load_tables(
            data, "train.csv", "test.csv", "sample_submission.csv", "ImageId", "label", "multiclass", row_id_start=1
        )


def regression_download(path: Path, test_ids: dict[str, range], sample_id: str) -> Path:
    """A small regression folder whose test.csv holds the given id columns and whose sample's id is `sample_id`."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=260)
    path.mkdir()
    pd.DataFrame({"Id": range(200), "x": x[:200], "y": 3 * x[:200] + rng.normal(0, 0.1, 200)}).to_csv(
        path / "train.csv", index=False
    )
    pd.DataFrame({**test_ids, "x": x[200:]}).to_csv(path / "test.csv", index=False)
    pd.DataFrame({sample_id: range(200, 260), "y": 0.0}).to_csv(path / "sample_submission.csv", index=False)
    return path


def test_a_sample_id_matching_a_test_column_but_for_case_is_that_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: refused, suggesting --id Id
    monkeypatch.chdir(tmp_path)
    data = regression_download(tmp_path / "case", {"Id": range(200, 260)}, "id")
    assert new(tmp_path, "case_id", data) == 0
    printed = capsys.readouterr().out
    assert (
        "id: Id of test.csv (sample_submission.csv's first column id, but for case); the submission's header "
        in printed
    )
    comp = tmp_path / "comps" / "case_id"
    assert load_competition(str(comp)).ID == "Id"
    run = ["run", str(comp), "--data", str(data), "--preset", "fast", "--folds", "3", "--set", "max_trees=50"]
    assert main([*run, "--quiet"]) == 0
    summary = json.loads(next((tmp_path / "runs" / "case_id").glob("*/summary.json")).read_text())
    sub = pd.read_csv(summary["published"])
    assert list(sub.columns) == ["id", "y"] and sub["id"].tolist() == list(range(200, 260))
    assert main(["validate", str(comp), summary["published"], "--data", str(data)]) == 0


def test_two_test_columns_matching_but_for_case_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = regression_download(tmp_path / "two", {"Id": range(200, 260), "ID": range(300, 360)}, "id")
    capsys.readouterr()
    assert new(tmp_path, "two_ids", data) == 2
    err = capsys.readouterr().err
    assert "its first column 'id' matches several columns of test.csv but for case (Id, ID)" in err
    assert "Name it with --id COL." in err and not (tmp_path / "comps" / "two_ids").exists()
