"""Level-2 stacking: its reported score is out of fold, a leaky stack is caught, and it helps where it should."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeline.contract import Metric
from pipeline.folds import make_folds
from pipeline.stacking import features, meta_classifier, stack
from pipeline.tabular.metrics import accuracy, log_loss, rmse


def noise_models(n: int, m: int, seed: int) -> dict[str, np.ndarray]:
    """m level-1 'models' whose OOF probabilities are pure noise: no stack can honestly beat chance."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(m):
        p = rng.uniform(0.05, 0.95, n)
        out[f"m{i}"] = np.column_stack([1 - p, p])
    return out


def leaky_stack(oofs: dict[str, np.ndarray], y: np.ndarray) -> float:
    """The mistake: a meta-model fitted on all OOF rows, scored on those same rows."""
    F = features(list(oofs.values()), True, "linear")
    meta = LogisticRegression(C=1.0, max_iter=2000).fit(F, y)
    return accuracy(y, meta.predict_proba(F))


def test_a_leaky_stack_is_fooled_by_noise_and_ours_is_not() -> None:
    n, m = 240, 40
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, n)
    oofs = noise_models(n, m, 2)
    folds = make_folds(y, 5, 0, "stratified")
    ours = stack(oofs, oofs, y, folds, accuracy, classification=True)
    leaky = leaky_stack(oofs, y)
    assert leaky > 0.65  # 40 noise features fitted and scored on the same 240 rows look like skill
    assert abs(ours["score"] - 0.5) < 0.08  # out of fold: chance, as it should be
    assert leaky - ours["score"] > 0.1


def test_a_rows_stack_prediction_never_depends_on_its_own_label() -> None:
    n = 200
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, n)
    oofs = noise_models(n, 5, 4)
    folds = make_folds(y, 4, 0, "stratified")
    base = stack(oofs, oofs, y, folds, log_loss, classification=True)
    flipped = y.copy()
    flipped[folds == 2] = 1 - flipped[folds == 2]  # change fold 2's labels only
    other = stack(oofs, oofs, flipped, folds, log_loss, classification=True)
    np.testing.assert_allclose(base["oof"][folds == 2], other["oof"][folds == 2])  # fold 2 predicted blind
    assert not np.allclose(base["oof"][folds != 2], other["oof"][folds != 2])  # the others did learn from fold 2
    assert not np.allclose(base["test"], other["test"])  # the final meta-model uses every OOF row


def test_the_nested_predictions_a_later_stage_fits_on_never_saw_the_held_fold() -> None:
    # what the decision threshold fits per fold: the rows the fold's meta-model was fitted on, and its predictions
    n = 200
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, n)
    oofs = noise_models(n, 5, 6)
    folds = make_folds(y, 4, 0, "stratified")
    base = stack(oofs, oofs, y, folds, log_loss, classification=True)
    flipped = y.copy()
    flipped[folds == 1] = 1 - flipped[folds == 1]
    other = stack(oofs, oofs, flipped, folds, log_loss, classification=True)
    for f, (part, part_other) in enumerate(zip(base["nested"], other["nested"], strict=True)):
        assert (part["held"] == np.flatnonzero(folds == f)).all() and (part["fit"] == np.flatnonzero(folds != f)).all()
        assert part["fit_pred"].shape == (len(part["fit"]), 2)
        np.testing.assert_allclose(part["fit_pred"].sum(axis=1), 1.0)
        if f == 1:  # fold 1's labels changed: its own meta-model, fitted on the other folds, did not see them
            np.testing.assert_allclose(part["fit_pred"], part_other["fit_pred"])
        else:
            assert not np.allclose(part["fit_pred"], part_other["fit_pred"])


def test_stack_recalibrates_what_a_weighted_average_cannot() -> None:
    # two informative but over-confident models: logistic regression on their logits fixes the calibration
    n = 600
    rng = np.random.default_rng(5)
    z = rng.normal(size=n)
    y = (z + rng.normal(0, 1, n) > 0).astype(int)
    oofs = {}
    for i in range(2):
        logit = 4 * (z + rng.normal(0, 0.5, n))
        p = 1 / (1 + np.exp(-logit))
        oofs[f"m{i}"] = np.column_stack([1 - p, p])
    folds = make_folds(y, 5, 0, "stratified")
    st = stack(oofs, oofs, y, folds, log_loss, classification=True)
    average = log_loss(y, (oofs["m0"] + oofs["m1"]) / 2)
    assert st["score"] < 0.85 * average


@pytest.mark.parametrize("method", ["linear", "log_linear"])
def test_regression_stack_is_non_negative_and_out_of_fold(method: str) -> None:
    n = 300
    rng = np.random.default_rng(6)
    truth = np.exp(rng.normal(11, 0.4, n))
    good = truth * np.exp(rng.normal(0, 0.1, n))
    anti = truth.max() + truth.min() - truth  # anti-correlated: a negative weight would exploit it; ours may not
    oofs = {"good": good.reshape(-1, 1), "anti": anti.reshape(-1, 1)}
    folds = make_folds(truth, 5, 0)
    st = stack(oofs, oofs, truth, folds, rmse, classification=False, method=method)
    assert st["oof"].shape == (n, 1) and np.isfinite(st["oof"]).all()
    assert st["score"] <= rmse(truth, good) * 1.02
    assert Metric("rmse", False).better(st["score"], rmse(truth, anti))


def test_off_or_single_fold_gives_no_stack() -> None:
    y = np.arange(10.0)
    oofs = {"a": y.reshape(-1, 1)}
    assert stack(oofs, oofs, y, np.zeros(10, dtype=int), rmse, False) is None
    assert stack(oofs, oofs, y, make_folds(y, 2, 0), rmse, False, method="off") is None


def test_the_meta_model_converges_quickly_on_a_rare_class_at_the_clip() -> None:
    """A class the boosters call impossible sits at log(EPS) in every model's logits; on those raw logits lbfgs needs
    hundreds of iterations (tens of seconds on Otto-sized data), on the standardised ones a few dozen."""
    rng = np.random.default_rng(0)
    n, k = 600, 5
    y = rng.integers(0, k - 1, n)
    y[:5] = k - 1
    preds = []
    for strength in (0.3, 0.5, 0.7):
        logits = rng.normal(size=(n, k)) + strength * np.eye(k)[y]
        logits[:, -1] -= 40
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        preds.append(p / p.sum(axis=1, keepdims=True))
    F = features(preds, True, "linear")
    ours = meta_classifier(0).fit(F, y)
    raw = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(F, y)
    assert ours[-1].n_iter_[0] < 60 < 200 < raw.n_iter_[0]
    assert log_loss(y, ours.predict_proba(F)) <= log_loss(y, raw.predict_proba(F)) + 0.01


def test_the_report_shows_the_blends_own_score_beside_the_stack(capsys: pytest.CaptureFixture) -> None:
    """summary.json's blend carries the last stage's score; the report's blend row must show the blend's own."""
    from pipeline.report import print_summary

    summary = {
        "metric": "rmse",
        "greater_is_better": False,
        "competition": "toy",
        "cv_rows": 10,
        "n_rows": 10,
        "models": {"a": {"mean": 1.0, "std": 0.1, "seconds": 0.1}, "b": {"mean": 1.1, "std": 0.1, "seconds": 0.1}},
        "blend": {
            "weights": {"a": 0.5, "b": 0.5},
            "score": 0.8449,
            "equal_score": 0.9832,
            "out_of_fold": True,
            "equal_weights": True,
            "fitted_score": 1.2183,
            "in_sample_score": 0.9832,
            "oof_scores": {"a": 1.05, "b": 1.2},
        },
        "stack": {"method": "linear", "score": 0.8449, "blend_score": 0.9832, "used": True},
        "cv": 0.8449,
        "seconds": 1.0,
        "published": "submission.csv",
        "run_dir": "runs/toy/x",
    }
    print_summary(summary)
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│")
    }
    assert rows["blend, equal weights (out of fold)"] == "0.98320"
    assert rows["a"] == "1.05000"  # each model's CV is scored on all its OOF rows, as the blend's is
    assert rows["stack (out of fold)"] == "0.84490"


def test_a_binary_stack_never_turns_a_model_upside_down() -> None:
    # a model whose out-of-fold probabilities are systematically wrong (below chance in every fold) was given a
    # negative weight by the logistic meta-model: noise targets read 0.60 AUC out of fold and 0.52 held out
    from sklearn.metrics import roc_auc_score

    from pipeline.stacking import stack

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    folds = np.arange(600) % 5
    flipped = 1 / (1 + np.exp(2 * (y - 0.5) + rng.normal(0, 1, 600)))  # high where y is 0
    noise = rng.uniform(0.2, 0.8, 600)
    oofs = {"flipped": np.c_[1 - flipped, flipped], "noise": np.c_[1 - noise, noise]}
    tests = {k: v[:10] for k, v in oofs.items()}
    auc = lambda t, p: float(roc_auc_score(t, p[:, 1]))  # noqa: E731
    out = stack(oofs, tests, y, folds, auc, classification=True)
    assert auc(y, oofs["flipped"]) < 0.3  # what a sign flip would have turned into AUC 0.7+
    assert out["score"] < 0.6
