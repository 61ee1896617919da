"""A cut per label for tags scored by an F-score (Config.threshold "per_tag"): what Planet's winners fitted, where
one cut for every label (pipeline/multilabel.py) is the default.

The search starts from the one cut and moves one label's cut at a time to the best of that label's candidates
(pipeline.cutpoints.candidates: quantiles of its probabilities, 0.5 and its current cut, so no step scores worse),
the others held, for at most PASSES passes over the labels; on at most blend.FIT_ROWS rows, a seeded sample. Each
candidate of a label is scored at once from the row and label counts (`_column_scores`), exactly what
multilabel.f_score gives the probabilities `shift_tags` makes of those cuts.

Honest CV, as every cut (pipeline/cutpoints.py): each fold's rows are cut at cuts fitted on the other folds' rows,
and the cuts are applied only when that out-of-fold score beats the answer before them, the one cut's (or 0.5's,
when the one cut was not applied). threshold.json keeps the one cut's record and this one's under "per_tag";
stages.json the cuts applied, for `predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import multilabel
from pipeline.cutpoints import apply_out_of_fold, candidates

PASSES = 3  # at most this many passes over the labels, fewer when one moves no cut


def _logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of probabilities clipped to [EPS, 1 - EPS]."""
    p = np.clip(np.asarray(p, dtype=float), multilabel.EPS, 1 - multilabel.EPS)
    return np.log(p / (1 - p))


def shift_tags(pred: np.ndarray, cuts: Any) -> np.ndarray:
    """The probabilities moved so that each label's is above 0.5 exactly where it was above that label's cut (each
    column's logits shifted by the logit of its cut). A row with none above its cut is shifted by the largest cut
    instead, so its likeliest label stays its likeliest, which `multilabel.named` gives it, and none reaches above
    0.5. With every cut equal this is `multilabel.shift`."""
    cuts = np.asarray(cuts, dtype=float)
    logit = _logit(pred)
    moved = logit - np.log(cuts / (1 - cuts))
    above = moved > 0
    empty = ~above.any(axis=1)
    top = cuts.max()
    moved[empty] = np.minimum(logit[empty] - np.log(top / (1 - top)), 0.0)
    out = 1.0 / (1.0 + np.exp(-moved))
    # a shift within rounding of 0 is 0.5 after the sigmoid: kept on its side of the cut
    return np.where(above, np.maximum(out, np.nextafter(0.5, 1.0)), np.minimum(out, 0.5))


def _f(b2: float, tp: np.ndarray, wanted: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The F-beta of counts, elementwise; 1 where nothing was wanted or given (as multilabel.f_score)."""
    denom = b2 * wanted + given
    return np.where(denom > 0, (1 + b2) * tp / np.maximum(denom, 1e-12), 1.0)


def _column_scores(
    metric: str, truth: np.ndarray, named: np.ndarray, j: int, logit_j: np.ndarray, cuts: np.ndarray, likeliest: Any
) -> np.ndarray:
    """`metric`'s F-score (multilabel.TAG_METRICS) with label j cut at each of `cuts` and the other labels named as
    `named` (rows x labels of bools) names them: a row naming none names its `likeliest` label."""
    beta, average = multilabel.TAG_METRICS[metric]
    b2 = beta * beta
    rows = np.arange(len(truth))
    others = named.copy()
    others[:, j] = False
    g = (logit_j[:, None] - np.log(cuts / (1 - cuts))[None, :]) > 0  # rows x cuts: label j named
    empty = ~others.any(axis=1)[:, None] & ~g
    hit = truth[:, j : j + 1]
    if average == "samples":
        given = np.where(empty, 1, others.sum(axis=1)[:, None] + g)
        tp = np.where(empty, truth[rows, likeliest][:, None], (others & truth).sum(axis=1)[:, None] + (g & hit))
        return _f(b2, tp, truth.sum(axis=1)[:, None], given).mean(axis=0)
    hot = np.zeros(truth.shape, dtype=float)
    hot[rows, likeliest] = 1.0  # the label each row names when it names none
    e = empty.astype(float)
    given = others.sum(axis=0)[:, None] + hot.T @ e  # labels x cuts
    tp = (others & truth).sum(axis=0)[:, None] + (hot * truth).T @ e
    given[j] += g.sum(axis=0)
    tp[j] += (g & hit).sum(axis=0)
    wanted = truth.sum(axis=0)[:, None].astype(float)
    if average == "micro":
        return _f(b2, tp.sum(axis=0), wanted.sum(), given.sum(axis=0))
    return _f(b2, tp, wanted, given).mean(axis=0)


def fit_tag_cuts(pred: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """A cut per label that scores best by `metric` (multilabel.TAG_METRICS) on these rows: from the one cut, each
    label's cut in turn the best of its candidates (the one nearest 0.5 among ties), the others held; PASSES passes
    at most."""
    p, y = multilabel.sampled(pred, y)
    truth, logit = np.asarray(y) > 0.5, _logit(p)
    likeliest = logit.argmax(axis=1)
    one = multilabel.fit_cut(p, y, lambda a, b: multilabel.f_score(metric, a, b))
    cuts = np.full(p.shape[1], one)
    for _ in range(PASSES):
        before = cuts.copy()
        for j in range(p.shape[1]):
            named = logit - np.log(cuts / (1 - cuts)) > 0
            tried = candidates(p[:, j], multilabel.BOUNDS, multilabel.GRID, also=(float(cuts[j]),))
            scores = _column_scores(metric, truth, named, j, logit[:, j], tried, likeliest)
            cuts[j] = tried[int(np.argmax(scores))]
        if np.array_equal(cuts, before):
            break
    return cuts


def apply(
    module: Any, b: dict[str, Any], one: dict[str, Any], y: np.ndarray, folds: np.ndarray, run_dir: Any, log: Any
) -> dict[str, Any]:
    """`b` (the blend's or stack's) with each label's probability moved by its own cut when that beats `one` (`b`
    after the one cut's stage: cut, or at 0.5) out of fold; else `one`. threshold.json: the one cut's record, this
    stage's under "per_tag"."""
    first = one.get("threshold") or {}
    out = apply_out_of_fold(
        module,
        b | {"score": one["score"]},
        y,
        folds,
        run_dir,
        log,
        fit=lambda pred, y_fit: fit_tag_cuts(pred, y_fit, module.METRIC.name),
        transform=shift_tags,
        describe=lambda cuts: ({"thresholds": [float(c) for c in cuts]}, "per-tag thresholds"),
        fold_key="fold_thresholds",
        baseline="with one cut" if first.get("applied") else "at 0.5",
        kind="tag_thresholds",
        record=lambda info: first | {"per_tag": info},
    )
    return out if out["threshold"]["per_tag"]["applied"] else one | {"threshold": out["threshold"]}
