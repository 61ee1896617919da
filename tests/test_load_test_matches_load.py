"""Each competition's load_test (the test side alone, which `predict` of a new test set reads without the training
data) reads the test rows exactly as its load does: the same features in the same values and dtypes, ids, classes.
A difference would reach the saved models as other inputs than the run's, and the submission be quietly worse."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import Data, load_competition
from pipeline.datadir import resolve_data
from pipeline.prediction import read_test


def same_test_side(module: Any, cfg: Any, data_dir: Path) -> None:
    """load's test side and load_test's (given what load recorded, through JSON as the run saves it) agree."""
    full = module.load(cfg, data_dir)
    trained = json.loads(json.dumps((full.info or {}).get("trained")))
    alone = read_test(module, cfg, data_dir, trained)
    assert isinstance(alone, Data) and alone.X is None and alone.y is None
    assert np.array_equal(np.asarray(alone.test_ids), np.asarray(full.test_ids))
    assert alone.classes == (None if full.classes is None else [str(c) for c in full.classes])
    if isinstance(full.X_test, pd.DataFrame):
        pd.testing.assert_frame_equal(alone.X_test, full.X_test)
    else:
        assert np.array_equal(np.asarray(alone.X_test), np.asarray(full.X_test))


@pytest.mark.parametrize("name", ["house_prices", "cifar10", "dog_breeds", "leaves", "cowboy_outfits"])
def test_built_in_competitions(name: str, tmp_path: Path) -> None:
    module = load_competition(f"competitions/{name}")
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        data_dir, _ = resolve_data(module, None, True)
        same_test_side(module, module.Config(), Path(data_dir).resolve())
    finally:
        os.chdir(cwd)


def tables(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Columns of the kinds load_tables reads in its own ways: numbers, codes, text that is numbers in some rows,
    numbers written with thousands separators, dates day-first, an empty cell here and there."""
    area = rng.integers(300, 9000, n)
    days, months = rng.integers(1, 29, n), rng.integers(1, 13, n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n).round(3),
            "code": rng.choice(["a", "b", "c", None], n),
            "mixed": [str(v) if i % 3 else f"R{v}" for i, v in enumerate(rng.integers(0, 50, n))],
            "area": [f"{v:,}" for v in area],
            "day": [f"{d:02d}/{m:02d}/2021" for d, m in zip(days, months, strict=True)],
        }
    )
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    return frame


@pytest.mark.parametrize("kind", ["labels", "values", "row_ids"])
def test_generated_competitions(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    train, test = tables(rng, 240), tables(rng, 80)
    # the test rows of `mixed` hold numbers only: load reads them as text, as train holds them
    test["mixed"] = [str(v) for v in rng.integers(0, 50, 80)]
    train["y"] = rng.choice(["No", "Yes"], 240) if kind == "labels" else rng.normal(size=240).round(3)
    data = tmp_path / "dl"
    data.mkdir()
    ids = pd.Series(range(1000, 1080)) if kind != "row_ids" else pd.Series(range(1, 81))
    if kind != "row_ids":
        test.insert(0, "id", ids)
        train.insert(0, "id", range(240))
    train.to_csv(data / "train.csv", index=False)
    test.to_csv(data / "test.csv", index=False)
    value = "No" if kind == "labels" else 0.5
    pd.DataFrame({"id": ids, "y": value}).to_csv(data / "sample_submission.csv", index=False)
    name = f"sides_{kind}"
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / name))
    same_test_side(module, module.Config(), data)
