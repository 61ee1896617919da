"""`new` + `run` on what real downloads write: a code that test.csv holds as numbers, day-first dates, labels written
otherwise than the sample writes them, a target column left empty in test.csv, a feature test.csv lacks, a negative
target for rmsle, another separator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dates import date_format, parse_dates
from features.tabular import TabularEncoder
from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.tabular import score
from tests.test_new_edge_cases import FAST, download, new_and_run, regression_tables


def floors(n: int, n_test: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """A code `floor` whose label is floor == "2"; train holds `basement` too, so pandas reads train's floor as text,
    while test's holds numbers only (and a few empty cells), which pandas reads as 1.0, 2.0, 3.0."""
    rng = np.random.default_rng(seed)
    floor = rng.choice(["1", "2", "3"], n + n_test).astype(object)
    y = ((floor == "2") ^ (rng.random(n + n_test) < 0.03)).astype(int)
    df = pd.DataFrame({"id": np.arange(n + n_test), "floor": floor, "x": rng.normal(size=n + n_test).round(3)})
    train, test = df.iloc[:n].assign(y=y[:n]), df.iloc[n:].reset_index(drop=True)
    train.loc[:20, "floor"] = "basement"
    test.loc[:2, "floor"] = np.nan
    return train, test, y[n:]


def test_a_code_that_test_holds_as_numbers_keeps_train_s_levels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: test's floors became "1.0", "2.0", levels no model had seen, and every test row was labelled 0 (0.65
    # accuracy against the truth) under a CV of 0.94
    monkeypatch.chdir(tmp_path)
    train, test, truth = floors(300, 100)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0}))
    _, sub, summary = new_and_run(tmp_path, "floors", data, capsys)
    assert summary["cv"] > 0.9
    assert (sub["y"].astype(int).to_numpy() == truth).mean() > 0.9
    module = load_competition(str(tmp_path / "comps" / "floors"))
    loaded = module.load(module.Config(), data)
    assert set(loaded.X_test["floor"].dropna()) == {"1", "2", "3"}


def test_rmsle_on_a_negative_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"id": range(100), "x": rng.normal(size=100), "y": rng.normal(size=100)})
    test = pd.DataFrame({"id": range(100, 120), "x": rng.normal(size=20)})
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    assert main(["new", "neg", "--data", str(data), "--into", str(tmp_path / "comps"), "--metric", "rmsle"]) == 2
    err = capsys.readouterr().err
    first = int(np.flatnonzero(train["y"] < 0)[0])
    assert f"train.csv has negative y values (first {train['y'][first]:g}, on line {first + 2})" in err
    assert "use --metric rmse" in err and not (tmp_path / "comps" / "neg").exists()
    # a run of a file edited to rmsle is stopped by the metric itself, not scored NaN
    with pytest.raises(ValueError, match="a target is negative"):
        score("rmsle", train["y"].to_numpy(), np.zeros((100, 1)))


@pytest.mark.parametrize(
    ("labels", "sample_value", "written"),
    [
        ([False, True], 0, {"0", "1"}),  # train True/False, the sample 0/1
        ([0, 1], False, {"False", "True"}),  # train 0/1, the sample True/False
    ],
)
def test_true_false_labels_are_written_as_the_sample_writes_them(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    labels: list,
    sample_value: object,
    written: set,
) -> None:
    # before: the whole CV ran, then the run refused its own submission ("column y must be numeric")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    df = pd.DataFrame({"id": range(400), "x": x.round(3), "y": np.where(x > 0, labels[1], labels[0])})
    train, test = df.iloc[:300], df.iloc[300:].drop(columns="y")
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": sample_value}))
    _, sub, summary = new_and_run(tmp_path, "flags", data, capsys)
    assert set(sub["y"]) == written and summary["cv"] > 0.9
    on = sub["y"].isin(["1", "True"]).to_numpy()
    assert (on == (x[300:] > 0)).mean() > 0.9
    # a hand-made file with a label that is no class is refused, also where the sample writes numbers (0.5 passed)
    sub.loc[4, "y"] = "0.5"
    sub.to_csv(tmp_path / "mine.csv", index=False)
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "comps" / "flags"), str(tmp_path / "mine.csv"), "--data", str(data)]) == 2
    assert "'0.5'" in (err := capsys.readouterr().err) and "line 6" in err


def test_labels_the_sample_cannot_hold_are_refused_by_new(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"id": range(100), "x": rng.normal(size=100)})
    train["y"] = np.where(train["x"] > 0, "Yes", "No")
    test = pd.DataFrame({"id": range(100, 120), "x": rng.normal(size=20)})
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0}))
    assert main(["new", "yes_no", "--data", str(data), "--into", str(tmp_path / "comps")]) == 2
    err = capsys.readouterr().err
    assert "sample_submission.csv writes numbers in y (such as 0), but the target's classes are No, Yes" in err
    assert not (tmp_path / "comps" / "yes_no").exists()


def test_a_date_column_is_read_in_one_format() -> None:
    # read value by value, 01/09/2021 was the 9th of January beside 28/08/2021
    day_first = pd.Series(["28/08/2021", "01/09/2021", "12/09/2021", None, "13/09/2021"])
    assert date_format(day_first) == "%d/%m/%Y"
    assert parse_dates(day_first).dt.month.tolist()[:3] == [8, 9, 9]
    assert date_format(pd.Series(["01/09/2021", "02/09/2021"])) == "%m/%d/%Y"  # ambiguous: month first, as pandas
    assert date_format(pd.Series(["1/9/21", "13/9/21"])) == "%d/%m/%y"
    zoned = parse_dates(pd.Series(["2020-01-01T10:00:00Z", "2020-01-01T10:00:00+02:00"]))
    assert zoned.dt.tz is None and zoned.dt.hour.tolist() == [10, 8]
    enc = TabularEncoder("lightgbm").fit(pd.DataFrame({"d": day_first, "x": range(5)}))
    out = enc.transform(pd.DataFrame({"d": ["05/01/2022", "30/12/2021"], "x": [0, 1]}))
    assert out["d__month"].tolist() == [1.0, 12.0] and out["d__day"].tolist() == [5.0, 30.0]


def test_a_date_column_written_in_two_styles_reads_both() -> None:
    # before: one format for the column, so the day-first third of it was missing, its year and month lost
    iso = [f"2021-0{m}-{d:02d}" for m in range(1, 10) for d in (3, 17)]
    day_first = ["31/01/2022", "15/02/2022", "05/03/2022", "28/04/2022", "13/05/2022", "01/06/2022"]
    both = pd.Series(iso + day_first + [None, "unknown"])
    assert date_format(both) == "ISO8601|%d/%m/%Y"
    read = parse_dates(both)
    assert read.iloc[:-2].notna().all() and read.iloc[-2:].isna().all()  # no date in a missing cell or a word
    assert read.iloc[18:24].dt.month.tolist() == [1, 2, 3, 4, 5, 6] and read.iloc[18].day == 31
    assert read.iloc[:18].tolist() == pd.to_datetime(iso).tolist()
    enc = TabularEncoder("lightgbm").fit(pd.DataFrame({"d": both, "x": range(len(both))}))
    out = enc.transform(pd.DataFrame({"d": ["2023-07-04", "04/07/2023"], "x": [0, 1]}))
    assert out["d__month"].tolist() == [7.0, 7.0] and out["d__day"].tolist() == [4.0, 4.0]


def test_a_test_set_later_in_day_first_dates_gets_folds_forward_in_time(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    days = pd.date_range("2021-06-01", periods=150, freq="D")
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"id": range(150), "date": days.strftime("%d/%m/%Y"), "x": rng.normal(size=150)})
    train, test = df.iloc[:120].assign(y=rng.normal(size=120)), df.iloc[120:]
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    assert main(["new", "later_day_first", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert "time: every test row's date (2021-09-29 to 2021-10-28) follows" in capsys.readouterr().out
    assert '\nFOLDS = "time"' in (tmp_path / "comps" / "later_day_first" / "__init__.py").read_text()


def test_an_empty_target_column_in_test_and_an_empty_feature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: the target could not be named at all ("also a column of test.csv"), and a feature test.csv leaves empty
    # was the model's top feature in CV
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    x = rng.normal(size=360)
    df = pd.DataFrame({"id": range(360), "x": x.round(3), "hint": (2 * x).round(3), "price": (3 * x).round(3)})
    train, test = df.iloc[:300], df.iloc[300:].reset_index(drop=True)
    test = test.assign(price=np.nan, hint=np.nan)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "price": 0.0}))
    printed, sub, summary = new_and_run(tmp_path, "empty_cols", data, capsys)
    assert "ignored: hint (empty on every row of test.csv: no value to predict from)" in printed
    assert summary["cv"] < 0.5 and len(sub) == 60
    module = load_competition(str(tmp_path / "comps" / "empty_cols"))
    loaded = module.load(module.Config(), data)
    assert list(loaded.X.columns) == ["x"]
    # the report's per-model CV is its OOF predictions scored on all rows at once, comparable with the blend's
    oof = np.load(Path(summary["run_dir"]) / "oof" / "lightgbm.npy")
    assert summary["blend"]["oof_scores"]["lightgbm"] == pytest.approx(module.score(loaded.y, oof))


def test_a_target_test_csv_fills_in_is_refused_clearly_and_taken_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: "no column of sample_submission.csv (y) is in train.csv", y being train's column, and --target y was
    # refused too ("also a column of test.csv"): no flag led to a run but editing test.csv
    monkeypatch.chdir(tmp_path)
    train, test = regression_tables(300, 60)
    test["y"] = -1.0  # a placeholder the download fills in
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    args = ["new", "filled", "--data", str(data), "--into", str(tmp_path / "comps")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "sample_submission.csv's y is a column of train.csv, but of test.csv too, with values on 60 of 60" in err
    assert "name it with --target y" in err and not (tmp_path / "comps" / "filled").exists()
    assert main([*args, "--target", "y"]) == 0
    assert "target: y is also a column of test.csv, with values on 60 of 60 rows: they are never read" in (
        capsys.readouterr().out
    )
    assert main(["run", str(tmp_path / "comps" / "filled"), "--data", str(data), *FAST]) == 0
    module = load_competition(str(tmp_path / "comps" / "filled"))
    assert list(module.load(module.Config(), data).X_test.columns) == ["x", "z"]
    # a column the sample does not name is still refused as the target
    assert main([*args[:1], "other", *args[2:], "--target", "z"]) == 2
    assert "target 'z' is also a column of test.csv; is it really the target?" in capsys.readouterr().err


def test_numbers_test_writes_as_text_are_noted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train, test = pd.DataFrame({"id": range(50), "x": range(50), "y": range(50)}), pd.DataFrame({"id": [50, 51]})
    test["x"] = ["?", "7"]
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    assert main(["new", "qmark", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert "number columns, read as missing: x (1, such as '?')" in capsys.readouterr().out


def test_another_separator_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train, test = pd.DataFrame({"id": range(5), "x": range(5), "y": range(5)}), pd.DataFrame({"id": [5], "x": [1]})
    (dl := tmp_path / "dl").mkdir()
    train.to_csv(dl / "train.csv", sep=";", index=False)
    test.to_csv(dl / "test.csv", sep=";", index=False)
    pd.DataFrame({"id": [5], "y": [0.0]}).to_csv(dl / "sample_submission.csv", sep=";", index=False)
    assert main(["new", "semi", "--data", str(dl), "--into", str(tmp_path / "comps")]) == 2
    assert "read as one column 'id;x;y': its values are separated by semicolons, not commas" in capsys.readouterr().err


def test_a_test_set_that_starts_on_the_last_training_day_is_still_later(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: one shared boundary day sent the run to random folds, whose CV flattered it (1.07 for 1.20 held out)
    days = pd.date_range("2021-06-01", periods=150, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(5)
    dates = [*days[:120], *[days[119]] * 5, *days[120:155]]  # the test's first 5 rows share the last training day
    df = pd.DataFrame({"id": range(len(dates)), "date": dates, "x": rng.normal(size=len(dates))})
    train, test = df.iloc[:120].assign(y=rng.normal(size=120)), df.iloc[120:]
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    assert main(["new", "shared_day", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert '\nFOLDS = "time"' in (tmp_path / "comps" / "shared_day" / "__init__.py").read_text()


@pytest.mark.parametrize(("metric", "values"), [("rmse", np.arange(6)), ("mae", np.arange(2))])
def test_a_metric_scoring_values_makes_whole_numbers_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture, metric: str, values: np.ndarray
) -> None:
    # counts 0..5 (or a 0/1 column) the sample writes as whole numbers read as classes, but --metric rmse or mae
    # scores values: the user asked for a regression, where such a target was refused as classes
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    df = pd.DataFrame({"id": range(200), "x": x, "y": np.clip(np.round(x + 2.5), values.min(), values.max())})
    train, test = df.iloc[:150], df.iloc[150:].drop(columns="y")
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0}))
    name = f"counts_{metric}"
    assert main(["new", name, "--data", str(data), "--metric", metric, "--into", str(tmp_path / "comps")]) == 0
    assert f"task: regression (--metric {metric} scores values of y); change with --task" in capsys.readouterr().out
    module = load_competition(str(tmp_path / "comps" / name))
    assert (module.TASK, module.METRIC.name) == ("regression", metric)


def test_classes_that_differ_only_by_spaces_are_warned_of(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # before: `yes` and `yes ` made three classes of a yes/no target without a word
    rng = np.random.default_rng(4)
    train = pd.DataFrame({"id": range(60), "x": rng.normal(size=60), "y": rng.choice(["yes", "no"], 60)})
    train.loc[:4, "y"] = "yes "
    test = pd.DataFrame({"id": range(60, 70), "x": rng.normal(size=10)})
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": "no"}))
    assert main(["new", "spaced", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    out = capsys.readouterr().out
    assert "warning: target: classes 'yes' and 'yes ' differ only by spaces around them" in out
    assert "fix train.csv" in out
    train["y"] = train["y"].str.strip()
    clean = download(tmp_path / "clean", train, test, pd.DataFrame({"id": test["id"], "y": "no"}))
    assert main(["new", "clean", "--data", str(clean), "--into", str(tmp_path / "comps")]) == 0
    assert "differ only by spaces" not in capsys.readouterr().out
