"""`new` + `run` on values as Kaggle's files write them: a sample submission whose label column is empty, a class
named None (a word pandas reads as missing), Parquet tables, numbers written with thousands separators, a sample of
numbers for yes/no classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import load_competition
from tests.test_new_edge_cases import download, new_and_run
from tests.test_predict_test_only import _test_only


def three_classes(n: int, n_test: int, names: tuple[str, str, str], seed: int = 0) -> tuple[pd.DataFrame, ...]:
    """Train and test tables whose target `label` is one of `names` by the thirds of x (a few rows flipped), and the
    test rows' true labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n + n_test)
    label = np.where(x < -0.4, names[0], np.where(x > 0.4, names[2], names[1])).astype(object)
    df = pd.DataFrame({"id": np.arange(n + n_test), "x": x.round(4), "w": rng.normal(size=n + n_test).round(4)})
    train = df.iloc[:n].assign(label=label[:n])
    return train, df.iloc[n:].reset_index(drop=True), label[n:]


def test_a_sample_with_an_empty_label_column_gets_the_class_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: the run fitted every fold, then its own check of the submission stopped it with a traceback
    # (ValueError: could not convert string to float: 'high'), the empty column read as one of numbers
    monkeypatch.chdir(tmp_path)
    train, test, truth = three_classes(300, 90, ("low", "mid", "high"))
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "label": ""}))
    _, sub, _ = new_and_run(tmp_path, "empty_sample", data, capsys)
    assert sub["id"].tolist() == test["id"].astype(str).tolist()
    assert set(sub["label"]) <= {"low", "mid", "high"} and (sub["label"].to_numpy() == truth).mean() > 0.85


@pytest.mark.parametrize("sample_kind", ["labels", "probabilities"])
def test_a_class_named_none_is_a_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, sample_kind: str
) -> None:
    # before: pandas read None as missing, so its rows were dropped as unlabelled and no test row was ever predicted
    # None (a third of them); a sample with a None column was refused ("3 value columns but label has 2 classes")
    monkeypatch.chdir(tmp_path)
    names = ("Insomnia", "None", "Sleep Apnea")
    train, test, truth = three_classes(300, 90, names)
    train.loc[7, "label"] = np.nan  # an empty cell stays unlabelled
    sample = pd.DataFrame({"id": test["id"], "label": "None"})
    if sample_kind == "probabilities":
        sample = pd.DataFrame({"id": test["id"], **dict.fromkeys(names, 1 / 3)})
    data = download(tmp_path / "dl", train, test, sample)
    printed, sub, summary = new_and_run(tmp_path, f"sleep_{sample_kind}", data, capsys)
    n_none = int((train["label"] == "None").sum())
    assert f"target: 'None' ({n_none} rows) in label of train.csv read as a value (a class)" in printed
    assert "unlabelled: 1 of the 300 rows" in printed and summary["n_rows"] == 299
    assert sub["id"].tolist() == test["id"].astype(str).tolist()
    predicted = sub["label"] if sample_kind == "labels" else sub[list(names)].astype(float).idxmax(axis=1)
    assert (predicted.to_numpy() == truth).mean() > 0.85 and (predicted == "None").sum() > 10


@pytest.mark.parametrize("flag", [(), ("--train", "train.parquet")])
def test_parquet_tables_are_refused_naming_them_and_the_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture, flag: tuple[str, ...]
) -> None:
    # before: "cannot tell which CSV is the training table: none among sample_submission.csv" (with --train
    # train.parquet: the test table); --train and --test Parquet files were read as CSV, their bytes as columns
    data = tmp_path / "dl"
    data.mkdir()
    for name in ("train.parquet", "test.parquet"):
        (data / name).write_bytes(b"PAR1\x15\x04\xc3\x00PAR1")  # a Parquet file's magic bytes: never read
    pd.DataFrame({"id": [1, 2], "y": 0.5}).to_csv(data / "sample_submission.csv", index=False)
    assert main(["new", "pq", "--data", str(data), "--into", str(tmp_path / "comps"), *flag]) == 2
    err = capsys.readouterr().err
    assert "its tables are Parquet (test.parquet, train.parquet); `new` and `run` read CSV files" in err
    assert "pd.read_parquet('test.parquet').to_csv('test.csv', index=False)" in err


def test_numbers_written_with_thousands_separators_are_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: area ("7,397") was a code to the models, each value its own level: CV RMSE 2.9 times the noise's
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    area = rng.integers(300, 9000, 450)
    df = pd.DataFrame({"id": range(450), "area": [f"{v:,}" for v in area], "x": rng.normal(size=450).round(3)})
    df["price"] = (area * 120 + rng.normal(0, 20000, 450)).round(0)
    train, test = df.iloc[:350], df.iloc[350:].drop(columns="price")
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "price": 0.0}))
    printed, _, summary = new_and_run(tmp_path, "areas", data, capsys)
    first = next(v for v in train["area"] if "," in v)
    assert f"numbers: area written with thousands separators (such as {first!r}) are read as numbers" in printed
    assert summary["cv"] < 1.3 * 20000
    module = load_competition(str(tmp_path / "comps" / "areas"))
    loaded = module.load(module.Config(), data)
    assert loaded.X["area"].tolist() == area[:350].astype(float).tolist()
    assert loaded.X_test["area"].tolist() == area[350:].astype(float).tolist()
    # predict of the test set alone (no train.csv) reads area as the run read it: the run's own submission
    alone = _test_only(data, tmp_path / "alone")
    run_dir = next((tmp_path / "runs" / "areas").iterdir())
    assert main(["predict", str(run_dir), "--data", str(alone), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == Path(summary["published"]).read_bytes()


def test_numbers_written_with_a_unit_are_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: price ("$3,355.15"), weight ("43 kg") and share ("5.2%") were codes or words to the models, their size
    # lost (a label that is price > 2500: CV accuracy 0.62); seats of several units stay codes
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    price, weight, share = rng.uniform(10, 5000, 400).round(2), rng.integers(1, 90, 400), rng.uniform(0, 100, 400)
    df = pd.DataFrame(
        {
            "id": range(400),
            "price": [f"${v:,.2f}" for v in price],
            "weight": [f"{v} kg" for v in weight],
            "share": [f"{v:.1f}%" for v in share],
            "seat": [f"{v}{c}" for v, c in zip(rng.integers(1, 40, 400), rng.choice(list("ABCD"), 400), strict=True)],
        }
    )
    train = df.iloc[:300].assign(y=(price[:300] > 2500).astype(int))
    data = download(tmp_path / "dl", train, df.iloc[300:], pd.DataFrame({"id": df["id"].iloc[300:], "y": 0}))
    printed, _, summary = new_and_run(tmp_path, "units", data, capsys)
    assert (
        f"numbers: price written with a unit ('$', such as {train['price'][0]!r}), weight written with a unit ('kg', "
        f"such as {train['weight'][0]!r}), share written with a unit ('%', such as {train['share'][0]!r}) are read "
        "as numbers"
    ) in printed
    assert summary["cv"] > 0.95
    module = load_competition(str(tmp_path / "comps" / "units"))
    loaded = module.load(module.Config(), data)
    assert (
        loaded.X["price"].tolist() == price[:300].tolist() and loaded.X_test["weight"].tolist() == weight[300:].tolist()
    )
    assert np.allclose(loaded.X["share"], share[:300].round(1)) and loaded.X["seat"].tolist() == train["seat"].tolist()


def test_numbers_with_a_mark_for_missing_ones_are_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: a column of numbers whose missing ones train.csv writes `?` (as UCI tables do) was a column of codes,
    # each number its own level and its size lost; a column of codes that holds a `-` stays codes
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    size = rng.uniform(0, 100, 400).round(2)
    written = [("?" if i % 9 == 0 else f"{v}") for i, v in enumerate(size)]
    codes = [("-" if i % 7 == 0 else f"K{v}") for i, v in enumerate(rng.integers(0, 50, 400))]
    df = pd.DataFrame({"id": range(400), "size": written, "code": codes})
    train = df.iloc[:300].assign(y=(size[:300] > 50).astype(int))
    data = download(tmp_path / "dl", train, df.iloc[300:], pd.DataFrame({"id": df["id"].iloc[300:], "y": 0}))
    printed, _, summary = new_and_run(tmp_path, "marked", data, capsys)
    assert "numbers: size with '?' for a missing number (45 rows) are read as numbers" in printed
    assert summary["cv"] > 0.9
    module = load_competition(str(tmp_path / "comps" / "marked"))
    loaded = module.load(module.Config(), data)
    held = np.array([w != "?" for w in written])
    assert np.isnan(loaded.X["size"].to_numpy()[~held[:300]]).all()
    assert loaded.X["size"].to_numpy()[held[:300]].tolist() == size[:300][held[:300]].tolist()
    assert loaded.X_test["size"].to_numpy()[held[300:]].tolist() == size[300:][held[300:]].tolist()
    assert loaded.X["code"].tolist() == train["code"].tolist()


def test_a_sample_of_numbers_for_yes_no_classes_is_refused_naming_a_probability_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: the refusal asked only whether y is the target, though the sample's 0 most likely asks for the
    # probability of yes (Kaggle writes 0 or 0.5 there): the flag that works was not named
    train, test, _ = three_classes(100, 20, ("no", "yes", "yes"))
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "label": 0}))
    comps = str(tmp_path / "comps")
    assert main(["new", "yes_no_sample", "--data", str(data), "--into", comps]) == 2
    err = capsys.readouterr().err
    assert "If it asks for the probability of label = yes, use --metric roc_auc (or log_loss)." in err
    assert main(["new", "yes_no_sample", "--data", str(data), "--into", comps, "--metric", "roc_auc"]) == 0
    assert "submission: label gets the probability of label = yes" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("written", "extra", "task"),
    [("0.0", [], "regression"), ("0", [], "multiclass"), ("0.0", ["--metric", "accuracy"], "multiclass")],
    ids=["decimals", "whole", "class-metric"],
)
def test_a_few_whole_numbers_the_sample_writes_as_decimals_are_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture, written: str, extra: list[str], task: str
) -> None:
    # before: counts of 0..7 were 8 classes scored by accuracy whatever the sample wrote; a sample of 0.0 asks for
    # numbers (Kaggle's sample holds a value of the submission's kind), so they are a regression
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    df = pd.DataFrame({"id": range(400), "x": x.round(3)})
    train = df.iloc[:300].assign(count=rng.poisson(np.exp(0.3 + 0.8 * x[:300])).clip(0, 7))
    data = download(tmp_path / "dl", train, df.iloc[300:], pd.DataFrame({"id": df["id"].iloc[300:], "count": 0}))
    sample = (data / "sample_submission.csv").read_text().replace(",0\n", f",{written}\n")
    (data / "sample_submission.csv").write_text(sample)
    name = f"counts_{task}_{len(extra)}"  # one module name per case: a loaded competition stays loaded
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra]) == 0
    printed = capsys.readouterr().out
    inferred = load_competition(str(tmp_path / "comps" / name)).TASK
    assert inferred == task
    if task == "regression":
        said = "task: regression (8 integer values of count, but the sample writes 0.0, a number, not a class)"
        assert said in printed


def test_decimal_commas_are_not_read_as_thousands_separators() -> None:
    # before: "0,125" (a decimal comma, as European files write 0.125) matched the thousands pattern and became 125,
    # so a column of such values turned into numbers 1,000 times too large beside "1,250" (1.25 read as 1250)
    from pipeline.tabular.values import grouped_cells, holds_grouped, ungrouped

    decimals = pd.Series(["0,125", "1,250", "0,500", "2,000"], dtype="str")
    assert grouped_cells(decimals).tolist() == [False, True, False, True]
    assert not holds_grouped(decimals)  # a feature column of them stays text, as written
    assert ungrouped(pd.Series(["0,125"], dtype="str")).tolist() == ["0,125"]  # a target cell: refused as a word
    assert holds_grouped(pd.Series(["1,250", "12,000", "950", "-3,400.5"], dtype="str"))


def test_classes_written_with_thousands_separators_sort_by_their_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: sorted as text (1,000, 200, 5,000), so probability columns that do not name their class got them in
    # that order: the sample's first column held the probability of 1,000 where classes written 200, 1000, 5000
    # (numbers) put 200's
    from tests.test_new_edge_cases import FAST

    monkeypatch.chdir(tmp_path)
    names = ("200", "1,000", "5,000")
    train, test, truth = three_classes(300, 90, names)
    for kind, sample in (
        ("probabilities", pd.DataFrame({"id": test["id"], "p_a": 0.3, "p_b": 0.3, "p_c": 0.4})),
        ("labels", pd.DataFrame({"id": test["id"], "label": "1,000"})),
    ):
        data = download(tmp_path / kind, train, test, sample)
        assert main(["new", f"sep_{kind}", "--data", str(data), "--into", "comps", "--task", "multiclass"]) == 0
        assert "3 classes (200, 1,000, 5,000)" in (tmp_path / "comps" / f"sep_{kind}" / "__init__.py").read_text()
        printed = capsys.readouterr().out
        assert main(["run", f"comps/sep_{kind}", "--data", str(data), *FAST]) == 0
        summary = next((tmp_path / "runs" / f"sep_{kind}").glob("*/summary.json"))
        sub = pd.read_csv(summary.parent / "submission.csv", dtype=str, keep_default_na=False)
        if kind == "probabilities":
            assert "they get the classes in sorted order (200, 1,000, 5,000)" in printed
            likeliest = sub[["p_a", "p_b", "p_c"]].astype(float).to_numpy().argmax(axis=1)
            assert (np.array(names)[likeliest] == truth).mean() > 0.8
        else:  # the labels as written, as the sample writes them
            assert set(sub["label"]) <= set(names) and (sub["label"].to_numpy() == truth).mean() > 0.8


def test_labels_are_written_as_decimals_where_the_sample_writes_them_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # a binary target of 0.0/1.0 whose sample writes 0.0: before, the labels were written 0 and 1
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(250), "x": rng.normal(size=250).round(4)})
    train = df.iloc[:200].assign(y=(df["x"].iloc[:200] > 0).astype(float))
    test = df.iloc[200:].reset_index(drop=True)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": "0.0"}))
    _, sub, summary = new_and_run(tmp_path, "decimal_labels", data, capsys)
    assert set(sub["y"]) == {"0.0", "1.0"} and summary["cv"] > 0.9
    assert (
        main(["validate", str(tmp_path / "comps" / "decimal_labels"), summary["published"], "--data", str(data)]) == 0
    )
