"""MAP@3 competitions (Playground S5E6): a sample naming 3 classes a row asks for the 3 likeliest, space-separated."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.submission import SubmissionError
from pipeline.tabular.metrics import map_at_3, score

NAMES = np.array(["Urea", "DAP", "14-35-14", "28-28", "17-17-17", "20-20", "10-26-26"])
FAST = ("--preset", "fast", "--set", "max_trees=300")


def download(tmp_path: Path, sample_value: str = "14-35-14 10-26-26 Urea", name: str = "fertilizer.zip") -> Path:
    """Seven fertilizers; nitrogen picks one, noisily (so the second and third guesses matter)."""
    rng = np.random.default_rng(0)
    n = 700
    nitrogen = rng.integers(0, 42, n)
    df = pd.DataFrame({"id": np.arange(n), "Temp": rng.normal(30, 5, n).round(), "Nitrogen": nitrogen})
    df["Soil"] = rng.choice(["Sandy", "Loamy", "Clayey"], n)
    df["Fertilizer Name"] = NAMES[np.clip(nitrogen // 6 + rng.integers(-1, 2, n), 0, 6)]
    train, test = df.iloc[:560], df.iloc[560:].drop(columns="Fertilizer Name")
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        sample = pd.DataFrame({"id": test["id"], "Fertilizer Name": sample_value})
        zf.writestr("sample_submission.csv", sample.to_csv(index=False))
    return path


def test_map_at_3_is_one_over_the_place_of_the_true_class() -> None:
    pred = np.array([[0.5, 0.3, 0.1, 0.1], [0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    y = np.array([0, 1, 2, 3])  # first, second, second, fourth (not named)
    assert map_at_3(y, pred) == pytest.approx((1 + 1 / 2 + 1 / 2 + 0) / 4)
    assert score("map@3", y, pred) == map_at_3(y, pred)
    # map@4 names the fourth class too: row 4 scores 1/4; any K of 1..99 is a metric
    assert score("map@4", y, pred) == pytest.approx((1 + 1 / 2 + 1 / 2 + 1 / 4) / 4)
    assert score("map@1", y, pred) == pytest.approx(1 / 4)


@pytest.mark.parametrize(("sample_value", "k"), [("14-35-14 10-26-26 Urea", 3), ("Urea DAP 28-28 20-20 14-35-14", 5)])
def test_new_and_run_write_the_k_likeliest_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, sample_value: str, k: int
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path, sample_value)
    assert main(["new", f"fert{k}", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    assert f"metric: map@{k} (default for multiclass with this sample submission)" in capsys.readouterr().out
    module = load_competition(str(tmp_path / "comps" / f"fert{k}"))
    assert (module.METRIC.name, module.SUBMISSION) == (f"map@{k}", "ranked")
    assert f"the submission holds the {k} likeliest classes" in module.__doc__
    assert (
        main(["run", str(tmp_path / "comps" / f"fert{k}"), "--data", str(data), "--folds", "3", "--quiet", *FAST]) == 0
    )
    run_dir = next((tmp_path / "runs" / f"fert{k}").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    sub = pd.read_csv(summary["published"], dtype=str)
    sample = pd.read_csv(Path(summary["data_dir"]) / "sample_submission.csv", dtype=str)
    assert sub["id"].tolist() == sample["id"].tolist()
    names = sub["Fertilizer Name"].str.split()
    assert (names.map(len) == k).all() and (names.map(lambda n: len(set(n))) == k).all()
    assert set(sum(names, [])) <= set(NAMES)
    # better than naming the k most frequent classes on every row
    y = pd.read_csv(Path(summary["data_dir"]) / "train.csv")["Fertilizer Name"]
    top = y.value_counts().index[:k]
    constant = sum(float((y == c).mean()) / (i + 1) for i, c in enumerate(top))
    assert summary["cv"] > constant + 0.1, (summary["cv"], constant)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Urea DAP Potash", "'Potash' is no class"),
        ("Urea DAP 28-28 20-20", "needs 1 to 3 distinct classes"),
        ("Urea Urea DAP", "needs 1 to 3 distinct classes"),
    ],
)
def test_validate_names_a_ranked_row_that_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path)
    assert main(["new", "fert_check", "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / "fert_check"))
    folder = tmp_path / "plain"
    zipfile.ZipFile(data).extractall(folder)
    loaded = module.load(module.Config(), folder)
    sub = pd.read_csv(folder / "sample_submission.csv", dtype=str)
    sub.to_csv(tmp_path / "ok.csv", index=False)
    module.validate(loaded, tmp_path / "ok.csv")
    sub.loc[3, "Fertilizer Name"] = "Urea"  # one class is a valid answer too
    sub.to_csv(tmp_path / "one.csv", index=False)
    module.validate(loaded, tmp_path / "one.csv")
    sub.loc[5, "Fertilizer Name"] = value
    sub.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SubmissionError, match=f"column Fertilizer Name at line 7 holds '{value}': {problem}"):
        module.validate(loaded, tmp_path / "bad.csv")


@pytest.mark.parametrize(
    ("sample_value", "extra", "message"),
    [
        ("14-35-14 10-26-26 Urea", ("--metric", "accuracy"), "it asks for the likeliest classes, space-separated"),
        ("Urea", ("--metric", "map@3"), "holds one value a row in Fertilizer Name; use --metric accuracy"),
        (
            "14-35-14 10-26-26 Urea DAP 28-28",
            ("--metric", "map@3"),
            "--metric map@3 writes 3 classes a row, but sample_submission.csv names 5 a row in Fertilizer Name; use "
            "--metric map@5",
        ),
        ("Urea DAP", ("--metric", "map@0"), "--metric map@0: unknown. Valid metrics:"),
    ],
)
def test_ranked_samples_and_metrics_that_disagree_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, sample_value: str, extra: tuple, message: str
) -> None:
    data = download(tmp_path, sample_value)
    assert main(["new", "fert_bad", "--data", str(data), "--into", str(tmp_path / "comps"), *extra]) == 2
    assert message in capsys.readouterr().err
