"""Adversarial validation (`python -m pipeline drift`): chance on rows of one kind, the shifted column named on rows
that differ, for test rows and for an original dataset."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.tabular.drift import ALIKE, ALIKE_ORIGINAL, adversarial, auc_se


def rows(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Numbers, a category and a code; `shift` moves the `income` column's mean by that many standard deviations."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(),
            "income": rng.normal(50 + 10 * shift, 10, n).round(1),
            "city": rng.choice(["north", "south", "east"], n),
            "code": rng.integers(0, 50, n).astype(str),
        }
    )


def test_the_standard_error_at_chance_is_mann_whitneys() -> None:
    # under the null the Mann-Whitney statistic's SE is sqrt((n1 + n0 + 1) / (12 n1 n0))
    assert auc_se(0.5, 100, 300) == pytest.approx(np.sqrt(401 / (12 * 100 * 300)), rel=0.01)
    assert auc_se(0.9, 100, 300) < auc_se(0.5, 100, 300)


def test_rows_of_one_kind_read_as_chance_and_a_shifted_column_is_named() -> None:
    same = adversarial(rows(600, 0), rows(400, 1))
    assert abs(same.auc - 0.5) < 2.5 * same.se and same.verdict == ALIKE
    shifted = adversarial(rows(600, 0), rows(400, 1, shift=1.5))
    assert shifted.auc > 0.8 and shifted.verdict != ALIKE
    assert next(iter(shifted.columns)) == "income" and shifted.columns["income"] > 0.5
    assert len(shifted.fold_aucs) == 5 and shifted.rows == (600, 400)


def test_a_copy_of_the_rows_reads_as_alike_also_with_a_code_on_every_row() -> None:
    # an original dataset that holds the training rows themselves (Titanic's full passenger list): every ticket is on
    # one row each side, so a code's mean "is it the other side" label, fitted on the other rows, is the twin's label
    # and told the sides apart (AUC 0.95 "very different" on Titanic, which this table imitates)
    table = rows(600, 0)
    table["ticket"] = [f"T{i:04d}" for i in np.random.default_rng(3).permutation(600)]
    copy = adversarial(table, table.copy(), names=("train", "original"))
    assert copy.auc - 2 * copy.se <= 0.5 and copy.verdict == ALIKE_ORIGINAL  # said of the original's rows


def test_at_most_rows_are_compared_each_side_in_proportion() -> None:
    d = adversarial(rows(3000, 0), rows(1000, 1), rows=800)
    assert d.rows == (600, 200)


def download(tmp_path: Path, shift: float) -> Path:
    train, test = rows(500, 0), rows(300, 1, shift)
    train.insert(0, "id", np.arange(500))
    test.insert(0, "id", np.arange(500, 800))
    train["target"] = (train["income"] + np.random.default_rng(2).normal(0, 10, 500) > 50).astype(int)
    path = tmp_path / f"shift{shift:g}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", pd.DataFrame({"id": test["id"], "target": 0}).to_csv(index=False))
    return path


def test_drift_command_on_test_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    for shift in (0.0, 2.0):
        data = download(tmp_path, shift)
        name = f"shift{int(shift)}"
        assert main(["new", name, "--data", str(data), "--into", "comps"]) == 0
        assert (
            f"python -m pipeline drift comps/{name} --data {data}  (do the test rows differ?)"
            in capsys.readouterr().out
        )
        assert main(["drift", f"comps/{name}", "--data", str(data)]) == 0
        out = capsys.readouterr().out
        written = json.loads((tmp_path / "drift" / name / "train-vs-test.json").read_text())
        assert f"adversarial AUC {written['auc']:.4f}" in out and written["rows"] == [500, 300]
        if shift:
            assert written["auc"] > 0.9 and list(written["columns"])[0] == "income"
            assert "very different" in out
        else:  # rows of one kind: the AUC is 0.5 give or take its standard error (on 8 other seeds: z -1.5 to 1.5)
            assert abs(written["auc"] - 0.5) < 3 * written["se"] and written["verdict"] in out


def test_drift_against_an_original_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path, 0.0)
    assert main(["new", "plain", "--data", str(data), "--into", "comps"]) == 0
    assert main(["drift", "comps/plain", "--data", str(data), "--against", "original"]) == 2
    assert "names no original dataset (ORIGINAL is None)" in capsys.readouterr().err
    original = rows(900, 7, shift=1.0).assign(target=lambda d: (d["income"] > 60).astype(int))
    source = tmp_path / "source.csv"
    original.to_csv(source, index=False)
    assert main(["new", "withsource", "--data", str(data), "--original", str(source), "--into", "comps"]) == 0
    capsys.readouterr()
    assert main(["drift", "comps/withsource", "--data", str(data), "--against", "original", "--out", "o.json"]) == 0
    assert "train (500 rows) vs original (900 rows)" in capsys.readouterr().out
    written = json.loads((tmp_path / "o.json").read_text())
    assert written["auc"] > 0.7 and list(written["columns"])[0] == "income"
    # the verdict speaks of the original's rows and the setting that decides their use, not of test rows
    assert "original" in written["verdict"] and "test rows" not in written["verdict"]


def test_drift_refuses_a_competition_that_is_not_a_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    project = Path(__file__).resolve().parent.parent
    assert main(["drift", str(project / "competitions" / "leaves"), "--sample"]) == 2
    assert "inputs are not tables" in capsys.readouterr().err


def test_new_notes_a_test_set_later_in_time_and_drift_names_the_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    days = pd.date_range("2024-01-01", periods=800, freq="D").strftime("%Y-%m-%d")
    for name, order in (("later", np.arange(800)), ("mixed", np.random.default_rng(0).permutation(800))):
        df = rows(800, 0).assign(date=np.asarray(days)[order], id=np.arange(800))
        df["target"] = (df["income"] > 50).astype(int)
        train, test = df.iloc[:600], df.iloc[600:].drop(columns="target")
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("train.csv", train.to_csv(index=False))
            zf.writestr("test.csv", test.to_csv(index=False))
            zf.writestr("sample_submission.csv", pd.DataFrame({"id": test["id"], "target": 0}).to_csv(index=False))
        assert main(["new", name, "--data", str(path), "--into", "comps"]) == 0
        note = "time: every test row's date (2025-08-23 to 2026-03-10) follows every training row's (to 2025-08-22)"
        assert (note in capsys.readouterr().out) == (name == "later")
    assert main(["drift", "comps/later", "--data", str(tmp_path / "later.zip")]) == 0
    assert "very different" in capsys.readouterr().out
    written = json.loads((tmp_path / "drift" / "later" / "train-vs-test.json").read_text())
    assert written["auc"] > 0.95 and list(written["columns"])[0] == "date"
