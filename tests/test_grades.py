"""Ordered grades scored by quadratic weighted kappa: the kappa as Kaggle computes it, cut points fitted out of fold,
and `new --metric qwk` + `run` writing whole-number grades."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline import grades
from pipeline.cli import main
from pipeline.contract import Metric, load_competition
from pipeline.submission import SubmissionError
from pipeline.tabular.metrics import score

FAST = ("--preset", "fast", "--set", "max_trees=300")


def shrunk(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Grades 3..8 (most 5 and 6, as wine qualities are) and a regression's values: pulled halfway to the mean, as
    fitted values are, and noisy; `signal` 0 knows nothing of the grades."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.arange(3, 9), n, p=[0.03, 0.12, 0.35, 0.3, 0.15, 0.05]).astype(float)
    value = y.mean() + signal * 0.5 * (y - y.mean()) + rng.normal(0, 0.4, n)
    return value.reshape(-1, 1), y


def test_the_kappa_is_kaggles() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    b[:150] = a[:150]
    assert grades.quadratic_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    # a grade neither rating holds still counts in the distance: 1 vs 3 is two grades apart, not one
    a, b = np.array([1, 1, 3, 3, 4]), np.array([1, 3, 3, 4, 4])
    observed = np.zeros((4, 4))
    for i, j in zip(a - 1, b - 1, strict=True):
        observed[i, j] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / 5
    w = (np.arange(4)[:, None] - np.arange(4)[None, :]) ** 2 / 9
    assert grades.quadratic_kappa(a, b) == pytest.approx(1 - (w * observed).sum() / (w * expected).sum())
    assert grades.quadratic_kappa(a, b) != pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    assert grades.quadratic_kappa(a, a) == 1.0


def test_qwk_scores_values_rounded_to_the_nearest_grade() -> None:
    y = np.array([3.0, 4.0, 5.0, 8.0])  # grades 3, 4, 5, 8: a value of 6.4 is nearest 5, 6.5 goes up to 8
    values = np.array([[3.2], [3.5], [6.4], [6.5]])
    assert grades.nearest(values, grades.grades_of(y)).ravel().tolist() == [3.0, 4.0, 5.0, 8.0]
    assert score("qwk", y, values) == 1.0
    assert score("qwk", y, np.array([[2.0], [4.0], [5.0], [11.0]])) == 1.0  # beyond the grades: the nearest end
    with pytest.raises(ValueError, match="whole numbers; the target holds 4.5"):
        grades.grades_of(np.array([3.0, 4.5]))


def test_cuts_fitted_on_shrunk_values_beat_rounding() -> None:
    value, y = shrunk(3000, 1, 1.0)
    g = grades.grades_of(y)
    cuts = grades.fit_cuts(value, y, g)
    assert (np.diff(cuts) > 0).all() and len(cuts) == len(g) - 1
    rounded = grades.quadratic_kappa(y, grades.nearest(value, g))
    assert grades.quadratic_kappa(y, grades.cut(value, cuts, g)) > rounded + 0.05
    # the values sit nearer the mean than the grades: the outer cuts move in, toward the middle
    mid = grades.midpoints(g)
    assert cuts[0] > mid[0] and cuts[-1] < mid[-1]


def run_apply(value: np.ndarray, y: np.ndarray, tmp_path: Path, on: bool = True) -> dict:
    folds = np.arange(len(y)) % 5
    nested = [
        {"held": np.flatnonzero(folds == f), "fit": np.flatnonzero(folds != f), "fit_pred": value[folds != f]}
        for f in range(5)
    ]
    module = SimpleNamespace(METRIC=Metric("qwk", True), score=lambda a, b: score("qwk", a, b))
    b = {"oof": value, "test": value[:50], "score": score("qwk", y, value), "nested": nested}
    from pipeline import threshold  # the runner's hook, which hands a QWK target to pipeline.grades

    cfg = SimpleNamespace(threshold=on)
    return threshold.apply(module, cfg, SimpleNamespace(classes=None), y, folds, b, tmp_path, lambda *_: None)


def test_with_signal_the_cuts_are_applied_and_scored_out_of_fold(tmp_path: Path) -> None:
    value, y = shrunk(3000, 2, 1.0)
    out = run_apply(value, y, tmp_path)
    info = out["threshold"]
    assert info["applied"] and out["score"] == info["score_after"] > info["score_before"] + 0.05
    assert len({tuple(c) for c in info["fold_cuts"]}) == 5  # each fold cut at points fitted on the other folds
    assert set(np.unique(out["oof"])) <= set(y) and set(np.unique(out["test"])) <= set(y)
    assert (out["test"] == grades.cut(value[:50], np.array(info["cuts"]), grades.grades_of(y))).all()
    assert json.loads((tmp_path / "threshold.json").read_text())["cuts"] == info["cuts"]
    # Config.threshold off: the values stay as they are, and the submission rounds them
    assert "threshold" not in run_apply(value, y, tmp_path, on=False)


def test_on_noise_the_out_of_fold_score_is_not_fooled(tmp_path: Path) -> None:
    # values that know nothing: cuts fitted on the rows they score find a lucky kappa; fitted out of fold they do
    # not on average (a leaky version, each fold cut at the points fitted on all rows, would read as in-sample)
    in_sample, out_of_fold = [], []
    for seed in range(6):
        value, y = shrunk(1000, seed, 0.0)
        g = grades.grades_of(y)
        in_sample.append(grades.quadratic_kappa(y, grades.cut(value, grades.fit_cuts(value, y, g), g)))
        out = run_apply(value, y, tmp_path)
        out_of_fold.append(out["threshold"]["score_after"])
        if not out["threshold"]["applied"]:
            assert out["score"] == out["threshold"]["score_before"] and out["oof"] is value
    assert np.mean(in_sample) > 0.04 and np.mean(out_of_fold) < 0.01 < np.mean(in_sample) - 0.03


def download(tmp_path: Path, quality: pd.Series | None = None, sample_value: object = 6) -> Path:
    """A Playground-like wine download: quality 3..8 (most 5 and 6) from two of four measurements, noisily."""
    rng = np.random.default_rng(0)
    n = 1200
    df = pd.DataFrame({"id": np.arange(n) + 10, **{f"m{i}": rng.normal(0, 1, n).round(3) for i in range(4)}})
    latent = 0.9 * df["m0"] - 0.6 * df["m1"] + rng.normal(0, 0.6, n)
    df["quality"] = np.digitize(latent, np.quantile(latent, [0.03, 0.15, 0.5, 0.8, 0.95])) + 3
    if quality is not None:
        df["quality"] = quality
    train, test = df.iloc[:1000], df.iloc[1000:].drop(columns="quality")
    path = tmp_path / "wine.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr(
            "sample_submission.csv", pd.DataFrame({"id": test["id"], "quality": sample_value}).to_csv(index=False)
        )
    return path


def test_new_and_run_write_grades_cut_out_of_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path)
    assert main(["new", "wine", "--data", str(data), "--metric", "qwk", "--into", str(tmp_path / "comps")]) == 0
    out = capsys.readouterr().out
    assert "task: regression on the 6 grades of quality" in out
    module = load_competition(str(tmp_path / "comps" / "wine"))
    assert (module.TASK, module.SUBMISSION, module.FOLDS) == ("regression", "grades", "stratified")
    spec = str(tmp_path / "comps" / "wine")
    runs = {}
    for label, sets in (("cut", []), ("rounded", ["--set", "threshold=false"])):
        assert main(["run", spec, "--data", str(data), "--folds", "3", "--quiet", *FAST, *sets, "--tag", label]) == 0
        run_dir = next(d for d in (tmp_path / "runs" / "wine").iterdir() if d.name.endswith(label))
        runs[label] = json.loads((run_dir / "summary.json").read_text())
    cut, rounded = runs["cut"], runs["rounded"]
    sub = pd.read_csv(cut["published"], dtype=str)
    sample = pd.read_csv(Path(cut["data_dir"]) / "sample_submission.csv", dtype=str)
    assert sub["id"].tolist() == sample["id"].tolist()
    assert set(sub["quality"]) <= {str(g) for g in range(3, 9)}
    # the cuts took effect: fitted out of fold, they beat rounding the same models' values
    assert cut["threshold"]["applied"] and "cuts" in cut["threshold"]
    assert cut["cv"] > rounded["cv"] + 0.01, (cut["cv"], rounded["cv"])
    assert rounded.get("threshold") is None
    assert cut["cv"] > 0.6  # far above chance (0): the grades follow two of the measurements
    # predict with the saved models refits the same cuts on the saved OOF values: the same submission, byte for byte
    out = tmp_path / "predicted"
    assert main(["predict", cut["run_dir"], "--data", str(data), "--out", str(out), "--quiet"]) == 0
    assert (out / "submission.csv").read_bytes() == (Path(cut["run_dir"]) / "submission.csv").read_bytes()
    # ensemble blends the runs' values (before any cut) and cuts the blend at points fitted on it, out of fold
    assert main(["ensemble", cut["run_dir"], rounded["run_dir"], "--tag", "both", "--quiet"]) == 0
    both_dir = next(d for d in (tmp_path / "runs" / "wine").iterdir() if d.name.endswith("both"))
    both = json.loads((both_dir / "summary.json").read_text())
    assert "cuts" in both["threshold"] and set(pd.read_csv(both["published"])["quality"]) <= set(range(3, 9))


def test_validate_names_a_value_that_is_no_grade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = download(tmp_path)
    assert main(["new", "wine", "--data", str(data), "--metric", "qwk", "--into", str(tmp_path / "comps")]) == 0
    module = load_competition(str(tmp_path / "comps" / "wine"))
    folder = tmp_path / "data"
    with zipfile.ZipFile(data) as zf:
        zf.extractall(folder)
    d = module.load(module.Config(), folder)
    path = tmp_path / "submission.csv"
    module.write_submission(d, np.linspace(1, 10, len(d.test_ids)), path)
    written = pd.read_csv(path)["quality"]
    assert written.min() == 3 and written.max() == 8  # beyond the grades: the nearest end
    module.validate(d, path)
    bad = pd.read_csv(path)
    bad.loc[4, "quality"] = 9
    bad.to_csv(path, index=False)
    with pytest.raises(SubmissionError, match=r"column quality at line 6 holds '9', not one of the target's grades"):
        module.validate(d, path)


@pytest.mark.parametrize(
    ("quality", "flags", "problem"),
    [
        (pd.Series(["good", "bad"] * 600), [], "--metric qwk scores whole-number grades, but quality holds 'good'"),
        (pd.Series([5.5, 6.0] * 600), [], "--metric qwk scores whole-number grades, but quality holds 5.5"),
        # before: NA (line 5) was kept as a word, as a class's is, and named where the word on line 42 is meant
        (
            pd.Series(["5", "6"] * 600).where(lambda q: q.index != 3, "NA").where(lambda q: q.index != 40, "good"),
            [],
            "train.csv: --metric qwk scores whole-number grades, but quality holds 'good' on line 42; fix that value",
        ),
        (
            pd.Series([5.5, 6.0] * 600),
            ["--task", "regression"],
            "qwk scores whole-number grades, but quality holds 5.5",
        ),
        (None, ["--task", "multiclass"], "--metric qwk is for regression, not multiclass"),
    ],
)
def test_new_refuses_what_qwk_cannot_score(
    tmp_path: Path, capsys: pytest.CaptureFixture, quality: pd.Series | None, flags: list[str], problem: str
) -> None:
    data = download(tmp_path, quality)
    into = tmp_path / "comps"
    assert main(["new", "wine", "--data", str(data), "--metric", "qwk", *flags, "--into", str(into)]) == 2
    assert problem in capsys.readouterr().err
    assert not (into / "wine").exists()
