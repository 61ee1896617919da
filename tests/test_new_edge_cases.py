"""`new` + `run` on the awkward corners of real Kaggle downloads: each case builds a small download in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.contract import load_competition

FAST = ("--preset", "fast", "--set", "max_trees=200", "--folds", "3", "--quiet")


def download(path: Path, train: pd.DataFrame, test: pd.DataFrame, sample: pd.DataFrame) -> Path:
    """A Kaggle-style folder: train.csv, test.csv, sample_submission.csv."""
    path.mkdir()
    train.to_csv(path / "train.csv", index=False)
    test.to_csv(path / "test.csv", index=False)
    sample.to_csv(path / "sample_submission.csv", index=False)
    return path


def new_and_run(tmp_path: Path, name: str, data: Path, capsys: pytest.CaptureFixture, *run_args: str) -> tuple:
    """`new` then `run`: what `new` printed, the published submission (as text) and the run's summary."""
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    printed = capsys.readouterr().out
    assert main(["run", str(tmp_path / "comps" / name), "--data", str(data), *FAST, *run_args]) == 0
    summary = json.loads(next((tmp_path / "runs" / name).glob("*/summary.json")).read_text())
    return printed, pd.read_csv(summary["published"], dtype=str, keep_default_na=False), summary


def regression_tables(n: int, n_test: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n + n_test)
    df = pd.DataFrame({"id": np.arange(n + n_test), "x": x.round(4), "z": rng.normal(size=n + n_test).round(4)})
    df["y"] = (3 * x + rng.normal(0, 0.3, n + n_test)).round(3)
    return df.iloc[:n].reset_index(drop=True), df.iloc[n:].drop(columns="y").reset_index(drop=True)


def test_training_rows_without_a_target_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    train.loc[[5, 17, 200], "y"] = np.nan
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    printed, sub, summary = new_and_run(tmp_path, "nan_target", data, capsys)
    assert "unlabelled: 3 of the 300 rows of train.csv have no y" in printed
    assert summary["n_rows"] == 297 and summary["cv"] < 0.5 * train["y"].std()
    assert sub["id"].tolist() == test["id"].astype(str).tolist()
    module = load_competition(str(tmp_path / "comps" / "nan_target"))
    loaded = module.load(module.Config(), data)
    assert len(loaded.X) == len(loaded.y) == 297 and not np.isnan(loaded.y).any()


def test_zero_padded_ids_are_written_as_the_sample_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # ids such as 000123 are text to Kaggle: read as numbers they lose their zeros and the submission is refused
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    train["id"], test["id"] = (df["id"].map("{:06d}".format) for df in (train, test))
    sample = pd.DataFrame({"id": test["id"], "y": 0.0}).iloc[::-1]  # the sample's order is not test.csv's
    data = download(tmp_path / "dl", train, test, sample)
    _, sub, _ = new_and_run(tmp_path, "padded_ids", data, capsys)
    assert sub["id"].tolist() == sample["id"].tolist() and sub["id"].iloc[0] == "000359"


def test_class_probability_columns_named_with_a_prefix_in_any_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Playground S3E26: target Status (C, CL, D), the sample's columns Status_C, Status_CL, Status_D; here in
    # another order, so the classes' sorted order would put each probability under the wrong column
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(400, 80)
    train["Status"] = np.where(train.pop("y") > 1.5, "D", np.where(train["x"] < -0.3, "CL", "C"))
    sample = pd.DataFrame({"id": test["id"], "Status_D": 0.3, "Status_C": 0.6, "Status_CL": 0.1})
    data = download(tmp_path / "dl", train, test, sample)
    printed, sub, _ = new_and_run(tmp_path, "prefixed", data, capsys)
    assert "Status_D <- D, Status_C <- C, Status_CL <- CL" in printed
    assert list(sub.columns) == ["id", "Status_D", "Status_C", "Status_CL"]
    p = sub.set_index("id").astype(float)
    x = test.set_index(test["id"].astype(str))["x"]
    assert p["Status_D"].corr(x) > 0.5 and p["Status_CL"].corr(x) < -0.3  # each class's own probability


def test_class_columns() -> None:
    from pipeline.tabular.data import class_columns

    classes = [str(c) for c in range(1, 12)]
    assert class_columns([f"Class_{c}" for c in range(1, 12)], classes) == list(range(11))
    assert class_columns(["Class_11", "Class_1"], ["1", "11"]) == [1, 0]
    assert class_columns(["b", "a"], ["a", "b"]) == [1, 0]
    assert class_columns(["p0", "p1"], ["a", "b"]) is None


def test_an_id_of_dates_and_times_is_also_a_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # Bike Sharing Demand: the sample's id is `datetime`, and the hour drives the demand
    monkeypatch.chdir(tmp_path)
    when = pd.date_range("2011-01-01", periods=24 * 40, freq="h")
    rng = np.random.default_rng(0)
    hour = when.hour.to_numpy()
    count = (20 + 200 * np.exp(-((hour - 8) ** 2) / 4) + rng.normal(0, 5, len(when))).round()
    df = pd.DataFrame({"datetime": when.strftime("%Y-%m-%d %H:%M:%S"), "temp": rng.normal(15, 5, len(when)).round(1)})
    test_rows = when.day >= 25
    train, test = df[~test_rows].assign(count=count[~test_rows]), df[test_rows]
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"datetime": test["datetime"], "count": 0}))
    printed, sub, summary = new_and_run(tmp_path, "bike", data, capsys)
    assert "the id datetime holds dates or times, so it is also a feature" in printed
    assert summary["cv"] < 0.3 * train["count"].std()
    assert sub["datetime"].tolist() == test["datetime"].tolist()


def test_a_class_rarer_than_the_folds_gets_plain_k_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # stratified folds need 5 rows of every class; a class with 2 training rows stopped every run
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    train["cover"] = np.digitize(train.pop("y"), [-1.0, 1.0]) + 1
    train.loc[[3, 50], "cover"] = 4
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "cover": 1}))
    printed, sub, summary = new_and_run(tmp_path, "rare_class", data, capsys, "--set", "stack=off")
    assert "folds: kfold, not stratified: class 4 of cover has 2 training row(s)" in printed
    assert load_competition(str(tmp_path / "comps" / "rare_class")).FOLDS == "kfold"
    assert summary["cv"] > train["cover"].value_counts(normalize=True).max() + 0.1
    assert set(sub["cover"]) <= {"1", "2", "3", "4"}


@pytest.mark.parametrize(("layout", "kind"), [("zip", "zip"), ("folder", "zip"), ("zip", "7z"), ("folder", "7z")])
def test_csvs_inside_archives_of_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, layout: str, kind: str
) -> None:
    # older competitions ship train.csv.zip or train.csv.7z ... inside their zip; `run` extracts them, `new` reads them
    import io
    import zipfile

    import py7zr

    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    tables = {"train.csv": train, "test.csv": test, "sample_submission.csv": pd.DataFrame({"id": test["id"], "y": 0})}
    inner = {}
    for name, df in tables.items():
        buf = io.BytesIO()
        if kind == "zip":
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr(name, df.to_csv(index=False))
        else:
            with py7zr.SevenZipFile(buf, "w") as z:
                z.writestr(df.to_csv(index=False), name)
        inner[f"{name}.{kind}"] = buf.getvalue()
    data = tmp_path / ("download.zip" if layout == "zip" else "download")
    if layout == "zip":
        with zipfile.ZipFile(data, "w") as zf:
            for name, content in inner.items():
                zf.writestr(name, content)
    else:
        data.mkdir()
        for name, content in inner.items():
            (data / name).write_bytes(content)
    _, sub, summary = new_and_run(tmp_path, f"inner_{layout}_{kind}", data, capsys)
    module = load_competition(str(tmp_path / "comps" / f"inner_{layout}_{kind}"))
    assert module.EXPECTED_FILES == ["sample_submission.csv", "test.csv", "train.csv"]
    assert sub["id"].tolist() == test["id"].astype(str).tolist() and summary["cv"] < 0.5 * train["y"].std()


def test_the_submission_holds_the_samples_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # test.csv with rows the sample does not ask for: the submission holds the sample's ids (it was refused)
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    sample = pd.DataFrame({"id": test["id"], "y": 0.0}).iloc[5:]
    data = download(tmp_path / "dl", train, test, sample)
    printed, sub, _ = new_and_run(tmp_path, "sample_ids", data, capsys)
    assert "5 of the 60 rows of test.csv have an id that sample_submission.csv lacks" in printed
    assert sub["id"].tolist() == sample["id"].astype(str).tolist()


def test_sample_ids_missing_from_test_are_refused_by_new(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train, test = regression_tables(300, 60)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"] + 1, "y": 0.0}))
    assert main(["new", "shifted", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    err = capsys.readouterr().err
    assert "1 id(s) of sample_submission.csv are not in the column 'id' of test.csv (first: '360')" in err
    assert "--id COL" in err and not (tmp_path / "comps" / "shifted").exists()


def test_a_true_false_sample_refuses_a_probability_metric(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Spaceship Titanic's sample holds Transported False: probabilities were written, and refused after the run
    train, test = regression_tables(300, 60)
    train["Transported"] = train.pop("y") > 0
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "Transported": False}))
    assert main(["new", "auc", "--data", str(data), "--into", str(tmp_path / "comps"), "--metric", "roc_auc"]) == 2
    err = capsys.readouterr().err
    assert "holds True/False in Transported: it asks for labels. Use --metric accuracy" in err
    assert not (tmp_path / "comps" / "auc").exists()
    # --task regression and no --metric: the refusal names the default it picked, and the flags that settle it
    assert main(["new", "reg", "--data", str(data), "--into", str(tmp_path / "comps"), "--task", "regression"]) == 2
    err = capsys.readouterr().err
    assert "rmse (the default metric for regression targets) writes values" in err and "--metric rmse" not in err
    assert "Use --task binary --metric accuracy" in err


def test_a_binary_probability_column_names_its_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # a yes/no target with a sample of 0.5: the one column holds P(yes); new says so instead of leaving it to guess
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    train["answer"] = np.where(train.pop("y") > 0, "yes", "no")
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "answer": 0.5}))
    printed, sub, summary = new_and_run(tmp_path, "yes_no", data, capsys)
    assert "submission: answer gets the probability of answer = yes (the second of no, yes in sorted order)" in printed
    p_yes = sub["answer"].astype(float).to_numpy()
    assert summary["metric"] == "roc_auc" and summary["cv"] > 0.9
    assert roc_auc_score(test["x"] > 0, p_yes) > 0.95  # yes is about x > 0 (P(no) would score about 0.05)
