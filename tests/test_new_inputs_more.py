"""`new` + `run` + `predict` on more of what real downloads hold: ids written differently in test.csv and the
sample, a sample with a repeated id or a comma at the end of every line, a table saved with its row numbers, infinite
values, and a test set for `predict` that lacks a column the run's models learned from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from tests.test_new_edge_cases import FAST, download, new_and_run, regression_tables


def regression_download(path: Path, train: pd.DataFrame, test: pd.DataFrame) -> Path:
    """A download of regression_tables' rows: its sample asks for y, a number, for each test id."""
    return download(path, train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))


def binary_tables(n: int, n_test: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n + n_test)
    y = (x + rng.normal(0, 0.5, n + n_test) > 0).astype(int)
    df = pd.DataFrame({"id": np.arange(400, 400 + n + n_test), "x": x.round(4), "z": rng.normal(size=n + n_test)})
    return df.iloc[:n].assign(y=y[:n]), df.iloc[n:].reset_index(drop=True), y[n:]


@pytest.mark.parametrize(("test_ids", "sample_ids"), [("{:05d}", "{}"), ("{}", "{:05d}"), ("{}.0", "{}")])
def test_ids_the_two_files_write_differently_are_written_as_the_sample_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, test_ids: str, sample_ids: str
) -> None:
    # before: 00400 in test.csv against 400 in the sample trained every model, then refused its own submission;
    # 400.0 against 400 was refused by `new` with a flag (--id) that did not settle it
    monkeypatch.chdir(tmp_path)
    train, test, _ = binary_tables(300, 60)
    written = [sample_ids.format(i) for i in test["id"]]
    test["id"] = [test_ids.format(i) for i in test["id"]]
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": written, "y": 0}))
    _, sub, summary = new_and_run(tmp_path, "ids", data, capsys)
    assert summary["status"] == "complete" and list(sub["id"]) == written


def test_a_sample_with_a_repeated_id_is_refused_by_new(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `new` wrote the competition and `run` trained every model, then blamed its own submission
    train, test, _ = binary_tables(100, 20)
    sample = pd.DataFrame({"id": test["id"], "y": 0})
    sample.loc[5, "id"] = sample.loc[2, "id"]
    data = download(tmp_path / "dl", train, test, sample)
    assert main(["new", "dup", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    assert (
        f"sample_submission.csv: id '{sample.loc[2, 'id']}' appears twice (again on line 7)" in capsys.readouterr().err
    )


def test_a_comma_at_the_end_of_every_sample_line_is_no_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: `new` asked for --target A,B; given --target, it wrote P(class 0) under the target's name (inverted)
    monkeypatch.chdir(tmp_path)
    train, test, truth = binary_tables(300, 100)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.5}))
    sample = data / "sample_submission.csv"
    sample.write_text("".join(line + ",\n" for line in sample.read_text().splitlines()))
    assert sample.read_text().startswith("id,y,\n")
    _, sub, summary = new_and_run(tmp_path, "trailing", data, capsys, "--set", "stack=off")
    assert list(sub.columns) == ["id", "y"]
    auc = pd.Series(sub["y"].astype(float).to_numpy()).corr(pd.Series(truth), method="spearman")
    assert auc > 0.5  # the positive class's probability, not its complement
    assert main(["validate", str(tmp_path / "comps" / "trailing"), summary["published"], "--data", str(data)]) == 0


def test_a_saved_row_number_is_no_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: train.csv sorted by target and saved with its index read the target off `Unnamed: 0` (CV AUC 1.000)
    monkeypatch.chdir(tmp_path)
    train, test, _ = binary_tables(300, 100)
    data = tmp_path / "dl"
    data.mkdir()
    train.sort_values("y").reset_index(drop=True).to_csv(data / "train.csv")  # the index saved as a column
    test.to_csv(data / "test.csv")
    pd.DataFrame({"id": test["id"], "y": 0.5}).to_csv(data / "sample_submission.csv", index=False)
    printed, _, summary = new_and_run(tmp_path, "rownum", data, capsys)
    assert "ignored: Unnamed: 0 (each row number 0, 1, 2, ... once" in printed
    assert summary["cv"] < 0.99 and "Unnamed: 0" not in summary["features"]
    # the index saved without renumbering (sorted, then saved): the row numbers out of order, still no feature
    train.sort_values("y").to_csv(data / "train.csv")
    assert main(["new", "rownum2", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert "ignored: Unnamed: 0 (each row number" in capsys.readouterr().out


def test_infinite_values_are_missing_features_and_an_infinite_target_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: an inf feature gave the linear model NaN means (a traceback), an inf target a traceback
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    train.loc[[3, 9], "z"], test.loc[[1], "z"] = [np.inf, -np.inf], np.inf
    data = regression_download(tmp_path / "dl", train, test)
    _, sub, summary = new_and_run(tmp_path, "inf", data, capsys)
    assert summary["status"] == "complete" and np.isfinite(sub["y"].astype(float)).all()
    train.loc[7, "y"] = np.inf
    bad = regression_download(tmp_path / "bad", train, test)
    assert main(["run", str(tmp_path / "comps" / "inf"), "--data", str(bad), *FAST]) == 2
    assert "y must be a number for regression; line 9 has inf" in capsys.readouterr().err


def test_predict_refuses_a_test_set_without_a_column_the_models_learned_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: the missing column reached the models as missing on every row, and a "validated" submission differed
    # from the run's on every row
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    data = regression_download(tmp_path / "dl", train, test)
    _, _, summary = new_and_run(tmp_path, "pred", data, capsys)
    assert summary["features"] == ["x", "z"]
    run_dir = Path(summary["run_dir"])
    shuffled = regression_download(tmp_path / "other", train, test[["z", "id", "x"]])
    assert main(["predict", str(run_dir), "--data", str(shuffled), "--out", str(tmp_path / "p1"), "--quiet"]) == 0
    lacking = regression_download(tmp_path / "lacking", train, test.drop(columns="x"))
    assert main(["predict", str(run_dir), "--data", str(lacking), "--out", str(tmp_path / "p2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"the test rows lack 1 column(s) run {run_dir.name} was trained on: x" in err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


def test_twelve_whole_number_classes_the_sample_names_one_by_one_are_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: above 10 whole numbers the target was a regression, and the refusal named --metric log_loss, which
    # was refused in turn (only --task multiclass, which no message named, worked)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(720, 2))
    y = 1 + (np.digitize(x[:, 0], np.quantile(x[:, 0], np.linspace(0, 1, 13)[1:-1])))  # 1..12 from x0
    df = pd.DataFrame({"id": range(720), "a": x[:, 0].round(4), "b": x[:, 1].round(4)})
    train, test = df.iloc[:600].assign(target=y[:600]), df.iloc[600:]
    columns = [f"Class_{k}" for k in range(1, 13)]
    sample = pd.DataFrame({"id": test["id"], **dict.fromkeys(columns, 1 / 12)})
    data = download(tmp_path / "dl", train, test, sample)
    printed, sub, summary = new_and_run(tmp_path, "twelve", data, capsys)
    assert "task: multiclass (the sample's columns Class_1 .. Class_12 name the 12 values of target)" in printed
    assert summary["metric"] == "log_loss" and list(sub.columns) == ["id", *columns]
    probs = sub[columns].astype(float).to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert (probs.argmax(axis=1) + 1 == y[600:]).mean() > 0.5  # Class_k holds class k's probability


def test_a_download_of_gzipped_csvs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: `new` found "no CSV files", and --train train.csv.gz failed on the compressed bytes
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    data = tmp_path / "gz"
    data.mkdir()
    train.to_csv(data / "train.csv.gz", index=False)
    test.to_csv(data / "test.csv.gz", index=False)
    pd.DataFrame({"id": test["id"], "y": 0.0}).to_csv(data / "sample_submission.csv.gz", index=False)
    _, sub, summary = new_and_run(tmp_path, "gzipped", data, capsys)
    assert summary["status"] == "complete" and len(sub) == 60 and summary["cv"] < 1.0


def test_a_latin_1_download_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: "UnicodeDecodeError: ... byte 0xe9 in position 3", the position within pandas' buffer
    train, test = regression_tables(50, 10)
    train["town"] = test_town = "Orléans"
    test["town"] = test_town
    data = tmp_path / "latin"
    data.mkdir()
    train.to_csv(data / "train.csv", index=False, encoding="latin-1")
    test.to_csv(data / "test.csv", index=False, encoding="latin-1")
    pd.DataFrame({"id": test["id"], "y": 0.0}).to_csv(data / "sample_submission.csv", index=False)
    assert main(["new", "latin", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    err = capsys.readouterr().err
    assert "train.csv is not UTF-8 text (a byte 0xe9: Latin-1 or Windows-1252?); save it as UTF-8" in err
    assert "position" not in err
