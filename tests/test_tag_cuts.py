"""A cut per tag (Config.threshold "per_tag", pipeline/tag_cuts.py): it names what its cuts cut and a row's likeliest
tag when none is above its cut, its search scores candidates as multilabel.f_score does, it is fitted and scored out
of fold (noise tags fool the in-sample fit, not it), kept only when it beats the one cut, and `predict` applies the
cuts stages.json saved as the run did."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline import multilabel, tag_cuts, threshold
from pipeline.contract import ContractError, Metric
from pipeline.cutpoints import candidates
from pipeline.finish import check_settings


def tags(n: int, shares: tuple[float, ...], seed: int, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows x tags of 0/1, each tag in about its share of the rows, and probabilities carrying `signal` about them,
    centred on each tag's share."""
    rng = np.random.default_rng(seed)
    share = np.asarray(shares)
    y = (rng.random((n, len(share))) < share).astype(int)
    logit = signal * (2 * y - 1) + rng.normal(0, 1, y.shape) + np.log(share / (1 - share))
    return 1 / (1 + np.exp(-logit)), y


def run_apply(pred: np.ndarray, y: np.ndarray, tmp_path: Path, setting: object = "per_tag") -> dict:
    """threshold.apply as the runner calls it for tags scored by mean F2, on 5 folds with their nested predictions."""
    folds = np.arange(len(y)) % 5
    nested = [
        {"held": np.flatnonzero(folds == f), "fit": np.flatnonzero(folds != f), "fit_pred": pred[folds != f]}
        for f in range(5)
    ]
    module = SimpleNamespace(
        METRIC=Metric("f2_samples", True), score=lambda a, b: multilabel.f_score("f2_samples", a, b)
    )
    b = {"oof": pred, "test": pred[:50], "score": multilabel.f_score("f2_samples", y, pred), "nested": nested}
    cfg, data = SimpleNamespace(threshold=setting), SimpleNamespace(classes=None)
    return threshold.apply(module, cfg, data, y, folds, b, tmp_path, lambda *_: None)


def test_the_shift_names_what_each_cut_cuts_and_else_the_likeliest_tag() -> None:
    pred, _ = tags(400, (0.1, 0.3, 0.6), 0)
    cuts = np.array([0.2, 0.45, 0.7])
    named = multilabel.named(tag_cuts.shift_tags(pred, cuts))
    above = pred > cuts
    assert (named[above.any(axis=1)] == above[above.any(axis=1)]).all()
    empty = ~above.any(axis=1)
    assert empty.sum() > 20  # rows with no tag above its cut name their likeliest tag, by probability
    assert (named[empty].argmax(axis=1) == pred[empty].argmax(axis=1)).all() and (named[empty].sum(axis=1) == 1).all()
    # every cut equal: the one cut's shift, exactly
    assert np.array_equal(tag_cuts.shift_tags(pred, np.full(3, 0.3)), multilabel.shift(pred, 0.3))


@pytest.mark.parametrize("metric", list(multilabel.TAG_METRICS))
def test_the_search_scores_each_candidate_as_f_score_does(metric: str) -> None:
    pred, y = tags(600, (0.05, 0.2, 0.5, 0.8), 1)
    cuts = np.array([0.1, 0.3, 0.5, 0.6])
    logit = np.log(pred / (1 - pred))
    named = logit - np.log(cuts / (1 - cuts)) > 0
    for j in range(4):
        tried = candidates(pred[:, j], multilabel.BOUNDS, multilabel.GRID)
        fast = tag_cuts._column_scores(metric, y > 0.5, named, j, logit[:, j], tried, logit.argmax(axis=1))
        slow = [
            multilabel.f_score(metric, y, tag_cuts.shift_tags(pred, np.where(np.arange(4) == j, t, cuts)))
            for t in tried
        ]
        assert fast == pytest.approx(slow, abs=1e-12)


def test_tags_of_different_shares_get_their_own_cuts_applied_out_of_fold(tmp_path: Path) -> None:
    pred, y = tags(2000, (0.05, 0.1, 0.3, 0.5, 0.7, 0.2), 0)
    out = run_apply(pred, y, tmp_path)
    one, per_tag = out["threshold"], out["threshold"]["per_tag"]
    assert one["applied"] and per_tag["score_before"] == one["score_after"]  # it had to beat the one cut
    assert per_tag["applied"] and out["score"] == per_tag["score_after"] > one["score_after"]
    assert len({tuple(c) for c in per_tag["fold_thresholds"]}) == 5  # each fold cut at cuts fitted on the others
    assert len(set(per_tag["thresholds"])) == 6
    assert json.loads((tmp_path / "threshold.json").read_text()) == out["threshold"]
    # predict: stages.json's cuts, applied to the test predictions alone, give the run's own
    saved = json.loads(json.dumps(out["stages"]["threshold"]))
    assert saved["kind"] == "tag_thresholds"
    assert np.array_equal(threshold.apply_saved(saved, pred[:50]), out["test"])
    # Config.threshold True: the one cut alone, as before
    alone = run_apply(pred, y, tmp_path, True)
    assert "per_tag" not in alone["threshold"] and alone["stages"]["threshold"]["kind"] == "label_threshold"


def test_on_noise_the_per_tag_cuts_are_not_fooled(tmp_path: Path) -> None:
    # tags alike (one share, one signal): a cut per tag fitted on the rows it scores beats the one cut there by luck;
    # fitted out of fold it does not on average (a leaky version, each fold cut at the cuts fitted on all rows,
    # would read as the in-sample gain), and it is seldom kept
    in_sample, out_of_fold, kept = [], [], 0
    for seed in range(6):
        pred, y = tags(400, (0.3,) * 8, seed)
        f2 = lambda a, b: multilabel.f_score("f2_samples", a, b)  # noqa: E731
        one = multilabel.shift(pred, multilabel.fit_cut(pred, y, f2))
        each = tag_cuts.shift_tags(pred, tag_cuts.fit_tag_cuts(pred, y, "f2_samples"))
        in_sample.append(f2(y, each) - f2(y, one))
        info = run_apply(pred, y, tmp_path)["threshold"]["per_tag"]
        out_of_fold.append(info["score_after"] - info["score_before"])
        kept += info["applied"]
    assert np.mean(in_sample) > 0.005 and np.mean(out_of_fold) < 0 < np.mean(in_sample) - 0.008
    assert kept <= 2


def test_bad_settings_are_refused_naming_the_field() -> None:
    for value in (True, False, "per_tag"):
        check_settings(SimpleNamespace(threshold=value), "f2_samples")
    with pytest.raises(ContractError, match=r"Config.threshold must be true, false or \"per_tag\", got 'per-tag'"):
        check_settings(SimpleNamespace(threshold="per-tag"), "f2_samples")
    with pytest.raises(ContractError, match=r"Config.threshold \"per_tag\" .* this competition's metric is f1"):
        check_settings(SimpleNamespace(threshold="per_tag"), "f1")
