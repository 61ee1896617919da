"""Series lags: with folds forward in time, `new` finds the columns naming each series (SERIES) and the test's horizon
(HORIZON); each model then learns from its series' own past targets (lags >= HORIZON and rolling means), fitted on
the fold's training rows only, and each fold validates HORIZON days, as the test.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.lags import SeriesLags, time_step
from pipeline.cli import main
from pipeline.folds import time_folds
from pipeline.tabular.series import Lagged, default_lags

DAYS, HORIZON = 120, 14


def shop_sales(stores: int = 6, families: int = 3, days: int = DAYS, seed: int = 0) -> pd.DataFrame:
    """Daily sales of each store and family, the next HORIZON days being the test: a level per series, its own weekly
    pattern and trend, a slow random walk and noise; a promotion column that helps a little."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=days + HORIZON, freq="D")
    frames = []
    for store in range(1, stores + 1):
        for family in ["BREAD", "DAIRY", "TOYS", "WINE"][:families]:
            week = np.exp(rng.normal(0, 0.35, 7))[dates.day_of_week]
            trend = 1 + rng.normal(0.004, 0.004) * np.arange(len(dates))
            walk = np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
            promo = rng.integers(0, 3, len(dates))
            level = rng.uniform(5, 200) * week * trend * walk * (1 + 0.1 * promo)
            sales = level * rng.lognormal(0, 0.08, len(dates))
            frames.append(
                pd.DataFrame(
                    {"date": dates.strftime("%Y-%m-%d"), "store_nbr": store, "family": family, "onpromotion": promo}
                ).assign(sales=sales.round(2))
            )
    df = pd.concat(frames).sort_values(["date", "store_nbr", "family"], kind="stable").reset_index(drop=True)
    df.insert(0, "id", np.arange(len(df)))
    return df


def write_download(path: Path, df: pd.DataFrame, early: bool = False) -> Path:
    """train.csv (the first DAYS days), test.csv (the rest, no sales) and the sample submission, zipped; `early`: the
    first HORIZON days are the test instead, the rest train.csv."""
    day = (pd.to_datetime(df["date"]) - pd.to_datetime(df["date"]).min()).dt.days
    later = day < HORIZON if early else day >= DAYS
    train, test = df[~later], df[later].drop(columns="sales")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", pd.DataFrame({"id": test["id"], "sales": 0.0}).to_csv(index=False))
    return path


def test_time_steps_and_default_lags() -> None:
    days = pd.date_range("2024-01-01", periods=10, freq="D").to_numpy()
    assert time_step(days).name == "day" and time_step(days[::7]).name == "week"
    months = pd.date_range("2020-01-01", periods=12, freq="MS").to_numpy()
    step = time_step(months)
    assert step.name == "month" and list(step.index(months)) == list(range(12))
    assert time_step(np.array([3.0, 5, 9, 11])).size == 2.0 and time_step(np.array([1.0, 2.5, 3.7])) is None
    assert np.isnan(time_step(days).index(np.array(["2024-01-05T12:00"], dtype="datetime64[ns]"))[0])  # between
    assert default_lags(14, "day") == tuple(range(14, 21))  # a week of them: one on the row's weekday
    assert default_lags(2, "month") == (2, 3, 4, 12) and default_lags(3, "week") == (3, 4, 5, 52)


def test_lags_and_means_read_the_fitted_rows_only() -> None:
    X = pd.DataFrame({"s": ["a"] * 6 + ["b"] * 6, "t": list(range(6)) * 2})
    y = np.r_[np.arange(6.0), 10 * np.arange(6.0)]
    lags = SeriesLags(("s",), "t", lags=(2, 3), windows=(2,)).fit(X.iloc[[0, 1, 2, 6, 7, 8]], y[[0, 1, 2, 6, 7, 8]])
    later = pd.DataFrame({"s": ["a", "a", "b", "c"], "t": [4, 5, 5, 5]})
    f = lags.features(later)
    assert f["lag_2"].tolist()[:1] == [2.0] and np.isnan(f["lag_2"][1])  # t=3 was not fitted on
    assert f["lag_3"].tolist()[:3] == [1.0, 2.0, 20.0] and np.isnan(f["lag_3"][3])  # an unseen series: NaN
    assert f["mean_2"].tolist()[:1] == [1.5]  # mean of t = 1 and 2, ending at the first lag (t - 2)
    assert f["mean_2"][1] == 2.0  # its window (t = 2, 3) holds one fitted value


def test_horizon_folds_validate_the_last_spans_of_that_many_times() -> None:
    t = np.repeat(np.arange(100.0), 3)
    folds = time_folds(t, 5, window=14)
    assert (folds == -1).sum() == 30 * 3 and [set(t[folds == f]) for f in (0, 4)] == [
        set(np.arange(30.0, 44)),
        set(np.arange(86.0, 100)),
    ]
    assert np.bincount(time_folds(t, 5, window=30) + 1).tolist() == [60, *[48] * 5]  # 100 // 6 = 16 times each


def test_new_infers_series_and_horizon_and_lags_beat_no_lags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_download(tmp_path / "shops.zip", shop_sales())
    assert main(["new", "shop_series", "--data", str(data), "--into", "comps", "--metric", "rmsle"]) == 0
    out = capsys.readouterr().out
    assert "series: store_nbr, family name 18 series; the test's last date is 14 days after" in out
    assert "--series A,B names others, --series none leaves them out" in out
    source = (tmp_path / "comps" / "shop_series" / "__init__.py").read_text()
    assert 'SERIES = ["store_nbr", "family"]' in source and "\nHORIZON = 14\n" in source
    assert "lags: tuple[int, ...] | None = None" in source and "horizon=HORIZON" in source

    cvs = {}
    for name, extra in (("on", []), ("off", ["--set", "lags="])):
        args = ["--preset", "fast", "--quiet", "--tag", name, *extra]
        assert main(["run", "comps/shop_series", "--data", str(data), *args]) == 0
        run = next((tmp_path / "runs" / "shop_series").glob(f"*-{name}"))
        summary = json.loads((run / "summary.json").read_text())
        cvs[name] = summary["cv"]
        assert summary["cv_rows"] == 5 * HORIZON * 18  # each fold validates the 14 days, as the test
        submission = pd.read_csv(run / "submission.csv")
        assert len(submission) == HORIZON * 18 and submission["sales"].between(0, 1e4).all()
        # the refit on every row grows the trees the last fold stopped at (the wrapped booster's refit parameters)
        assert re.search(r"lightgbm refit on all 2160 training rows, \d+ trees", (run / "log.txt").read_text())
        importance = pd.read_csv(run / "importance.csv")
        assert ("lag_14" in set(importance.iloc[:, 0])) == (name == "on")
    assert cvs["on"] < 0.9 * cvs["off"], cvs


def lag_features(monkeypatch: pytest.MonkeyPatch, name: str, data: Path, run_as: str) -> dict[str, pd.DataFrame]:
    """Run LightGBM (its fit takes the runner's context: the validation rows it stops early on) and return the lag
    features its last fold validated on (from that fold's training rows) with those rows' dates, and the features of
    the test rows (from the refit on every training row)."""
    import pipeline.fold_fits as fold_fits

    found: dict[str, pd.DataFrame] = {}
    real = fold_fits.fit_fold

    def spy(est, X_tr, y_tr, seed, jobs, context, engineering):  # noqa: ANN001, ANN202
        fitted, seconds = real(est, X_tr, y_tr, seed, jobs, context, engineering)
        found["refit"] = fitted.lags_
        if context.eval_set is not None:
            found["validated"] = fitted.lags_.features(context.eval_set[0])
            found["dates"] = pd.to_datetime(context.eval_set[0]["date"]).reset_index(drop=True)
        return fitted, seconds

    with monkeypatch.context() as patch:  # undone after the run: a later run's spy alone records
        patch.setattr(fold_fits, "fit_fold", spy)
        args = ["--models", "lightgbm", "--quiet", "--tag", run_as]
        assert main(["run", f"comps/{name}", "--data", str(data), *args]) == 0
    with zipfile.ZipFile(data) as zf, zf.open("test.csv") as f:
        found["test"] = found["refit"].features(pd.read_csv(f))
    return found


def test_a_folds_validation_rows_never_read_a_validated_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    df = shop_sales(stores=2, families=2)
    data = write_download(tmp_path / "leak.zip", df)
    assert main(["new", "shop_leak", "--data", str(data), "--into", "comps", "--metric", "rmsle"]) == 0
    # as written: each fold validates 14 days, so every validated row has its lags and means
    assert lag_features(monkeypatch, "shop_leak", data, "horizon")["validated"].notna().all().all()
    # as a user may edit it: folds of about equal rows (20 days), longer than the 14 days back the first lag reads
    source = (tmp_path / "comps" / "shop_leak" / "__init__.py").read_text()
    equal = tmp_path / "comps" / "shop_leak_equal"
    equal.mkdir()
    (equal / "__init__.py").write_text(source.replace("\n        horizon=HORIZON,", ""))
    before = lag_features(monkeypatch, "shop_leak_equal", data, "before")
    validated = before["dates"].dt.strftime("%Y-%m-%d").unique()  # the last fold's days: their targets set huge
    assert len(validated) == 20
    huge = df.assign(sales=np.where(df["date"].isin(validated), 1e6, df["sales"]))
    (tmp_path / "leak.zip").unlink()
    after = lag_features(monkeypatch, "shop_leak_equal", write_download(tmp_path / "leak.zip", huge), "after")
    pd.testing.assert_frame_equal(before["validated"], after["validated"])  # not one reads a validated target
    inside = ((before["dates"] - before["dates"].min()).dt.days >= 14).to_numpy()  # lag 14 is a validated day
    assert before["validated"]["lag_14"][inside].isna().all() and before["validated"]["lag_14"][~inside].notna().all()
    # the same targets as training rows (the refit on every row) are read: the test rows' lags change (lags of the
    # scale the model fits: log(1 + sales) for rmsle)
    assert (np.expm1(after["test"]["lag_14"]) > 1e5).all() and (np.expm1(before["test"]["lag_14"]) < 1e5).all()


def test_series_flag_is_checked_and_none_turns_it_off(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    df = shop_sales(stores=2, families=2)
    data = write_download(tmp_path / "flags.zip", df)
    comps = str(tmp_path / "comps")
    assert main(["new", "shop_bad", "--data", str(data), "--into", comps, "--series", "store_nbr,aisle"]) == 2
    assert "--series store_nbr,aisle: no column 'aisle' in test.csv" in capsys.readouterr().err
    assert main(["new", "shop_bad", "--data", str(data), "--into", comps, "--series", "store_nbr"]) == 2
    err = capsys.readouterr().err
    assert "--series store_nbr: in train.csv, the series store_nbr=1 has more than one row at date '2023-01-02'" in err
    twice = pd.concat([df, df.iloc[[5]].assign(id=10**6)])  # one store and family twice on one day
    again = write_download(tmp_path / "twice.zip", twice)
    assert main(["new", "shop_bad", "--data", str(again), "--into", comps, "--series", "store_nbr,family"]) == 2
    err = capsys.readouterr().err
    assert "the series store_nbr=1, family='DAIRY' has more than one row at date '2023-01-03' (line 482)" in err
    early = write_download(tmp_path / "early.zip", df, early=True)
    args = ["--time", "date", "--series", "store_nbr,family"]  # the test's days are now the earliest
    assert main(["new", "shop_bad", "--data", str(early), "--into", comps, *args]) == 2
    assert "no test row's date is after the last training row's" in capsys.readouterr().err
    assert not (tmp_path / "comps" / "shop_bad").exists()
    assert main(["new", "shop_none", "--data", str(data), "--into", comps, "--series", "none"]) == 0
    source = (tmp_path / "comps" / "shop_none" / "__init__.py").read_text()
    assert "SERIES" not in source and "HORIZON" not in source and 'FOLDS = "time"' in source
    assert main(["new", "shop_named", "--data", str(data), "--into", comps, "--series", "family,store_nbr"]) == 0
    assert "series: family, store_nbr name 4 series" in capsys.readouterr().out


def test_lags_shorter_than_the_horizon_are_refused() -> None:
    with pytest.raises(ValueError, match="lag 7 is shorter than HORIZON 14"):
        Lagged(None, ("s",), "t", 14, lags=(7, 14)).check_params()
