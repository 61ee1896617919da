"""The non-negative log-linear pool: a multi-class meta-model with one weight >= 0 per level-1 model and one bias per
class, the constrained alternative to the full multinomial logistic regression that pipeline.stacking fits for a
multi-class target: a Config picks it with stack="pool" (benchmarks/tabular_multiclass_stack.py compares the two: it
won held out only on a few hundred rows, so "linear", the multinomial, stays the default)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize

POOL_C = 1.0  # the inverse ridge strength, as LogisticRegression's C: the penalty is |params|^2 / (2 C rows)


class NonNegativePool:
    """p_c proportional to exp(b_c + sum_m w_m log p_mc), each model's weight w_m >= 0 and one bias b_c per class:
    M + C numbers, fitted by minimising log loss plus a ridge (POOL_C) with L-BFGS-B from equal weights, so the
    same inputs give the same numbers. A weight of 1 on one model and biases of 0 give that model back; weights
    summing to more or less than 1 sharpen or soften the pooled probabilities; a model whose log-probabilities point
    away from the labels gets weight 0, never a negative one. Without the ridge, OOF rows the models separate
    perfectly (wine) drive the weights to 20 and more, and one confident miss in the next fold costs more than the
    blend. Classes the training rows lack are left at probability 0."""

    def fit(self, L: np.ndarray, y: np.ndarray, n_classes: int) -> NonNegativePool:
        """Fit on log-probabilities L (rows x models * n_classes, each model's classes side by side) and labels y."""
        self.classes_ = np.unique(y).astype(np.int64)
        logp = self._by_model(L, n_classes)
        target = np.searchsorted(self.classes_, y)
        m, c = logp.shape[1], len(self.classes_)
        x0 = np.r_[np.full(m, 1.0 / m), np.zeros(c)]
        bounds = [(0.0, None)] * m + [(None, None)] * c
        fit = minimize(_pool_loss, x0, args=(logp, target, POOL_C), jac=True, method="L-BFGS-B", bounds=bounds)
        self.coef_, self.intercept_ = fit.x[:m].copy(), fit.x[m:].copy()
        return self

    def _by_model(self, L: np.ndarray, n_classes: int) -> np.ndarray:
        """Rows x models x the training rows' classes, from the side-by-side columns."""
        return L.reshape(len(L), -1, n_classes)[:, :, self.classes_]

    def predict_proba(self, L: np.ndarray, n_classes: int) -> np.ndarray:
        """Rows x n_classes probabilities (0 for a class the training rows lacked)."""
        z = np.einsum("rmc,m->rc", self._by_model(L, n_classes), self.coef_) + self.intercept_
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out = np.zeros((len(L), n_classes))
        out[:, self.classes_] = e / e.sum(axis=1, keepdims=True)
        return out

    def to_json(self) -> dict[str, Any]:
        """The fitted numbers as JSON-ready lists (float64 round-trips exactly)."""
        return {"classes": self.classes_.tolist(), "coef": self.coef_.tolist(), "intercept": self.intercept_.tolist()}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> NonNegativePool:
        """The pool `to_json` wrote: its predictions are the fitted one's, bit for bit."""
        pool = cls()
        pool.classes_ = np.asarray(saved["classes"], dtype=np.int64)
        pool.coef_, pool.intercept_ = (np.asarray(saved[k], dtype=np.float64) for k in ("coef", "intercept"))
        return pool


def _pool_loss(x: np.ndarray, logp: np.ndarray, target: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    """The pool's mean log loss at parameters x (weights, then biases) plus the ridge |x|^2 / (2 c rows), and its
    gradient."""
    m = logp.shape[1]
    z = np.einsum("rmc,m->rc", logp, x[:m]) + x[m:]
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    rows = np.arange(len(target))
    loss = float(np.mean(log_norm - z[rows, target]))
    dz = np.exp(z - log_norm[:, None])
    dz[rows, target] -= 1.0
    dz /= len(target)
    grad = np.r_[np.einsum("rc,rmc->m", dz, logp), dz.sum(axis=0)]
    ridge = 1.0 / (c * len(target))
    return loss + 0.5 * ridge * float(x @ x), grad + ridge * x
