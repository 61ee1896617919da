"""The metrics `new --metric` accepts, each computed as Kaggle computes it from the runner's prediction arrays.

Predictions are rows x outputs: one column of values for regression, one probability column per class for
classification (class indices 0..K-1 in y). Label metrics (accuracy, f1, mcc, balanced_accuracy) score the arg-max
class; map@K the K likeliest classes, which a ranked submission names space-separated ("Urea DAP 28-28" for map@3).
qwk scores ordered integer grades fitted as a regression: each value rounded to the nearest grade, or cut where
pipeline/grades.py fitted the cuts out of fold.

Several targets (y rows x k): predictions are rows x k (values, or each target's positive-class probability), and
the SEVERAL metrics are averaged over the target columns, as Kaggle's "mean column-wise" metrics are
(MCRMSE is rmse, mean column-wise ROC AUC is roc_auc). The label metrics among them (accuracy, f1) score each
column's label, 1 where its probability is above 0.5, as they do for one binary target.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from pipeline.grades import grades_of, nearest, quadratic_kappa

TASKS = ("regression", "binary", "multiclass")
EPS = 1e-15


@dataclass(frozen=True)
class TabularMetric:
    """A named metric: direction, the tasks it applies to, what the submission holds, and how it is computed."""

    name: str
    greater_is_better: bool
    tasks: tuple[str, ...]
    submission: str  # "values", "labels", "probabilities" or "ranked" (the likeliest classes, space-separated)
    fn: Callable[[np.ndarray, np.ndarray], float]
    about: str


def _values(pred: np.ndarray) -> np.ndarray:
    return np.asarray(pred, dtype=float).reshape(len(pred), -1)[:, 0]


def _proba(pred: np.ndarray) -> np.ndarray:
    p = np.asarray(pred, dtype=float)
    return p.reshape(-1, 1) if p.ndim == 1 else p


def labels(pred: np.ndarray) -> np.ndarray:
    """Class indices the label metrics score: 1 where a single probability column is above 0.5, else the argmax. The
    submission writer uses the same rule, so a submitted label is the one the CV scored."""
    p = _proba(pred)
    return (p[:, 0] > 0.5).astype(int) if p.shape[1] == 1 else p.argmax(axis=1)


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y).astype(int) == labels(pred)))


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of 0/1 labels, from the ranks of the scores (ties share their mean rank): the Mann-Whitney statistic,
    equal to scikit-learn's roc_auc_score and 3 times faster, which counts in a blend search that scores hundreds
    of candidates."""
    pos = np.asarray(y) == 1
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    ranks = rankdata(np.asarray(score, dtype=float))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, pred: np.ndarray) -> float:
    p = _proba(pred)
    y = np.asarray(y).astype(int)
    if p.shape[1] <= 2:
        if not np.isin(y, (0, 1)).all():
            return float(skm.roc_auc_score(y, p[:, -1]))  # its own message for labels other than 0/1
        return binary_auc(y, p[:, -1])
    p = np.clip(p, EPS, None)
    return float(skm.roc_auc_score(y, p / p.sum(axis=1, keepdims=True), multi_class="ovr", labels=range(p.shape[1])))


def gini(y: np.ndarray, pred: np.ndarray) -> float:
    """Normalized Gini coefficient, 2 x ROC AUC - 1 (Porto Seguro's metric): the same ranking of the rows scored from
    -1 to 1 (one-vs-rest macro for several classes, as roc_auc)."""
    return 2.0 * roc_auc(y, pred) - 1.0


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in y, as scikit-learn computes it: each class counts alike, however
    rare."""
    return float(skm.balanced_accuracy_score(np.asarray(y).astype(int), labels(pred)))


def _row_probabilities(pred: np.ndarray) -> np.ndarray:
    """Class probabilities as Kaggle's log losses read them: a single column is class 1's, each value clipped to
    [EPS, 1 - EPS], then each row rescaled to sum to 1."""
    p = _proba(pred)
    if p.shape[1] == 1:
        p = np.hstack([1 - p, p])
    p = np.clip(p, EPS, 1 - EPS)
    return p / p.sum(axis=1, keepdims=True)


def log_loss(y: np.ndarray, pred: np.ndarray) -> float:
    p, y = _row_probabilities(pred), np.asarray(y).astype(int)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def balanced_log_loss(y: np.ndarray, pred: np.ndarray) -> float:
    """Log loss with every class weighted alike, however rare (ICR's metric): the mean over the classes present in
    y of their own rows' mean log loss."""
    p, y = _row_probabilities(pred), np.asarray(y).astype(int)
    return float(np.mean([-np.mean(np.log(p[y == c, c])) for c in np.unique(y)]))


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((_values(pred) - np.asarray(y, dtype=float)) ** 2)))


def rmsle(y: np.ndarray, pred: np.ndarray) -> float:
    """RMSE of log(1 + x). A negative target has no such logarithm on Kaggle either: refused, naming the fix."""
    if (low := float(np.nanmin(np.asarray(y, dtype=float)))) < 0:
        raise ValueError(f"rmsle scores log(1 + target), but a target is negative ({low:g}); use the rmse metric.")
    p = np.log1p(np.clip(_values(pred), 0, None))  # Kaggle's rmsle refuses negatives; a clipped prediction is 0
    return float(np.sqrt(np.mean((p - np.log1p(np.asarray(y, dtype=float))) ** 2)))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(_values(pred) - np.asarray(y, dtype=float))))


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, as scikit-learn computes it (a true 0 is divided by machine epsilon)."""
    return float(skm.mean_absolute_percentage_error(np.asarray(y, dtype=float), _values(pred)))


def medae(y: np.ndarray, pred: np.ndarray) -> float:
    """Median absolute error (Playground S3E25's metric)."""
    return float(np.median(np.abs(_values(pred) - np.asarray(y, dtype=float))))


def smape(y: np.ndarray, pred: np.ndarray) -> float:
    """Symmetric mean absolute percentage error in percent, as Kaggle computes it: 100 x the mean of
    2 |F - A| / (|A| + |F|), a row whose actual and forecast are both 0 counting 0."""
    a, f = np.asarray(y, dtype=float), _values(pred)
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2 * np.abs(f - a), denominator, out=np.zeros_like(a), where=denominator != 0)
    return float(100 * np.mean(ratio))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(skm.r2_score(np.asarray(y, dtype=float), _values(pred)))


def f1(y: np.ndarray, pred: np.ndarray) -> float:
    p = _proba(pred)
    average = "binary" if p.shape[1] <= 2 else "macro"
    return float(skm.f1_score(np.asarray(y).astype(int), labels(pred), average=average))


def mcc(y: np.ndarray, pred: np.ndarray) -> float:
    return float(skm.matthews_corrcoef(np.asarray(y).astype(int), labels(pred)))


MAP_AT = re.compile(r"^map@([1-9][0-9]?)$")  # map@K, K = 1..99: the K likeliest classes a row, space-separated


def ranked(pred: np.ndarray, k: int) -> np.ndarray:
    """Rows x k class indices, likeliest first (ties: the lower class index first, as a stable sort keeps them). The
    submission writer uses the same ranking, so the classes submitted are the ones the CV scored."""
    p = _proba(pred)
    return np.argsort(-p, axis=1, kind="stable")[:, : min(k, p.shape[1])]


def mean_average_precision(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """MAP@k with one true class a row: 1 / its place among the k classes named, else 0."""
    top = ranked(pred, k)
    hit = top == np.asarray(y).astype(int)[:, None]
    return float(np.mean((hit / np.arange(1, top.shape[1] + 1)).sum(axis=1)))


def map_at_3(y: np.ndarray, pred: np.ndarray) -> float:
    """MAP@3, Kaggle's usual ranked metric (Playground S5E6)."""
    return mean_average_precision(y, pred, 3)


def top_k(name: str) -> int | None:
    """K of a metric named map@K, else None."""
    m = MAP_AT.match(name)
    return int(m.group(1)) if m else None


def qwk(y: np.ndarray, pred: np.ndarray) -> float:
    """Quadratic weighted kappa of integer grades: each predicted value is rounded to the nearest of the grades the
    target holds, as the submission writes it (values already cut into grades stay as they are)."""
    return quadratic_kappa(y, nearest(pred, grades_of(y)))


CLASSIFICATION = ("binary", "multiclass")
METRICS: dict[str, TabularMetric] = {
    m.name: m
    for m in (
        TabularMetric("accuracy", True, CLASSIFICATION, "labels", accuracy, "share of rows whose label is right"),
        TabularMetric(
            "roc_auc", True, CLASSIFICATION, "probabilities", roc_auc, "area under the ROC curve (one-vs-rest macro)"
        ),
        TabularMetric(
            "log_loss", False, CLASSIFICATION, "probabilities", log_loss, "multi-class log loss, rows rescaled to 1"
        ),
        TabularMetric("rmse", False, ("regression",), "values", rmse, "root mean squared error"),
        TabularMetric("rmsle", False, ("regression",), "values", rmsle, "RMSE of log(1 + x)"),
        TabularMetric("mae", False, ("regression",), "values", mae, "mean absolute error"),
        TabularMetric("mape", False, ("regression",), "values", mape, "mean absolute percentage error"),
        TabularMetric("medae", False, ("regression",), "values", medae, "median absolute error"),
        TabularMetric(
            "smape", False, ("regression",), "values", smape, "symmetric mean absolute percentage error, in percent"
        ),
        TabularMetric("r2", True, ("regression",), "values", r2, "coefficient of determination"),
        TabularMetric("f1", True, CLASSIFICATION, "labels", f1, "F1 of the positive class (macro for multi-class)"),
        TabularMetric("mcc", True, CLASSIFICATION, "labels", mcc, "Matthews correlation coefficient"),
        TabularMetric(
            "balanced_accuracy", True, CLASSIFICATION, "labels", balanced_accuracy, "mean recall over the classes"
        ),
        TabularMetric("gini", True, CLASSIFICATION, "probabilities", gini, "normalized Gini, 2 x ROC AUC - 1"),
        TabularMetric(
            "balanced_log_loss",
            False,
            CLASSIFICATION,
            "probabilities",
            balanced_log_loss,
            "log loss with every class weighted alike",
        ),
        TabularMetric(
            "map@3", True, ("multiclass",), "ranked", map_at_3, "mean average precision of the 3 likeliest classes"
        ),
        TabularMetric(
            "qwk", True, ("regression",), "grades", qwk, "quadratic weighted kappa of ordered integer grades"
        ),
    )
}
# the metrics that also score several targets, as their mean over the target columns
SEVERAL = ("roc_auc", "log_loss", "accuracy", "f1", "rmse", "rmsle", "mae", "r2", "gini")


def lookup(name: str) -> TabularMetric:
    """The metric of that name: one of METRICS, or map@K for any K of 1..99 (the K likeliest classes a row)."""
    if name in METRICS:
        return METRICS[name]
    k = top_k(name)
    if k is None:
        raise KeyError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}, or map@K for K classes a row")
    fn = functools.partial(mean_average_precision, k=k)
    return TabularMetric(
        name, True, ("multiclass",), "ranked", fn, f"mean average precision of the {k} likeliest classes"
    )


def known(name: str) -> bool:
    """Whether `lookup(name)` finds a metric."""
    return name in METRICS or top_k(name) is not None


def columnwise(fn: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, pred: np.ndarray) -> float:
    """fn on each target column (y rows x k, pred rows x k), averaged: Kaggle's mean column-wise metric."""
    y = np.asarray(y)
    pred = np.asarray(pred, dtype=float).reshape(len(y), -1)
    if pred.shape[1] != y.shape[1]:
        raise ValueError(f"{y.shape[1]} target columns but {pred.shape[1]} prediction columns.")
    return float(np.mean([fn(y[:, j], pred[:, j : j + 1]) for j in range(y.shape[1])]))


def score(name: str, y_true: np.ndarray, pred: np.ndarray) -> float:
    """lookup(name) applied to the runner's arrays; with several targets (2-D y) its mean over the columns."""
    if np.ndim(y_true) == 2:
        if name not in SEVERAL:
            raise ValueError(f"metric {name} is for one target; for several use one of {', '.join(SEVERAL)}.")
        return columnwise(METRICS[name].fn, y_true, pred)
    return lookup(name).fn(y_true, pred)
