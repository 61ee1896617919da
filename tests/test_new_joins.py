"""Auxiliary tables joined by key: `new` finds the download's other CSVs keyed by a column of train and test (one row
per key, holding most rows' keys), states them in JOINS, and `load` (and `load_test`, for predict) joins their
columns to both tables' rows before the column typing; a table without such a key is left out, saying why.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError, load_competition

TYPES = {"a": 1000.0, "b": 4000.0, "c": 2000.0, "d": 7000.0}  # each store type's sales level


def stores_table(stores: int, seed: int) -> pd.DataFrame:
    """Rossmann's store.csv, small: a type deciding much of a store's sales, an assortment and a distance."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "Store": np.arange(1, stores + 1),
            "StoreType": rng.choice(list(TYPES), stores),
            "Assortment": rng.choice(["a", "b", "c"], stores),
            "CompetitionDistance": rng.integers(100, 20000, stores),
        }
    )


def store_sales(stores: pd.DataFrame, days: int, seed: int) -> pd.DataFrame:
    """Each store's daily sales: its type's level, more with an extended assortment and a promotion, a weekday
    pattern, and noise; few rows per store, so that its number alone says little of its type."""
    rng = np.random.default_rng(seed + 1)
    dates = pd.date_range("2015-01-05", periods=days, freq="D")
    rows = stores.merge(pd.DataFrame({"Date": dates}), how="cross")
    promo = rng.integers(0, 2, len(rows))
    week = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.3, 0.6])[rows["Date"].dt.day_of_week]
    level = rows["StoreType"].map(TYPES) * np.where(rows["Assortment"] == "c", 1.3, 1.0)
    sales = level * week * (1 + 0.3 * promo) * rng.lognormal(0, 0.1, len(rows))
    return pd.DataFrame(
        {"Store": rows["Store"], "Date": rows["Date"].dt.strftime("%Y-%m-%d"), "Promo": promo, "Sales": sales.round()}
    )


def write_rossmann(path: Path, stores: int = 150, days: int = 10, seed: int = 0, drop: tuple[int, ...] = ()) -> Path:
    """A Rossmann-like download: train.csv and test.csv (a fifth of the rows, drawn at random, no Sales), their
    sample submission, and store.csv (less the stores in `drop`)."""
    table = stores_table(stores, seed)
    df = store_sales(table, days, seed)
    df.insert(0, "Id", np.arange(1, len(df) + 1))
    test = np.random.default_rng(seed + 2).random(len(df)) < 0.2
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", df[~test].to_csv(index=False))
        zf.writestr("test.csv", df[test].drop(columns="Sales").to_csv(index=False))
        zf.writestr("sample_submission.csv", pd.DataFrame({"Id": df["Id"][test], "Sales": 0}).to_csv(index=False))
        zf.writestr("store.csv", table[~table["Store"].isin(drop)].to_csv(index=False))
    return path


def _run(tmp_path: Path, comp: str, data: Path, tag: str) -> Path:
    """A fast run of a generated competition (LightGBM and the linear model, 3 folds); its folder."""
    args = ["--preset", "fast", "--models", "lightgbm,linear", "--folds", "3", "--quiet", "--tag", tag]
    assert main(["run", f"comps/{comp}", "--data", str(data), *args]) == 0
    return next((tmp_path / "runs" / comp).glob(f"*-{tag}"))


def test_new_joins_the_store_table_and_its_cv_beats_no_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_rossmann(tmp_path / "rossmann-like.zip")
    assert main(["new", "ross_join", "--data", str(data), "--into", "comps"]) == 0
    out = capsys.readouterr().out
    assert "join: store.csv by Store adds StoreType, Assortment, CompetitionDistance" in out
    assert "--join none leaves the tables out" in out
    source = (tmp_path / "comps" / "ross_join" / "__init__.py").read_text()
    assert 'JOINS = (("store.csv", ("Store",)),)' in source and source.count("joins=JOINS,") == 2
    assert main(["new", "ross_nojoin", "--data", str(data), "--into", "comps", "--join", "none"]) == 0
    assert "join: none (--join none): store.csv left out" in capsys.readouterr().out
    assert "JOINS = ()\n" in (tmp_path / "comps" / "ross_nojoin" / "__init__.py").read_text()

    runs = {tag: _run(tmp_path, comp, data, tag) for tag, comp in (("on", "ross_join"), ("off", "ross_nojoin"))}
    summaries = {tag: json.loads((run / "summary.json").read_text()) for tag, run in runs.items()}
    folds = [np.load(run / "folds.npy") for run in runs.values()]
    assert (folds[0] == folds[1]).all()  # the same folds: the CVs compare
    importance = {tag: set(pd.read_csv(run / "importance.csv").iloc[:, 0]) for tag, run in runs.items()}
    assert "StoreType" in importance["on"] and "StoreType" not in importance["off"]  # the option took effect
    assert summaries["on"]["cv"] < 0.7 * summaries["off"]["cv"], (summaries["on"]["cv"], summaries["off"]["cv"])
    submission = pd.read_csv(next(runs["on"].glob("submission.csv")))
    with zipfile.ZipFile(data) as zf:
        sample = pd.read_csv(zf.open("sample_submission.csv"))
    assert submission["Id"].tolist() == sample["Id"].tolist() and submission["Sales"].between(0, 2e4).all()


def write_walmart(folder: Path, seed: int = 0) -> pd.DataFrame:
    """A Walmart-like download in `folder`: weekly sales of stores by Store and Date (test: a third of the rows at
    random), features.csv by Store+Date (its IsHoliday also a column of train's), and tables that join nothing:
    transactions.csv (several rows per Store and per Date, none of the test's weeks), oil.csv (its Date written
    31/12/2012) and regions.csv (no column of train's). Returns features.csv's frame."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2012-01-06", periods=12, freq="7D")
    grid = pd.DataFrame({"Store": np.arange(1, 21)}).merge(pd.DataFrame({"Date": dates}), how="cross")
    grid["IsHoliday"] = grid["Date"].dt.month == 2
    features = grid.assign(Temperature=rng.normal(60, 15, len(grid)).round(1), IsHoliday=grid["IsHoliday"])
    df = grid.assign(Weekly_Sales=(1000 + 20 * features["Temperature"] + rng.normal(0, 50, len(grid))).round(2))
    df["Date"] = df["Date"].dt.strftime("%Y-%m-%d")
    df.insert(0, "Id", np.arange(len(df)))
    test = rng.random(len(df)) < 0.33
    folder.mkdir()
    df[~test].to_csv(folder / "train.csv", index=False)
    df[test].drop(columns="Weekly_Sales").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"Id": df["Id"][test], "Weekly_Sales": 0.0}).to_csv(folder / "sampleSubmission.csv", index=False)
    features.assign(Date=features["Date"].dt.strftime("%Y-%m-%d")).to_csv(folder / "features.csv", index=False)
    seen = df[~test].loc[:, ["Store", "Date"]].drop_duplicates()
    seen.assign(transactions=rng.integers(10, 99, len(seen))).to_csv(folder / "transactions.csv", index=False)
    oil = pd.DataFrame({"Date": dates.strftime("%d/%m/%Y"), "price": rng.normal(90, 5, len(dates)).round(2)})
    oil.to_csv(folder / "oil.csv", index=False)
    pd.DataFrame({"Region": ["north", "south"], "Size": [3, 4]}).to_csv(folder / "regions.csv", index=False)
    return features


def test_a_two_column_key_a_prefixed_column_and_tables_left_out_with_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    features = write_walmart(tmp_path / "walmart")
    assert main(["new", "walmart_join", "--data", str(tmp_path / "walmart"), "--into", "comps"]) == 0
    out = capsys.readouterr().out
    assert "join: features.csv by Store+Date adds IsHoliday as features_IsHoliday, Temperature" in out
    assert "join: transactions.csv left out: several rows per Store ('1' on lines 2 and 3)" in out
    assert "its Store+Date holds the keys of 100% of train.csv's rows and 0% of test.csv's" in out
    assert "join: oil.csv left out: its Date holds the keys of 0% of train.csv's rows" in out
    assert "(Date written as '06/01/2012' in oil.csv, as '2012-01-06' in train.csv" in out
    assert "join: regions.csv left out: none of its columns (Region, Size) is a column of both" in out
    source = (tmp_path / "comps" / "walmart_join" / "__init__.py").read_text()
    assert 'JOINS = (("features.csv", ("Store", "Date")),)' in source

    module = load_competition("comps/walmart_join")
    data = module.load(module.Config(), tmp_path / "walmart")
    train = pd.read_csv(tmp_path / "walmart" / "train.csv")
    truth = train.merge(features.assign(Date=features["Date"].dt.strftime("%Y-%m-%d")), on=["Store", "Date"])
    assert len(data.X) == len(train) and data.X["Temperature"].tolist() == truth["Temperature"].tolist()
    assert data.X["features_IsHoliday"].tolist() == truth["IsHoliday_y"].tolist()
    assert data.X["IsHoliday"].tolist() == train["IsHoliday"].tolist() and not data.info["warnings"]
    trained = json.loads(json.dumps(data.info["trained"]))  # as the run saves it; predict reads the test alone
    alone = module.load_test(module.Config(), tmp_path / "walmart", trained)
    pd.testing.assert_frame_equal(alone.X_test, data.X_test)


def test_join_flag_is_checked_and_names_what_it_joins(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "walmart"
    write_walmart(folder)
    comps = str(tmp_path / "comps")
    new = ["new", "walmart_bad", "--data", str(folder), "--into", comps]
    assert main([*new, "--join", "features.csv:Store+Week"]) == 2
    assert "--join features.csv:Store+Week: features.csv has no column 'Week'; its columns: Store, Date" in (
        capsys.readouterr().err
    )
    assert main([*new, "--join", "transactions.csv:Store"]) == 2
    err = capsys.readouterr().err
    assert "--join transactions.csv:Store: Store is not unique in transactions.csv: '1' is on line 2 and again " in err
    assert main([*new, "--join", "stores.csv:Store"]) == 2
    assert "--join stores.csv:Store: no such table in " in capsys.readouterr().err
    assert main([*new, "--join", "features.csv"]) == 2
    assert "name a table and its key column, FILE:COLUMN" in capsys.readouterr().err
    assert main([*new, "--join", "regions.csv:region"]) == 2  # in the table (but for case), not in train
    assert "'region' is not a column of both train.csv and test.csv" in capsys.readouterr().err
    assert not (tmp_path / "comps" / "walmart_bad").exists()

    # named: the table's own spelling of a key is kept beside train's; an unnamed table is left out, said so
    pd.read_csv(folder / "features.csv").rename(columns={"Store": "store"}).to_csv(folder / "features.csv", index=False)
    named = ["--join", "features.csv:Store+date"]  # date: train's Date, but for case
    assert main(["new", "walmart_named", "--data", str(folder), "--into", comps, *named]) == 0
    out = capsys.readouterr().out
    assert "join: features.csv by Store (store in features.csv)+Date adds" in out
    assert "join: oil.csv, regions.csv, transactions.csv left out (not named by --join)" in out
    source = (tmp_path / "comps" / "walmart_named" / "__init__.py").read_text()
    assert 'JOINS = (("features.csv", (("Store", "store"), "Date")),)' in source

    # JOINS edited by hand to a key of several rows: load refuses, naming the table, the key and its lines
    (tmp_path / "comps" / "walmart_edited").mkdir()
    edited = source.replace('(("Store", "store"), "Date")', '(("Store", "store"),)')
    (tmp_path / "comps" / "walmart_edited" / "__init__.py").write_text(edited)
    module = load_competition(f"{comps}/walmart_edited")
    with pytest.raises(ContractError, match=r"features.csv: key store = 1 is on line 2 and again on line 3"):
        module.load(module.Config(), folder)


def test_a_key_the_table_lacks_gives_missing_values_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    with zipfile.ZipFile(write_rossmann(tmp_path / "rossmann-gaps.zip", stores=20, drop=(7, 9))) as zf:
        zf.extractall(tmp_path / "gaps")
    assert main(["new", "ross_gaps", "--data", str(tmp_path / "gaps"), "--into", "comps"]) == 0
    train = pd.read_csv(tmp_path / "gaps" / "train.csv")
    lacking = train["Store"].isin([7, 9]).to_numpy()
    assert f"(one row per key; {1 - lacking.mean():.0%} of train.csv's rows and" in capsys.readouterr().out
    module = load_competition("comps/ross_gaps")
    data = module.load(module.Config(), tmp_path / "gaps")
    assert data.X["StoreType"].isna().to_numpy().tolist() == lacking.tolist()
    assert data.X["CompetitionDistance"][~lacking].notna().all() and len(data.X) == len(train)
    first = int(np.flatnonzero(lacking)[0]) + 2  # its line in train.csv
    assert f"train.csv: {lacking.sum()} of its {len(train)} rows have a key (Store) that store.csv lacks " in " ".join(
        data.info["warnings"]
    )
    assert f"(first '{train['Store'][lacking].iloc[0]}' on line {first})" in " ".join(data.info["warnings"])
    assert any("test.csv: " in w and "store.csv lacks" in w for w in data.info["warnings"])


def test_joined_columns_never_name_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """With a later test, `new` finds the series before the joins: the store table's columns (a type per store, as
    few values as a series key would have) are features, never SERIES; and the run of lags and joins goes through."""
    monkeypatch.chdir(tmp_path)
    table = stores_table(12, seed=3)
    df = store_sales(table, 60, seed=3)
    df.insert(0, "Id", np.arange(len(df)))
    later = pd.to_datetime(df["Date"]) >= pd.Timestamp("2015-02-27")  # the last 7 days
    with zipfile.ZipFile(tmp_path / "rossmann-later.zip", "w") as zf:
        zf.writestr("train.csv", df[~later].to_csv(index=False))
        zf.writestr("test.csv", df[later].drop(columns="Sales").to_csv(index=False))
        zf.writestr("sample_submission.csv", pd.DataFrame({"Id": df["Id"][later], "Sales": 0}).to_csv(index=False))
        zf.writestr("store.csv", table.to_csv(index=False))
    data = tmp_path / "rossmann-later.zip"
    assert main(["new", "ross_series", "--data", str(data), "--into", "comps", "--metric", "rmsle"]) == 0
    out = capsys.readouterr().out
    assert "series: Store name 12 series" in out and "join: store.csv by Store adds StoreType" in out
    source = (tmp_path / "comps" / "ross_series" / "__init__.py").read_text()
    assert 'SERIES = ["Store"]' in source and 'JOINS = (("store.csv", ("Store",)),)' in source
    run = _run(tmp_path, "ross_series", data, "lagged")
    importance = set(pd.read_csv(run / "importance.csv").iloc[:, 0])
    assert {"StoreType", "lag_7"} <= importance, importance
    assert len(pd.read_csv(run / "submission.csv")) == later.sum()


def test_a_table_over_the_size_cap_is_left_out_and_load_test_needs_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import pipeline.tabular.infer_joins as infer_joins

    monkeypatch.chdir(tmp_path)
    data = write_rossmann(tmp_path / "rossmann-big.zip", stores=20)
    monkeypatch.setattr(infer_joins, "MAX_BYTES", 100)  # store.csv is larger: not read
    assert main(["new", "ross_big", "--data", str(data), "--into", "comps"]) == 0
    out = capsys.readouterr().out
    assert "join: store.csv left out: 0 MB, over the " in out and "; --join store.csv:KEY joins it" in out
    assert "JOINS = ()\n" in (tmp_path / "comps" / "ross_big" / "__init__.py").read_text()
    assert main(["new", "ross_named", "--data", str(data), "--into", "comps", "--join", "store.csv:Store"]) == 0
    assert "join: store.csv by Store adds StoreType" in capsys.readouterr().out  # named: read whatever its size

    module = load_competition("comps/ross_named")
    with zipfile.ZipFile(data) as zf:
        zf.extractall(tmp_path / "full")
        for name in ("test.csv", "sample_submission.csv"):
            zf.extract(name, tmp_path / "alone")
    trained = json.loads(json.dumps(module.load(module.Config(), tmp_path / "full").info["trained"]))
    with pytest.raises(ContractError, match=r"store.csv: no such file; JOINS joins store.csv to the test and"):
        module.load_test(module.Config(), tmp_path / "alone", trained)
