"""A decision threshold for a binary target scored on labels by F1, MCC or balanced accuracy, fitted on out-of-fold
probabilities; and the same shift of the probabilities for balanced log loss.

Kaggle scores the labels a submission holds, and a label is class 1 where its probability is above 0.5. For these
metrics that cut is rarely the best one (F1 on a rare class wants it lower, balanced accuracy near the class's share).
The threshold t that maximises the metric on the OOF rows is applied as a shift of the logits,
p -> sigmoid(logit(p) - logit(t)): the label is 1 exactly where p > t, ranks are kept and the outputs stay
probabilities. Accuracy keeps 0.5, the best cut for probabilities that are calibrated, which the blend's and stack's
are close to.

Balanced log loss scores the probabilities themselves, each class's rows weighted alike. For probabilities calibrated
to the training rows' class shares the best answer reweighs each class by the inverse of its share, and that is the
same shift with t at the positive class's share: sigmoid(logit(p) - logit(share)). It is fitted, like a cut, as the t
that scores best out of fold.

Honest CV: the threshold is applied only when it improves the out-of-fold score, computed with each fold's rows cut
at a threshold fitted on the other folds' rows (the blend's or the stack's nested predictions, which never saw the
fold's labels). The test predictions are cut at the threshold fitted on all OOF rows.

Several classes scored by balanced accuracy or balanced log loss get the same correction with one weight per class:
each class's probability divided by its share of the training rows, the rows rescaled to 1 (the argmax of p_c /
share_c is what balanced accuracy rewards, and those probabilities are what balanced log loss does for calibrated
p). The shares are fitted on the other folds' rows and applied by the same rules.

A target of ordered grades scored by QWK gets cut points instead, by the same rules (pipeline/grades.py); several
labels a row scored by an F-score on the labels named (pipeline/multilabel.py) one cut for every label, and with
Config.threshold "per_tag" a cut per label, kept when it beats the one cut out of fold (pipeline/tag_cuts.py). The
boxes of a detection run scored by Kaggle's IoU metric get their confidence cut by the same rules with
Config.fit_min_score (pipeline/detection/box_cut.py), and the masks of a segmentation run scored by mean Dice their
threshold and minimum area per class with Config.fit_mask_cut (pipeline/segmentation/mask_cut.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline import grades, multilabel, tag_cuts
from pipeline.blend import fit_rows
from pipeline.contract import PER_TAG, ContractError
from pipeline.cutpoints import apply_out_of_fold, best_cut

# label metrics whose best cut moves with the class balance, and balanced log loss, whose best shift is the balance
METRICS = ("f1", "mcc", "balanced_accuracy", "balanced_log_loss")
PRIOR_METRICS = ("balanced_accuracy", "balanced_log_loss")  # several classes: each reweighed by 1 / its share
GRID = 99  # candidate thresholds: this many quantiles of the OOF probabilities, and 0.5
EPS = 1e-6


def shift(pred: np.ndarray, t: float) -> np.ndarray:
    """Two-column class probabilities whose class-1 column is above 0.5 exactly where it was above t."""
    p = np.clip(np.asarray(pred, dtype=float)[:, 1], EPS, 1 - EPS)
    logit = np.log(p / (1 - p)) - np.log(t / (1 - t))
    p1 = 1.0 / (1.0 + np.exp(-logit))
    return np.column_stack([1 - p1, p1])


def fit_threshold(pred: np.ndarray, y: np.ndarray, score: Any, greater_is_better: bool = True) -> float:
    """The cut of the class-1 probability that scores best on these rows (the one nearest 0.5 among ties); searched
    on at most FIT_ROWS of them, a seeded sample, as the blend's weights are."""
    rows = fit_rows(np.ones(len(y), dtype=bool))
    pred, y = np.asarray(pred, dtype=float)[rows], np.asarray(y)[rows]
    sign = 1.0 if greater_is_better else -1.0
    return best_cut(pred[:, 1], lambda t: sign * float(score(y, shift(pred, t))), (EPS, 1 - EPS), GRID)


def check_setting(cfg: Any, metric: str) -> None:
    """Refuse a Config.threshold other than True, False or "per_tag", "per_tag" for a metric that scores no tags
    (multilabel.TAG_METRICS), Config.fit_min_score for a metric other than Kaggle's IoU metric and Config.fit_mask_cut
    for one other than a segmentation run's mean Dice: found only after the models, it cost the whole run."""
    if getattr(cfg, "fit_min_score", False):
        from pipeline.detection.box_cut import thresholds_of

        thresholds_of(metric)  # refused for a metric other than Kaggle's IoU metric
    if getattr(cfg, "fit_mask_cut", False):
        from pipeline.segmentation.mask_cut import check_metric

        check_metric(metric)  # refused for a competition that is not segmentation
    value = getattr(cfg, "threshold", False)
    if isinstance(value, bool):
        return
    if value != PER_TAG:
        raise ContractError(f'Config.threshold must be true, false or "{PER_TAG}", got {value!r}.')
    if metric not in multilabel.TAG_METRICS:
        raise ContractError(
            f'Config.threshold "{PER_TAG}" fits a cut per tag, for tags scored by '
            f"{', '.join(multilabel.TAG_METRICS)}; this competition's metric is {metric}: set it true or false."
        )


def apply(
    module: Any,
    cfg: Any,
    data: Any,
    y: np.ndarray,
    folds: np.ndarray,
    b: dict[str, Any],
    run_dir: Any,
    log: Any,
    results: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The runner's hook after the stack: `b` with its predictions cut at the fitted threshold when Config.threshold
    is on, the target binary, the metric one of METRICS and the out-of-fold score improves (several classes and a
    metric of PRIOR_METRICS: reweighed by the inverse class shares, by the same rules); threshold.json records it.
    With Config.fit_min_score, the boxes of a detection run (`results`: the models' boxes before any cut) cut at
    the confidence fitted out of fold (pipeline/detection/box_cut.py); with Config.fit_mask_cut, the probabilities of a
    segmentation run cut at the threshold and minimum area per class fitted out of fold
    (pipeline/segmentation/mask_cut.py)."""
    if getattr(cfg, "fit_min_score", False):
        from pipeline.detection import box_cut

        if results is None:
            raise ValueError("threshold.apply: Config.fit_min_score cuts the models' boxes, which `results` holds.")
        return box_cut.apply(module, cfg, y, folds, b, results, run_dir, log)
    if getattr(cfg, "fit_mask_cut", False):
        from pipeline.segmentation import mask_cut

        return mask_cut.apply(module, cfg, y, folds, b, run_dir, log)
    if getattr(cfg, "threshold", False) and module.METRIC.name in grades.METRICS:
        return grades.apply(module, cfg, data, y, folds, b, run_dir, log)  # grades of a QWK target: its cut points
    if getattr(cfg, "threshold", False) and module.METRIC.name in multilabel.TAG_METRICS:
        one = _label_cut(module, b, np.asarray(y), folds, run_dir, log)
        if cfg.threshold == PER_TAG:  # a cut per tag, kept when it beats the one cut out of fold
            return tag_cuts.apply(module, b, one, np.asarray(y), folds, run_dir, log)
        return one
    classes = getattr(data, "classes", None)
    if not getattr(cfg, "threshold", False) or module.METRIC.name not in METRICS or classes is None:
        return b
    oof = np.asarray(b["oof"], dtype=float)
    if len(classes) > 2 and module.METRIC.name in PRIOR_METRICS and oof.ndim == 2 and oof.shape[1] == len(classes):
        return _prior_correction(module, b, np.asarray(y), folds, run_dir, log)
    if len(classes) != 2 or oof.ndim != 2 or oof.shape[1] != 2:
        return b
    better = module.METRIC.greater_is_better
    return apply_out_of_fold(
        module,
        b,
        np.asarray(y),
        folds,
        run_dir,
        log,
        fit=lambda pred, y_fit: fit_threshold(pred, y_fit, module.score, better),
        transform=shift,
        describe=lambda t: ({"threshold": t}, f"threshold {t:.3f}"),
        fold_key="fold_thresholds",
        baseline="at 0.5",
        kind="threshold",
    )


def class_shares(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each class's share of the rows y labels (pred's columns are the classes), at least half a row's: a class a
    fold never saw is not divided by 0."""
    counts = np.bincount(np.asarray(y).astype(int), minlength=np.asarray(pred).shape[1]).astype(float)
    return np.maximum(counts, 0.5) / max(1, len(y))


def reweigh(pred: np.ndarray, shares: Any) -> np.ndarray:
    """Class probabilities each divided by the class's share, the rows rescaled to sum to 1."""
    p = np.asarray(pred, dtype=float) / np.asarray(shares, dtype=float)
    return p / p.sum(axis=1, keepdims=True)


def _prior_correction(
    module: Any, b: dict[str, Any], y: np.ndarray, folds: np.ndarray, run_dir: Any, log: Any
) -> dict[str, Any]:
    """`b` with its probabilities reweighed by the inverse class shares, when that improves the out-of-fold score
    (the shares of each fold's rows fitted on the other folds')."""
    return apply_out_of_fold(
        module,
        b,
        y,
        folds,
        run_dir,
        log,
        fit=class_shares,
        transform=reweigh,
        describe=lambda shares: ({"shares": [float(s) for s in shares]}, "prior correction"),
        fold_key="fold_shares",
        baseline="as blended",
        kind="prior",
    )


def _label_cut(
    module: Any, b: dict[str, Any], y: np.ndarray, folds: np.ndarray, run_dir: Any, log: Any
) -> dict[str, Any]:
    """`b` with every label's probability moved by one cut (pipeline/multilabel.py), when that improves the
    out-of-fold F-score (each fold's rows cut at a cut fitted on the other folds')."""
    better = module.METRIC.greater_is_better
    return apply_out_of_fold(
        module,
        b,
        y,
        folds,
        run_dir,
        log,
        fit=lambda pred, y_fit: multilabel.fit_cut(pred, y_fit, module.score, better),
        transform=multilabel.shift,
        describe=lambda t: ({"threshold": t}, f"label threshold {t:.3f}"),
        fold_key="fold_thresholds",
        baseline="at 0.5",
        kind="label_threshold",
    )


def apply_saved(saved: dict[str, Any], test: np.ndarray) -> np.ndarray:
    """A cut the run applied (stages.json's "threshold": an F1/MCC threshold, QWK's grade cut points, the tags' one
    cut or cut per tag, a detection run's confidence cut, a segmentation run's mask cut) applied to new test
    predictions, as the run applied it to its own."""
    test = np.asarray(test, dtype=float)
    if saved["kind"] == "cuts":
        return grades.cut(test, np.asarray(saved["cuts"], dtype=float), np.asarray(saved["grades"], dtype=float))
    if saved["kind"] == "threshold":
        return shift(test, float(saved["threshold"]))
    if saved["kind"] == "label_threshold":
        return multilabel.shift(test, float(saved["threshold"]))
    if saved["kind"] == "tag_thresholds":
        return tag_cuts.shift_tags(test, saved["thresholds"])
    if saved["kind"] == "prior":
        return reweigh(test, saved["shares"])
    if saved["kind"] == "box_cut":
        from pipeline.detection.box_cut import apply_saved as cut_boxes

        return cut_boxes(saved, test)
    if saved["kind"] == "mask_cut":
        from pipeline.segmentation.mask_cut import apply_saved as cut_masks

        return cut_masks(saved, test)
    raise ValueError(f"unknown cut {saved['kind']!r} in stages.json")
