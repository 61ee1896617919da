"""A test set holding a value of a code column that no training row has: the models read it as missing, silently
before; now `run` (test.csv against train.csv) and `predict` (a new test set against the run's recorded values)
warn of it, naming the file, the column, its rows and the values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.tabular.unseen import training_levels, unseen_warning
from tests.test_new_edge_cases import FAST, download

SAID = "values no training row has"


def tables(n: int = 300, n_test: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A regression on a number and a colour (red, green, blue on every side); test.csv without the target."""
    rng = np.random.default_rng(0)
    color = np.array(["red", "green", "blue"])[np.arange(n + n_test) % 3]
    x = rng.normal(size=n + n_test).round(4)
    df = pd.DataFrame({"id": np.arange(n + n_test), "x": x, "color": color})
    df["y"] = (3 * x + (color == "red") + rng.normal(0, 0.3, n + n_test)).round(3)
    return df.iloc[:n].reset_index(drop=True), df.iloc[n:].drop(columns="y").reset_index(drop=True)


def with_new_colours(test: pd.DataFrame) -> pd.DataFrame:
    """test.csv with two rows of a colour training never had and one of a training colour with a space after it."""
    test = test.copy()
    test.loc[[0, 1], "color"] = "purple"
    test.loc[2, "color"] = "green "
    return test


def run_of(tmp_path: Path, name: str, data: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """`new` then `run` (not quiet) on `data`: the run folder and what the run printed on stderr."""
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    capsys.readouterr()
    loud = [a for a in FAST if a != "--quiet"]
    assert main(["run", str(tmp_path / "comps" / name), "--data", str(data), *loud, "--models", "lightgbm"]) == 0
    return next((tmp_path / "runs" / name).glob("*/")), capsys.readouterr().err


def test_run_warns_of_test_values_no_training_row_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: not a word; the three rows were predicted as if their colour were missing
    monkeypatch.chdir(tmp_path)
    train, test = tables()
    data = download(tmp_path / "dl", train, with_new_colours(test), pd.DataFrame({"id": test["id"], "y": 0.0}))
    run_dir, err = run_of(tmp_path, "unseen_levels_warned", data, capsys)
    said = f"{data / 'test.csv'}: {SAID} in color (3 of 60 rows: 'purple', 'green ' vs training's 'green')"
    assert said in err
    assert "read such a value as missing" in err
    assert said in (run_dir / "log.txt").read_text()


def test_predict_warns_of_a_new_test_sets_unseen_values_and_a_clean_run_says_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    train, test = tables()
    data = download(tmp_path / "dl", train, test, pd.DataFrame({"id": test["id"], "y": 0.0}))
    run_dir, err = run_of(tmp_path, "unseen_levels_clean", data, capsys)
    assert SAID not in err and SAID not in (run_dir / "log.txt").read_text()  # every colour is a training one
    levels = json.loads((run_dir / "summary.json").read_text())["trained"]["levels"]
    assert levels == {"color": ["blue", "green", "red"]}  # recorded for predict; x and the id are no codes

    new = tmp_path / "new"  # a new test set alone: test.csv and the sample, no train.csv
    new.mkdir()
    shutil.copy(data / "sample_submission.csv", new)
    with_new_colours(test).to_csv(new / "test.csv", index=False)
    assert main(["predict", str(run_dir), "--data", str(new), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert f"{new / 'test.csv'}: {SAID} in color (3 of 60 rows: 'purple', 'green ' vs training's 'green')" in err

    test.to_csv(new / "test.csv", index=False)  # the run's own test rows: nothing to say
    assert main(["predict", str(run_dir), "--data", str(new), "--out", str(tmp_path / "out2")]) == 0
    assert SAID not in capsys.readouterr().err


def test_only_category_columns_are_checked_and_many_are_cut_short() -> None:
    n = 40
    train = pd.DataFrame(
        {
            "number": np.arange(n, dtype=float),
            "day": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
            "note": [f"a long free text note number {i}" for i in range(n)],
            "ticket": [f"T{i}" for i in range(n)],  # a high-cardinality code: new tickets are routine
            **{f"c{j}": ["a", "b"] * (n // 2) for j in range(8)},
        }
    )
    levels = training_levels(train)
    assert list(levels) == [f"c{j}" for j in range(8)]  # no number, date, free text or high-cardinality code
    test = train.head(4).assign(number=1e9, day="2030-01-01", note="unheard of", ticket="T99")
    assert unseen_warning(levels, test, "test.csv") == ""  # a new number, date, text or ticket is no unseen level
    test = test.assign(**{f"c{j}": ["z", "z", "z", "B"] for j in range(8)})
    said = unseen_warning(levels, test, "test.csv")
    assert said.startswith("test.csv: values no training row has in c0 (4 of 4 rows: 'z', 'B' vs training's 'b')")
    # 8 columns: the first five, then how many more
    assert "c4 (4 of 4 rows" in said and "c5" not in said and "... and 3 more" in said
