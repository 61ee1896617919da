"""What the runner hands an estimator whose fit takes `context=` (typed FitContext fields, the epoch report reaching
the run's `report` hook), and the one fold resolution that the runner and tune's step plan share."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from pipeline.contract import FitContext, load_competition
from pipeline.folds import fold_ids, resolve_folds
from pipeline.runner import RunOptions, run
from pipeline.tuning.objective import step_plan
from tests.toy import TOY_CLASSES, make_toy

# The 3-class toy with one more model: a logistic regression that records the context it was given and reports one
# epoch score the way a deep-learning trainer does.
WITH_CONTEXT = (
    TOY_CLASSES.replace(
        "from pipeline.contract import Data, Metric",
        "from pipeline.contract import Data, Metric\nfrom sklearn.base import BaseEstimator, ClassifierMixin",
    ).replace(
        'return {"logreg": LogisticRegression(), "knn": KNeighborsClassifier(15)}',
        'return {"logreg": LogisticRegression(), "ctx": Recording()}',
    )
    + """

SEEN = []


class Recording(ClassifierMixin, BaseEstimator):
    def fit(self, X, y, context=None):
        SEEN.append(context)
        context.report_epoch(0, 0.5)
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)
"""
)


@pytest.fixture
def comp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(make_toy(tmp_path / "comps", f"toyctx_{uuid.uuid4().hex[:8]}", WITH_CONTEXT))


def test_each_fit_gets_its_fold_model_classes_rows_and_the_runs_folders(comp: str) -> None:
    reports: list[dict[str, Any]] = []
    run_dir = run(RunOptions(competition=comp, sample=True, quiet=True, report=reports.append))
    seen: list[FitContext] = load_competition(comp).SEEN
    folds = np.load(run_dir / "folds.npy")
    assert [c.fold for c in seen] == fold_ids(folds) == [0, 1, 2]
    n_test = 30
    for c in seen:
        assert (c.model, c.n_classes, c.sync_bn, c.seed) == ("ctx", 3, False, c.fold)
        assert c.predict_rows == int((folds == c.fold).sum()) + n_test  # this fold's OOF rows + the test rows
        assert c.workdir == run_dir / "checkpoints" / "ctx" / f"fold{c.fold}" and c.workdir.is_dir()
        assert c.plots_dir == run_dir / "plots"
        assert len(c.eval_set[1]) == int((folds == c.fold).sum())
    # epoch-level reports go through the run's own hook, between the fold-level ones
    epochs = [r for r in reports if "epoch" in r]
    assert epochs == [{"model": "ctx", "fold": f, "epoch": 0, "score": 0.5} for f in (0, 1, 2)]
    assert [(r["model"], r["fold"]) for r in reports if "epoch" not in r] == [
        (m, f) for m in ("logreg", "ctx") for f in (0, 1, 2)
    ]


def test_report_epoch_does_nothing_outside_tune() -> None:
    FitContext(workdir=None, model="m", fold=1).report_epoch(3, 0.25)  # no hook: nothing to call, no error
    got: list[dict[str, Any]] = []
    FitContext(workdir=None, model="m", fold=1, report=got.append).report_epoch(3, 0.25)
    assert got == [{"model": "m", "fold": 1, "epoch": 3, "score": 0.25}]


@dataclasses.dataclass(frozen=True)
class _Config:
    folds: int = 5
    holdout: float = 0.0


class _Module:
    Config = _Config
    FOLDS = "stratified"

    @staticmethod
    def models(cfg: Any) -> dict[str, Any]:
        return {"a": Ridge(), "b": Ridge()}


@pytest.mark.parametrize(
    ("overrides", "folds", "k", "n_folds"),
    [({}, None, 5, 5), ({}, 3, 3, 3), ({"folds": 4}, None, 4, 4), ({"holdout": 0.2}, None, 5, 1)],
)
def test_tune_plans_the_folds_the_runner_resolves(overrides: dict, folds: int | None, k: int, n_folds: int) -> None:
    cfg, plan = resolve_folds(_Module, _Config(**overrides), folds)
    assert (plan.kind, plan.k, plan.n_folds, cfg.folds) == ("stratified", k, n_folds, k)
    assert step_plan(_Module, overrides, folds, None).n_folds == n_folds


class _SampleModule(_Module):
    PRESETS = {"sample": {"folds": 2}}


def test_tune_plans_a_sample_run_over_the_sample_preset() -> None:
    # `tune --sample` runs trials over the competition's sample preset, as `run --sample` does
    assert step_plan(_SampleModule, {}, None, None, sample=True).n_folds == 2
    assert step_plan(_SampleModule, {"folds": 3}, None, None, sample=True).n_folds == 3  # the user's value wins
    assert step_plan(_SampleModule, {}, None, None).n_folds == 5
