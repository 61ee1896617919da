"""A class with fewer training rows than the folds leaves some folds without it: their ROC AUC is not defined, the
run's out-of-fold CV is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.folds import finite_mean, fold_score
from pipeline.tabular.metrics import score


def test_a_run_whose_folds_miss_the_rare_class_scores_out_of_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 positives in 80 rows, 5 folds: some folds validate no positive. Before, the run stopped with a traceback
    # ("Only one class present in y_true") after fitting its first fold
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = 100
    X = pd.DataFrame({"id": np.arange(n), "a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = np.zeros(n, dtype=int)
    y[[5, 40, 77]] = 1
    folder = tmp_path / "rare"
    folder.mkdir()
    X.iloc[:80].assign(target=y[:80]).to_csv(folder / "train.csv", index=False)
    X.iloc[80:].to_csv(folder / "test.csv", index=False)
    X.iloc[80:][["id"]].assign(target=0.5).to_csv(folder / "sample_submission.csv", index=False)
    comps = tmp_path / "comps"
    assert main(["new", "rare", "--data", str(folder), "--into", str(comps), "--metric", "roc_auc"]) == 0
    assert main(["run", str(comps / "rare"), "--data", str(folder), "--preset", "fast", "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs" / "rare").glob("*")
    assert "lightgbm fold 1: roc_auc not defined on its rows alone (one class)" in (run_dir / "log.txt").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert np.isfinite(summary["cv"])
    lightgbm = json.loads((run_dir / "scores.json").read_text())["lightgbm"]
    assert 1 <= np.isnan(lightgbm["fold_scores"]).sum() <= 4 and np.isfinite(lightgbm["mean"])
    assert len(pd.read_csv(run_dir / "submission.csv")) == 20


def test_fold_score_answers_nan_only_for_a_fold_of_one_class() -> None:
    auc = lambda y, p: score("roc_auc", y, p)  # noqa: E731
    assert np.isnan(fold_score(auc, np.zeros(4), np.array([[0.1], [0.2], [0.3], [0.4]])))
    assert fold_score(auc, np.array([0, 1, 0, 1]), np.array([[0.1], [0.9], [0.2], [0.8]])) == 1.0
    with pytest.raises(ValueError, match="target columns"):  # another fault is no undefined score
        fold_score(lambda y, p: score("roc_auc", y, p), np.array([[0, 1], [1, 0]]), np.ones((2, 3)))
    assert finite_mean([0.5, float("nan"), 0.7]) == pytest.approx((0.6, 0.1))
    assert all(np.isnan(finite_mean([float("nan")])))


def test_tune_compares_the_best_trial_with_the_start_over_the_folds_that_define_the_score(tmp_path: Path) -> None:
    # summary.json's cv_folds (what tune's study.json compares fold by fold): a fold holding one class has no ROC AUC
    # of its own. Before, one such fold left the run without cv_folds (None) and the study without its comparison.
    from types import SimpleNamespace

    from optuna.trial import TrialState

    from pipeline.finish import fold_scores
    from pipeline.tuning.results import versus_start

    def auc(y: np.ndarray, p: np.ndarray) -> float:
        return score("roc_auc", y, p)

    y = np.array([0, 1, 0, 1, 0, 0, 0, 0, 1, 0])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])  # fold 1 holds class 0 alone
    module = SimpleNamespace(score=auc)
    oof = {"start": np.array([0.2, 0.6, 0.7, 0.4, 0.1, 0.2, 0.3, 0.3, 0.5, 0.6]), "best": np.linspace(0, 1, 10)}
    saved = {}
    for name, pred in oof.items():
        saved[name] = fold_scores(module, y, folds, np.column_stack([1 - pred, pred]))
        assert saved[name] is not None and np.isnan(saved[name][1]) and np.isfinite(saved[name][0::2]).all()
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"cv_folds": saved[name]}))
    trials = [
        SimpleNamespace(number=n, state=TrialState.COMPLETE, user_attrs={"run_dir": str(tmp_path / k), "start": n == 0})
        for n, k in enumerate(("start", "best"))
    ]
    study = SimpleNamespace(get_trials=lambda deepcopy=False: trials)
    vs = versus_start(study, trials[1], maximize=True)
    gains = [saved["best"][f] - saved["start"][f] for f in (0, 2)]
    assert vs is not None and vs["folds"] == 2 and vs["gain"] == pytest.approx(np.mean(gains))
