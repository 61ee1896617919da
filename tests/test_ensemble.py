"""Blend weights: non-negative, summing to one, never worse than the best single model on OOF rows."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.blend import blend, fit_weights
from pipeline.contract import ContractError, Metric


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((p.reshape(-1) - y) ** 2)))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float((p.argmax(1) == y).mean())


def test_complementary_models_get_both_weights() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    a = (y + rng.normal(0, 0.5, 500)).reshape(-1, 1)
    b = (y + rng.normal(0, 0.5, 500)).reshape(-1, 1)
    bad = rng.normal(size=(500, 1))
    w = fit_weights({"a": a, "b": b, "bad": bad}, y, rmse, Metric("rmse", False))
    assert all(v >= 0 for v in w.values()) and abs(sum(w.values()) - 1) < 1e-9
    assert w["bad"] < 0.05 and 0.3 < w["a"] < 0.7
    blended = blend([a, b, bad], np.array([w["a"], w["b"], w["bad"]]))
    assert rmse(y, blended) < min(rmse(y, a), rmse(y, b))


def test_non_smooth_metric_never_worse_than_best_single() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[y] * 0.6 + rng.random((300, 3)) * 0.5
    noise = rng.random((300, 3))
    w = fit_weights({"good": good, "noise": noise}, y, accuracy, Metric("accuracy", True))
    blended = blend([good, noise], np.array([w["good"], w["noise"]]))
    assert accuracy(y, blended) >= accuracy(y, good)


def test_mask_restricts_rows() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    a = np.array([[0.0], [1.0], [9.0], [9.0]])
    b = np.array([[9.0], [9.0], [2.0], [3.0]])
    w = fit_weights({"a": a, "b": b}, y, rmse, Metric("rmse", False), mask=np.array([True, True, False, False]))
    assert w["a"] > 0.99


class Module:
    """The parts of a competition module the blend stage reads."""

    METRIC = Metric("rmse", False)
    score = staticmethod(rmse)


def noisy_models(n: int = 300, seed: int = 2) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    oofs = {k: (y + rng.normal(0, s, n)).reshape(-1, 1) for k, s in (("a", 0.5), ("b", 0.6), ("c", 1.5))}
    return y, oofs


def test_blend_cv_is_out_of_fold_weights_fitted_on_the_other_folds() -> None:
    from pipeline.finish import blend_results

    y, oofs = noisy_models()
    folds = np.arange(len(y)) % 4
    results = {k: {"oof": v, "test": v[:10]} for k, v in oofs.items()}
    b = blend_results(Module, y, folds, results)
    expected = np.zeros((len(y), 1))
    for f in range(4):
        w = fit_weights(oofs, y, rmse, Module.METRIC, folds != f)
        expected[folds == f] = blend([oofs[k][folds == f] for k in oofs], np.array([w[k] for k in oofs]))
    np.testing.assert_allclose(b["oof"], expected, rtol=1e-12)
    assert b["score"] == rmse(y, expected) and b["out_of_fold"]
    # in sample the weights see the rows they are scored on: optimistic, and never worse than the best model
    assert b["in_sample_score"] < b["score"] and b["in_sample_score"] <= b["best_single_score"] + 1e-12
    full = fit_weights(oofs, y, rmse, Module.METRIC)
    assert b["weights"] == full  # the submission's weights are fitted on every OOF row


def test_equal_weights_replace_fitted_ones_that_lose_out_of_fold() -> None:
    from types import SimpleNamespace

    from pipeline.finish import blend_results

    # model a is sharp on folds 0-3 and off by 4 on fold 4 (a line extrapolating on that fold's odd rows); the
    # weights fitted on folds 0-3 trust a, and fold 4's blend pays for it; equal weights lose less there
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    folds = np.arange(500) % 5
    oofs = {"a": y + rng.normal(0, 0.3, 500) + 4.0 * (folds == 4), "b": y + rng.normal(0, 0.8, 500)}
    results = {k: {"oof": v.reshape(-1, 1), "test": v[:10].reshape(-1, 1)} for k, v in oofs.items()}
    auto = blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="auto"))
    fitted = blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="fitted"))
    equal = (oofs["a"] + oofs["b"]).reshape(-1, 1) / 2
    assert fitted["score"] > rmse(y, equal)  # the fitted weights lose out of fold ...
    assert auto["equal_weights"] and auto["weights"] == {"a": 0.5, "b": 0.5}  # ... so auto keeps equal ones
    assert auto["score"] == rmse(y, equal) == auto["equal_score"] and auto["fitted_score"] == fitted["score"]
    np.testing.assert_allclose(auto["test"], (oofs["a"][:10] + oofs["b"][:10]).reshape(-1, 1) / 2)
    # the stages after the blend (stack, threshold, calibration) refit on each group's blend: equal weights' rows
    for part in auto["nested"]:
        np.testing.assert_allclose(part["fit_pred"], equal[part["fit"]])
    assert "equal_weights" not in fitted and fitted["nested"][4]["weights"]["a"] > 0.6  # fold 4's, from folds 0-3
    # where the fitted weights win out of fold (the test above), auto keeps them
    y2, oofs2 = noisy_models()
    kept = blend_results(Module, y2, np.arange(len(y2)) % 4, {k: {"oof": v, "test": v} for k, v in oofs2.items()})
    assert "equal_weights" not in kept and kept["score"] < kept["equal_score"]
    forced = blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="equal"))
    assert forced["equal_weights"] and forced["score"] == auto["score"]
    with pytest.raises(ContractError, match="blend_weights must be one of auto, fitted, greedy, equal, got 'best'"):
        blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="best"))


def test_greedy_weights_are_ensemble_selection_alone_fitted_out_of_fold() -> None:
    from types import SimpleNamespace

    from pipeline.finish import blend_results

    y, oofs = noisy_models()
    oofs["weak"] = (y + np.random.default_rng(5).normal(0, 3.0, len(y))).reshape(-1, 1)
    folds = np.arange(len(y)) % 4
    results = {k: {"oof": v, "test": v[:10]} for k, v in oofs.items()}
    greedy = blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="greedy"))
    fitted = blend_results(Module, y, folds, results, SimpleNamespace(blend_weights="fitted"))
    w = greedy["weights"]
    assert w == fit_weights(oofs, y, rmse, Module.METRIC, greedy=True) and w["weak"] == 0.0
    picks = 1 / min(v for v in w.values() if v > 0)  # counts of picks with replacement: weights are k / picks
    assert all(abs(v * picks - round(v * picks)) < 1e-9 for v in w.values())
    assert w != fitted["weights"] and "equal_weights" not in greedy  # the option took effect
    expected = np.zeros((len(y), 1))  # its score out of fold: each fold blended by a selection on the other folds
    for f in range(4):
        wf = fit_weights(oofs, y, rmse, Module.METRIC, folds != f, greedy=True)
        expected[folds == f] = blend([oofs[k][folds == f] for k in oofs], np.array([wf[k] for k in oofs]))
    np.testing.assert_allclose(greedy["oof"], expected, rtol=1e-12)
    assert greedy["score"] == rmse(y, expected)


def test_a_single_holdout_is_split_for_the_out_of_fold_blend() -> None:
    from pipeline.blend import nesting_groups
    from pipeline.finish import blend_results

    y, oofs = noisy_models()
    folds = np.where(np.arange(len(y)) < 200, -1, 0)  # 200 training-only rows, 100 holdout rows
    groups = nesting_groups(folds)
    assert (groups[:200] == -1).all() and sorted(np.bincount(groups[200:]).tolist()) == [20] * 5
    b = blend_results(Module, y, folds, {k: {"oof": v, "test": v[:10]} for k, v in oofs.items()})
    rows = folds == 0
    assert b["out_of_fold"] and b["score"] == rmse(y[rows], b["oof"][rows]) and b["in_sample_score"] < b["score"]


def test_roc_auc_from_ranks_equals_scikit_learns_ties_included() -> None:
    from sklearn.metrics import roc_auc_score

    from pipeline.tabular.metrics import roc_auc

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    s = np.round(rng.random(5000) + 0.3 * y, 2)  # many ties
    assert roc_auc(y, np.column_stack([1 - s, s])) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError, match="Only one class"):
        roc_auc(np.zeros(10, dtype=int), np.column_stack([1 - s[:10], s[:10]]))


def test_blend_weights_of_a_rank_metric_are_searched_finely() -> None:
    """roc_auc barely moves for scipy's default gradient step: SLSQP alone stayed at equal weights and the blend fell
    back on the greedy search's coarse sevenths. The blend must find the finer weighting, on a row sample."""
    from pipeline.blend import _greedy, _loss, fit_rows
    from pipeline.tabular.metrics import roc_auc

    rng = np.random.default_rng(0)
    n = 60_000
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)
    oofs = {}
    for i, strength in enumerate((0.6, 0.75, 0.9, 1.05)):
        p = 1 / (1 + np.exp(-(0.6 * shared + rng.normal(size=n) + strength * (2 * y - 1))))
        oofs[f"m{i}"] = np.column_stack([1 - p, p])
    metric = Metric("roc_auc", True)
    w = fit_weights(oofs, y, roc_auc, metric, limit=20_000)
    rows = fit_rows(np.ones(n, dtype=bool), 20_000)
    coarse = _greedy(_loss(roc_auc, metric, y[rows], [o[rows] for o in oofs.values()]), len(oofs))
    ours = roc_auc(y, sum(w[k] * oofs[k] for k in oofs))
    assert ours > roc_auc(y, sum(c * o for c, o in zip(coarse, oofs.values(), strict=True))) + 0.0005
    assert w["m3"] > w["m2"] > w["m1"] > w["m0"] > 0


def test_blend_weights_are_fitted_on_at_most_fit_rows_and_scored_on_every_row() -> None:
    from pipeline.blend import FIT_ROWS
    from pipeline.finish import blend_results

    rng = np.random.default_rng(0)
    n = FIT_ROWS + 30_000
    y = rng.normal(size=n)
    results = {
        m: {"oof": (y + rng.normal(size=n) * s)[:, None], "test": np.zeros((5, 1))} for m, s in (("a", 1), ("b", 2))
    }
    sizes: list[int] = []

    class Module:
        METRIC = Metric("rmse", False)

        @staticmethod
        def score(t: np.ndarray, p: np.ndarray) -> float:
            sizes.append(len(t))
            return float(np.sqrt(np.mean((np.ravel(t) - np.ravel(p)) ** 2)))

    folds = np.arange(n) % 5
    b = blend_results(Module, y, folds, results)
    assert max(s for s in sizes if s < n) == FIT_ROWS and n in sizes  # fits on a sample, the blend scored on all
    assert b["weights"]["a"] > b["weights"]["b"] > 0


def test_the_weight_search_scores_only_probabilities() -> None:
    """Each candidate is scored at weights summing to 1, so a probability metric never sees rows summing to 1.001
    (scikit-learn's log_loss warned at every finite-difference step of SLSQP)."""
    import warnings

    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    oofs = {}
    for m in range(3):
        p = rng.dirichlet(np.ones(3), 600) + np.eye(3)[y] * (m + 1)
        oofs[f"m{m}"] = p / p.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = fit_weights(oofs, y, lambda t, p: log_loss(t, p, labels=[0, 1, 2]), Metric("log_loss", False))
    assert w["m2"] > w["m0"]
