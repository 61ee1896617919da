"""A regression target written with thousands separators (`1,234,567`, as scraped price tables write it) is read as
numbers by `new`, by the generated competition's load, by `predict` of a test set alone and in an original dataset,
exactly as the same numbers written plain; one that also holds words is refused, naming the line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition
from tests.test_new_edge_cases import download, new_and_run
from tests.test_predict_test_only import _test_only


def prices(n: int, n_test: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train rows whose `price` (whole numbers, 200,000 to 600,000 or so) follows x, and the test rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n + n_test)
    df = pd.DataFrame({"id": np.arange(n + n_test), "x": x.round(3), "z": rng.normal(size=n + n_test).round(3)})
    df["price"] = (400_000 + 80_000 * x + rng.normal(0, 5_000, n + n_test)).round(0).astype(np.int64)
    return df.iloc[:n].reset_index(drop=True), df.iloc[n:].drop(columns="price").reset_index(drop=True)


def written(train: pd.DataFrame, grouped: bool) -> pd.DataFrame:
    """train with price as text, with or without thousands separators, and row 7's price NA (no label)."""
    text = train["price"].map("{:,}".format if grouped else str).astype(object)
    text[7] = "NA"
    return train.assign(price=text)


def test_a_target_written_with_thousands_separators_is_read_as_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: `new` took the prices for 280 classes and refused the sample's numbers ("the target's classes are
    # 100,447, ..."), --task regression refused them as text, and the generated load refused line 2 ('363,133')
    monkeypatch.chdir(tmp_path)
    train, test = prices(300, 80)
    sample = pd.DataFrame({"id": test["id"], "price": 0.0})
    plain = download(tmp_path / "plain", written(train, False), test, sample)
    grouped = download(tmp_path / "grouped", written(train, True), test, sample)
    _, plain_sub, plain_summary = new_and_run(tmp_path, "prices_plain", plain, capsys)
    printed, sub, summary = new_and_run(tmp_path, "prices_grouped", grouped, capsys)
    first = written(train, True)["price"].iloc[0]
    assert f"target: price written with thousands separators (such as {first!r}) is read as numbers" in printed
    assert "task: regression (from the values of price)" in printed
    assert "unlabelled: 1 of the 300 rows of train.csv have no price" in printed  # NA stays no value, as in plain
    assert summary["n_rows"] == plain_summary["n_rows"] == 299
    assert summary["cv"] == pytest.approx(plain_summary["cv"], rel=1e-12) and summary["cv"] < 8_000
    pd.testing.assert_frame_equal(sub, plain_sub)
    assert sub["id"].tolist() == test["id"].astype(str).tolist() and sub["price"].astype(float).gt(100_000).all()
    module = load_competition(str(tmp_path / "comps" / "prices_grouped"))
    loaded = module.load(module.Config(), grouped)
    assert loaded.y.tolist() == train["price"].drop(index=7).astype(float).tolist()
    # predict of the test set alone (load_test: no train.csv) writes the run's own submission
    alone = _test_only(grouped, tmp_path / "alone")
    run_dir = next((tmp_path / "runs" / "prices_grouped").iterdir())
    assert main(["predict", str(run_dir), "--data", str(alone), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "submission.csv").read_bytes() == Path(summary["published"]).read_bytes()


def test_a_target_of_such_numbers_and_words_is_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    train, test = prices(120, 30)
    sample = pd.DataFrame({"id": test["id"], "price": 0.0})
    clean = download(tmp_path / "clean", written(train, True), test, sample)
    words = written(train, True)
    words.loc[40, "price"] = "Call for price"
    data = download(tmp_path / "words", words, test, sample)
    said = "train.csv: price must be a number for regression; line 42 has 'Call for price'."
    for extra in ((), ("--task", "regression")):
        # before: taken for classes and refused for the sample's numbers / refused as text, no line named
        assert main(["new", "words_price", "--data", str(data), "--into", str(tmp_path / "comps"), *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and "fix that value, or pass --task multiclass" in err
    assert main(["new", "clean_price", "--data", str(clean), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / "clean_price"))
    with pytest.raises(ContractError, match=re.escape(f"words/{said}")):
        module.load(module.Config(), data)


def test_task_regression_names_the_line_of_a_word_among_plain_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: "--task regression: price holds text (e.g. '208500'), not numbers": the example was a number
    train, test = prices(120, 30)
    train["price"] = train["price"].astype(str)
    train.loc[40, "price"] = "n/a (auction)"
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "price": 0.0}))
    assert main(["new", "word", "--data", str(data), "--into", str(tmp_path / "comps"), "--task", "regression"]) == 2
    err = capsys.readouterr().err
    assert "--task regression: train.csv: price must be a number for regression; line 42 has 'n/a (auction)'." in err


def test_an_original_dataset_whose_target_is_written_with_thousands_separators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: `new --original` refused the original ("price must be a number for regression; line 2 has '...'")
    monkeypatch.chdir(tmp_path)
    train, test = prices(120, 30)
    original, _ = prices(200, 0, seed=1)
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "price": 0.0}))
    original.drop(columns="id").assign(price=original["price"].map("{:,}".format)).to_csv("orig.csv", index=False)
    args = ["new", "orig_prices", "--data", str(data), "--into", str(tmp_path / "comps"), "--original", "orig.csv"]
    assert main(args) == 0
    module = load_competition(str(tmp_path / "comps" / "orig_prices"))
    loaded = module.load(module.Config(), data)
    assert loaded.y.tolist() == [*train["price"].astype(float), *original["price"].astype(float)]
    assert int(loaded.train_only.sum()) == 200


def na_and_word(tmp_path: Path) -> tuple[Path, Path]:
    """Two downloads of prices: one whose price is NA on row 7 (line 9) only, one with 'abc' on row 40 (line 42) too."""
    train, test = prices(120, 30)
    sample = pd.DataFrame({"id": test["id"], "price": 0.0})
    clean = download(tmp_path / "clean", written(train, False), test, sample)  # NA on row 7 only: no label
    words = written(train, False)
    words.loc[40, "price"] = "abc"
    return clean, download(tmp_path / "words", words, test, sample)


def test_a_regression_target_s_na_is_missing_and_the_line_of_a_word_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # before: NA (row 7, line 9) was kept as a value, as a class's word is, and named as the first value that is no
    # number, by new --task regression, by the load and in an original dataset
    monkeypatch.chdir(tmp_path)
    clean, data = na_and_word(tmp_path)
    said = "train.csv: price must be a number for regression; line 42 has 'abc'."
    assert main(["new", "na_words_price", "--data", str(data), "--into", "comps", "--task", "regression"]) == 2
    assert said in capsys.readouterr().err
    original = written(prices(200, 0, seed=1)[0], False).drop(columns="id")
    original.to_csv("orig.csv", index=False)
    assert main(["new", "na_price", "--data", str(clean), "--into", "comps", "--original", "orig.csv"]) == 0
    assert "unlabelled: 1 of the 120 rows of train.csv have no price" in capsys.readouterr().out  # as pandas reads NA
    module = load_competition(str(tmp_path / "comps" / "na_price"))
    assert len(module.load(module.Config(), clean).y) == 119 + 199  # NA: no label, in train and the original
    with pytest.raises(ContractError, match=re.escape(f"words/{said}")):
        module.load(module.Config(), data)
    cached = next((tmp_path / "data" / "datasets").rglob("orig.csv"))
    original.loc[50, "price"] = "abc"
    original.to_csv(cached, index=False)
    with pytest.raises(ContractError, match=re.escape(f"{cached}: price must be a number for regression; line 52")):
        module.load(module.Config(), clean)


@pytest.mark.parametrize("metric", ["rmse", "r2"])
def test_a_regression_metric_on_a_target_of_words_names_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, metric: str
) -> None:
    # before: `new --metric rmse` took the target for classes and refused them as "multiclass", naming no line
    monkeypatch.chdir(tmp_path)
    clean, data = na_and_word(tmp_path)
    assert main(["new", "words_price", "--data", str(data), "--into", "comps", "--metric", metric]) == 2
    assert (
        f"error: --metric {metric} scores numbers: train.csv: price must be a number for regression; line 42 has "
        "'abc'. Fix that value, or, to predict price's values as classes, use a label metric (--metric accuracy).\n"
    ) in capsys.readouterr().err
    assert main(["new", "na_price", "--data", str(clean), "--into", "comps", "--metric", metric]) == 0
    assert "unlabelled: 1 of the 120 rows of train.csv have no price" in capsys.readouterr().out  # NA: no label
