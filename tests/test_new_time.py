"""Folds forward in time: FOLDS = "time" (Data.time), chosen by `new` when the test follows the training rows in time.

Each fold validates a later period with models fitted on the earlier periods only; the first period is never
validated. A random fold would train on later rows than it validates (the check below fails for it).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import ContractError
from pipeline.folds import make_folds, time_folds, training_rows


def test_time_folds_are_periods_in_order_and_train_on_the_past_only() -> None:
    times = np.repeat(np.arange(30), np.random.default_rng(0).integers(1, 6, 30))  # ties: rows of one day
    shuffled = np.random.default_rng(1).permutation(len(times))
    t = times[shuffled]
    folds = make_folds(np.zeros(len(t)), 4, seed=0, kind="time", times=t)
    assert sorted(set(folds)) == [-1, 0, 1, 2, 3]
    for period in range(-1, 3):  # every time of a period precedes every time of the next
        assert t[folds == period].max() < t[folds == period + 1].min()
    assert all(len(np.unique(folds[t == v])) == 1 for v in np.unique(t))  # a time is never split
    sizes = np.bincount(folds + 1)
    assert sizes.min() >= 0.5 * len(t) / 5  # periods of about equal rows
    for f in range(4):
        train = training_rows(folds, f, "time")
        assert t[train].max() < t[folds == f].min() and set(folds[train]) == set(range(-1, f))
    assert set(folds[training_rows(folds, 2, "kfold")]) == {-1, 0, 1, 3}  # other kinds: every other fold
    assert np.array_equal(make_folds(np.zeros(len(t)), 4, seed=7, kind="time", times=t), folds)  # the seed is moot


def test_time_holdout_and_train_only_rows() -> None:
    t = np.arange(100.0)
    folds = time_folds(t, 5, holdout=0.2)
    assert set(folds[t >= 80]) == {0} and set(folds[t < 80]) == {-1}
    dates = pd.date_range("2024-01-01", periods=60).to_numpy()
    original = np.r_[np.zeros(50, bool), np.ones(10, bool)]
    times = np.r_[dates[:50], np.full(10, np.datetime64("NaT"), dtype=dates.dtype)]
    folds = make_folds(np.zeros(60), 3, 0, "time", train_only=original, times=times)
    assert set(folds[original]) == {-1} and sorted(set(folds[~original])) == [-1, 0, 1, 2]


def test_time_folds_refuse_missing_times_and_too_few_of_them() -> None:
    with pytest.raises(ContractError, match=r"2 training row\(s\) have no time \(first: row 3\)"):
        time_folds(np.array([1.0, 2, 3, np.nan, 5, np.nan]), 2)
    with pytest.raises(ContractError, match="at least 6 distinct times; the data has 3"):
        time_folds(np.repeat([1.0, 2, 3], 10), 5)
    with pytest.raises(ContractError, match="one time holds 90 of 100 rows"):
        time_folds(np.r_[np.zeros(90), np.arange(1, 11)], 3)
    with pytest.raises(ContractError, match="needs Data.time"):
        make_folds(np.zeros(10), 2, 0, "time")


def sales(n: int = 600, n_test: int = 150, later: bool = True) -> pd.DataFrame:
    """Daily rows whose target trends upward: a model that sees later days learns the trend's level."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2023-01-01", periods=n + n_test, freq="D")
    order = np.arange(n + n_test) if later else rng.permutation(n + n_test)
    x = rng.normal(size=n + n_test)
    y = 0.01 * np.arange(n + n_test) + x + rng.normal(0, 0.3, n + n_test)
    return pd.DataFrame({"id": np.arange(n + n_test), "date": days.strftime("%Y-%m-%d"), "x": x, "sales": y}).iloc[
        order
    ]


def download(tmp_path: Path, df: pd.DataFrame, n: int = 600, name: str = "ts.zip") -> Path:
    train, test = df.iloc[:n], df.iloc[n:].drop(columns="sales")
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", pd.DataFrame({"id": test["id"], "sales": 0.0}).to_csv(index=False))
    return path


def fits_per_fold(
    monkeypatch: pytest.MonkeyPatch, refits: list[pd.Series] | None = None
) -> list[tuple[pd.Series, pd.Series]]:
    """Record the dates each fold's model trains on and validates on (the runner's fit_fold, spied); the dates each
    refit on every training row trains on (it has no validation rows) go to `refits`."""
    import pipeline.fold_fits as fold_fits

    seen: list[tuple[pd.Series, pd.Series]] = []
    real = fold_fits.fit_fold

    def spy(est, X_tr, y_tr, seed, jobs, context, engineering):  # noqa: ANN001, ANN202
        if context.eval_set is None:
            assert refits is not None, "a fit with no validation rows"
            refits.append(pd.to_datetime(X_tr["date"]))
        else:
            seen.append((pd.to_datetime(X_tr["date"]), pd.to_datetime(context.eval_set[0]["date"])))
        return real(est, X_tr, y_tr, seed, jobs, context, engineering)

    monkeypatch.setattr(fold_fits, "fit_fold", spy)
    return seen


def test_new_runs_folds_forward_when_the_test_is_later_and_at_random_with_time_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path, sales())
    assert main(["new", "ts", "--data", str(data), "--into", "comps"]) == 0  # every test day follows the training days
    out = capsys.readouterr().out
    assert "folds: forward in time by date" in out and "--time none draws them at random" in out
    source = (tmp_path / "comps" / "ts" / "__init__.py").read_text()
    assert '\nFOLDS = "time"' in source and 'TIME = "date"' in source
    refits: list[pd.Series] = []
    seen = fits_per_fold(monkeypatch, refits)
    assert main(["run", "comps/ts", "--data", str(data), "--models", "lightgbm,linear", "--quiet"]) == 0
    assert len(seen) == 10  # 2 models x 5 folds
    assert all(train.max() < valid.min() for train, valid in seen)  # only the past
    # then each model once more on every training row, the last period included
    assert len(refits) == 2 and all(len(r) == 600 and r.max() == pd.Timestamp("2024-08-22") for r in refits)
    run = max((tmp_path / "runs" / "ts").iterdir())
    folds = np.load(run / "folds.npy")
    assert (folds == -1).sum() == 100 and sorted(set(folds)) == [-1, 0, 1, 2, 3, 4]  # the first period: trained on
    submission = pd.read_csv(run / "submission.csv")
    assert list(submission.columns) == ["id", "sales"] and len(submission) == 150 and submission["sales"].notna().all()
    # the submission is each model's refit on every row (the last fold's models never saw the last period)
    refit = {m: np.load(run / "parts" / m / "full.npz")["test"] for m in ("lightgbm", "linear")}
    last = {m: np.load(run / "parts" / m / "fold4.npz")["test"] for m in ("lightgbm", "linear")}
    used = {m: np.load(run / "test" / f"{m}.npy") for m in ("lightgbm", "linear")}
    assert all(np.allclose(refit[m], used[m]) and not np.allclose(last[m], used[m]) for m in used)
    assert json.loads((run / "summary.json").read_text())["models"]["lightgbm"]["refit"] is True
    assert main(["predict", str(run), "--data", str(data), "--out", "again", "--quiet"]) == 0
    assert (tmp_path / "again" / "submission.csv").read_bytes() == (run / "submission.csv").read_bytes()

    # the same download with --time none: random folds, which train on later days than they validate
    assert main(["new", "ts_random", "--data", str(data), "--into", "comps", "--time", "none"]) == 0
    assert "folds: drawn at random (--time none)" in capsys.readouterr().out
    source = (tmp_path / "comps" / "ts_random" / "__init__.py").read_text()
    assert 'FOLDS = "kfold"' in source and "TIME = None" in source
    seen.clear()
    assert main(["run", "comps/ts_random", "--data", str(data), "--models", "linear", "--quiet"]) == 0
    assert all(train.max() > valid.min() for train, valid in seen)


def test_a_later_test_set_of_times_written_with_their_zone_gets_folds_forward(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # before: times ending in Z or +00:00 were read as codes, not dates: folds at random on a later test set
    df = sales()
    df["date"] = pd.to_datetime(df["date"]).dt.tz_localize("UTC").astype(str)  # 2023-01-01 00:00:00+00:00
    data = download(tmp_path, df, name="zoned.zip")
    assert main(["new", "zoned", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert "time: every test row's date (2024-08-23 to 2025-01-19) follows" in capsys.readouterr().out
    assert '\nFOLDS = "time"' in (tmp_path / "comps" / "zoned" / "__init__.py").read_text()


def test_new_time_flag_names_a_column_and_bad_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    mixed = download(tmp_path, sales(later=False), name="mixed.zip")
    assert main(["new", "mixed", "--data", str(mixed), "--into", "comps"]) == 0
    assert 'FOLDS = "kfold"' in (tmp_path / "comps" / "mixed" / "__init__.py").read_text()  # the test is not later
    assert main(["new", "mixed_time", "--data", str(mixed), "--into", "comps", "--time", "date"]) == 0
    assert 'TIME = "date"' in (tmp_path / "comps" / "mixed_time" / "__init__.py").read_text()
    capsys.readouterr()
    assert main(["new", "bad", "--data", str(mixed), "--into", "comps", "--time", "when"]) == 2
    assert "--time when: no such column in train.csv" in capsys.readouterr().err
    df = sales(later=False)
    df["date"] = df["date"].astype(object)
    df.iloc[4, df.columns.get_loc("date")] = "soon"
    broken = download(tmp_path, df, name="broken.zip")
    assert main(["new", "bad", "--data", str(broken), "--into", "comps", "--time", "date"]) == 2
    assert "time column 'date' has 1 row(s) with no date or number, first on line 6 ('soon')" in capsys.readouterr().err
    assert not (tmp_path / "comps" / "bad").exists()


def test_level_two_learns_from_earlier_periods_only() -> None:
    """Blend weights, stack and cuts on time folds: fitted on the earlier folds' OOF rows only (the first fold keeps
    equal weights, the blend and no cut); with other folds (forward=False) later rows would be used."""
    from pipeline.blend import blend, nested_blend, refit_per_group
    from pipeline.stacking import stack

    rng = np.random.default_rng(0)
    n = 600
    folds = time_folds(np.arange(n, dtype=float), 4)
    y = rng.normal(size=n)
    oofs = {m: (y + rng.normal(0, s, n)).reshape(-1, 1) for m, s in (("a", 0.3), ("b", 0.6))}
    seen: list[np.ndarray] = []

    def fit(oofs, tests, y, inner):  # noqa: ANN001, ANN202
        seen.append(inner.copy())
        w = np.array([0.7, 0.3])
        return {
            "weights": {"a": 0.7, "b": 0.3},
            "oof": blend(list(oofs.values()), w),
            "test": blend(list(tests.values()), w),
        }

    base = blend(list(oofs.values()), np.array([0.7, 0.3]))
    out, parts = nested_blend(fit, oofs, y, folds, base, forward=True)
    assert len(seen) == 3  # folds 1, 2, 3; fold 0 has nothing before it
    for g, inner in zip((1, 2, 3), seen, strict=True):
        assert set(folds[inner >= 0]) == set(range(g))
    equal = (oofs["a"] + oofs["b"]) / 2
    assert np.allclose(out[folds == 0], equal[folds == 0]) and len(parts[0]["fit"]) == 0
    seen.clear()
    nested_blend(fit, oofs, y, folds, base)  # the other folds, later ones included
    assert any(set(folds[inner >= 0]) - set(range(g)) for g, inner in zip(range(4), seen, strict=True))

    fallback = out
    st = stack(
        oofs,
        oofs,
        y,
        folds,
        lambda t, p: float(np.sqrt(np.mean((t - p[:, 0]) ** 2))),
        False,
        forward=True,
        fallback=fallback,
    )
    assert np.allclose(st["oof"][folds == 0], fallback[folds == 0])
    for f, part in enumerate(st["nested"]):
        assert set(folds[part["fit"]]) == set(range(f))
    shifted, params = refit_per_group(st["nested"], st["oof"], y, lambda p, t: 1.0, lambda p, c: p + c)
    assert params[0] is None and np.allclose(shifted[folds == 0], st["oof"][folds == 0])
    assert np.allclose(shifted[folds == 1], st["oof"][folds == 1] + 1.0)


def test_an_originals_rows_train_every_time_fold_and_are_never_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path, sales())
    source = tmp_path / "source.csv"
    sales(n=200, n_test=0).drop(columns=["id", "date"]).to_csv(source, index=False)  # the original has no dates
    assert main(["new", "ts_original", "--data", str(data), "--into", "comps", "--original", str(source)]) == 0
    assert main(["run", "comps/ts_original", "--data", str(data), "--models", "linear", "--quiet"]) == 0
    folds = np.load(next((tmp_path / "runs" / "ts_original").iterdir()) / "folds.npy")
    assert len(folds) == 800 and set(folds[600:]) == {-1}  # its 200 rows follow, in every fold's training rows
    assert (folds[:600] == -1).sum() == 100 and sorted(set(folds[:600])) == [-1, 0, 1, 2, 3, 4]
