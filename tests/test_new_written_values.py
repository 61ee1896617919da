"""`new` + `run` on values as Kaggle's files write them: a sample submission whose label column is empty, a class
named None (a word pandas reads as missing), Parquet tables, numbers written with thousands separators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_new_edge_cases import download, new_and_run


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
