"""Several labels a row, submitted as the labels themselves (Planet's space-separated tags, Human Protein Atlas'
targets): which labels a row's probabilities name, the F-scores Kaggle ranks them by, and the one cut for all labels
fitted out of fold (pipeline/threshold.py applies it by the rules of every cut: only when the out-of-fold score
improves; a cut per label, Config.threshold "per_tag": pipeline/tag_cuts.py).

A row names each label whose probability is above 0.5, and its likeliest label when none is: every competition of
this kind has at least one label an image, and a row of none scores 0 however near its labels were. The scores and
the submission apply the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from pipeline.blend import fit_rows
from pipeline.cutpoints import best_cut

# name -> (beta, average): "samples" averages each row's F-score (Planet's mean F2), "macro" each label's (HPA's
# macro F1), "micro" counts every row's labels together
TAG_METRICS: dict[str, tuple[float, str]] = {
    "f1_samples": (1.0, "samples"),
    "f2_samples": (2.0, "samples"),
    "f1_macro": (1.0, "macro"),
    "f1_micro": (1.0, "micro"),
}
GRID = 99  # candidate cuts: this many quantiles of the OOF probabilities, and 0.5
BOUNDS = (0.01, 0.99)  # the cuts searched
EPS = 1e-6


def tags_in(cells: Iterable[str]) -> list[str]:
    """The distinct tags of cells of space-separated tags, sorted: a competition's tags, as its training CSV holds
    them."""
    return sorted({t for cell in cells for t in cell.split()})


def tag_rows(cells: Iterable[str], tags: list[str]) -> np.ndarray:
    """Rows x tags of 0/1: which of `tags` each cell holds."""
    column = {t: j for j, t in enumerate(tags)}
    cells = list(cells)
    out = np.zeros((len(cells), len(tags)), dtype=np.int64)
    for i, cell in enumerate(cells):
        out[i, [column[t] for t in set(cell.split()) if t in column]] = 1
    return out


def named(pred: np.ndarray) -> np.ndarray:
    """Rows x labels of bools: the labels above 0.5, or a row's likeliest label when none is."""
    p = np.asarray(pred, dtype=float)
    out = p > 0.5
    empty = ~out.any(axis=1)
    out[np.flatnonzero(empty), p[empty].argmax(axis=1)] = True
    return out


def f_score(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    """The F-score `name` (TAG_METRICS) of the labels `pred`'s probabilities name against y (rows x labels of 0/1)."""
    beta, average = TAG_METRICS[name]
    truth, guess = np.asarray(y) > 0.5, named(pred)
    b2 = beta * beta
    axis = {"samples": 1, "macro": 0, "micro": None}[average]
    tp = np.sum(truth & guess, axis=axis)
    wanted, given = np.sum(truth, axis=axis), np.sum(guess, axis=axis)
    denom = b2 * wanted + given
    f = np.where(denom > 0, (1 + b2) * tp / np.maximum(denom, 1e-12), 1.0)  # nothing wanted, nothing given: right
    return float(np.mean(f))


def shift(pred: np.ndarray, t: float) -> np.ndarray:
    """The probabilities moved so that each is above 0.5 exactly where it was above t (logits shifted by logit(t)):
    ranks kept, still probabilities."""
    p = np.clip(np.asarray(pred, dtype=float), EPS, 1 - EPS)
    logit = np.log(p / (1 - p)) - np.log(t / (1 - t))
    return 1.0 / (1.0 + np.exp(-logit))


def sampled(pred: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most blend.FIT_ROWS of the rows (a seeded sample), as the F1 threshold and the blend's weights are fitted."""
    rows = fit_rows(np.ones(len(y), dtype=bool))
    return np.asarray(pred, dtype=float)[rows], np.asarray(y)[rows]


def fit_cut(pred: np.ndarray, y: np.ndarray, score: Any, greater_is_better: bool = True) -> float:
    """The one cut of every label's probability that scores best on these rows (the one nearest 0.5 among ties);
    searched on at most FIT_ROWS of them, a seeded sample."""
    p, y = sampled(pred, y)
    sign = 1.0 if greater_is_better else -1.0
    return best_cut(p, lambda t: sign * float(score(y, shift(p, t))), BOUNDS, GRID)
