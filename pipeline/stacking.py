"""Level-2 stacking: a meta-model fitted on the level-1 models' OOF predictions, scored strictly out of fold.

The meta-model sees each level-1 model's OOF predictions as features (logits of class probabilities, values or
log values for regression). Its reported score is out of fold with the run's own folds: for each fold f the
meta-model is fitted on the OOF rows of the other folds only and predicts fold f, so no row is scored by a
meta-model that saw its label. (Fitting it on all OOF rows and scoring those rows is the leak that made
AutoGluon's own validation claim 0.879 accuracy on Titanic for a stack that scored 0.778 on held-out labels.)
The test predictions come from the meta-model fitted on all OOF rows, applied to the level-1 test predictions.

A competition turns it on with a Config field `stack`: "linear" (logistic regression on standardised logits for
classification, each model's weight kept non-negative for a binary target; non-negative least squares with an
intercept for regression), "log_linear" (regression on log values, for positive targets scored on a log scale) or
"pool" (classification only: for a multi-class target the non-negative log-linear pool below, for a binary one the
same meta-model as "linear"); "off" or no field: no stack.

For a multi-class target "linear" fits the full multinomial logistic regression on every model's log-probability
of every class (coefficients of any sign, models x classes inputs per class); "pool" the non-negative log-linear pool
(pipeline/stacking_pool.py: one weight >= 0 per model, one bias per class). Measured on held-out labels
(benchmarks/tabular_multiclass_stack.py, seeded 20% splits, the five models `new` writes) beside boosters at their
own cap, the multinomial's out-of-fold score lost to the blend's on every split of digits and a generated 6-class set,
so those runs submitted the blend, while the pool was used and beat it (digits -0.0153 +- 0.0036 log loss, the
6-class set -0.0083 +- 0.0017, wine's 178 rows -0.0044 +- 0.0010 against the multinomial as submitted), so `new`
writes "pool" for a multi-class target (pipeline.tabular.recipe.default_stack). With boosters cut to 200 trees the
multinomial had won on the two larger sets: the many signed coefficients pay only beside weaker models. The stack's
out-of-fold score was never optimistic there: its held-out log loss was lower than its CV in every fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.contract import Metric
from pipeline.folds import fold_ids, fold_score, learns_from, runs_forward, scored_rows
from pipeline.stacking_pool import NonNegativePool

METHODS = ("off", "linear", "log_linear", "pool")
EPS = 1e-6


class NonNegativeLinear:
    """y ~ b + sum w_i x_i with every w_i >= 0 (a blend that may also shift): level-1 models never get negative say."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> NonNegativeLinear:
        self.intercept_ = float(np.mean(y))
        mean = X.mean(axis=0)
        self.coef_, _ = nnls(X - mean, y - self.intercept_)
        self.intercept_ -= float(mean @ self.coef_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_


def features(preds: list[np.ndarray], classification: bool, method: str) -> np.ndarray:
    """Meta-features from level-1 predictions (rows x outputs each)."""
    cols = []
    for p in preds:
        p = np.asarray(p, dtype=float)
        if classification:
            q = np.clip(p, EPS, 1 - EPS)
            cols.append(np.log(q[:, 1:2] / q[:, :1]) if q.shape[1] == 2 else np.log(q))
        else:
            cols.append(np.log(np.clip(p, EPS, None)) if method == "log_linear" else p)  # a column per target
    return np.hstack(cols)


def meta_classifier(seed: int) -> Any:
    """The classification meta-model: logistic regression on standardised logits. On raw logits lbfgs crawls to its
    iteration limit when a rare class's probabilities sit at the clip (log EPS): about 13 times slower for the
    same log loss (benchmarks/stacking_speed.py)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


class NonNegativeLogistic:
    """Binary meta-model: meta_classifier on the models' logits, each model's weight >= 0 (a model with a negative
    weight is dropped and the rest refitted, as non-negative least squares drops a column). A negative weight turns
    a model's systematic out-of-fold error into score: on noise targets a linear model's OOF AUC sat below 0.5 in every
    fold, and a logistic stack that flipped it read 0.60 AUC where held-out rows gave 0.52."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> NonNegativeLogistic:
        self.keep_ = np.arange(X.shape[1])
        self.prior_ = float(np.clip(np.mean(y), EPS, 1 - EPS))
        self.meta_ = None
        if len(np.unique(y)) < 2:  # one class only: nothing to weigh, the base rate
            return self
        while len(self.keep_):
            meta = meta_classifier(self.seed).fit(X[:, self.keep_], y)
            coef = meta[-1].coef_[0]
            if (coef >= 0).all():
                self.meta_ = meta
                break
            self.keep_ = np.delete(self.keep_, int(np.argmin(coef)))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.meta_ is None:  # no model earns a positive weight: the training rows' base rate
            return np.tile([1 - self.prior_, self.prior_], (len(X), 1))
        return self.meta_.predict_proba(X[:, self.keep_])


@dataclass
class MetaModel:
    """A fitted meta-model and how its outputs are laid out: `kind` "binary" (NonNegativeLogistic), "classes"
    (meta_classifier; `n_out` class columns, those its training rows lacked left 0), "pool" (NonNegativePool, laid out
    as "classes"; where Config.stack is "pool") or "values" (NonNegativeLinear,
    one per target, on `log` values for log_linear). `to_json` and `from_json` carry it through the run folder
    (stages.json) for `predict`, as plain numbers: its predictions from them are the fitted one's, bit for bit."""

    kind: str
    n_out: int
    parts: list[Any]
    log: bool = False

    def predict(self, F: np.ndarray) -> np.ndarray:
        """Rows x n_out predictions from meta-features F (pipeline.stacking.features)."""
        if self.kind == "binary":
            return self.parts[0].predict_proba(F)
        if self.kind == "pool":
            return self.parts[0].predict_proba(F, self.n_out)
        if self.kind == "classes":
            meta = self.parts[0]
            out = np.zeros((len(F), self.n_out))
            out[:, meta.classes_.astype(int)] = meta.predict_proba(F)
            return out
        cols = [slice(j, None, self.n_out) for j in range(self.n_out)] if len(self.parts) > 1 else [slice(None)]
        preds = [part.predict(F[:, c]) for part, c in zip(self.parts, cols, strict=True)]
        return np.hstack([(np.exp(p) if self.log else p).reshape(-1, 1) for p in preds])

    def to_json(self) -> dict[str, Any]:
        """The meta-model as JSON-ready numbers."""
        return {"kind": self.kind, "n_out": self.n_out, "log": self.log, "parts": [_part_json(p) for p in self.parts]}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> MetaModel:
        """The meta-model `to_json` wrote."""
        parts = [_part_from_json(p) for p in saved["parts"]]
        return cls(str(saved["kind"]), int(saved["n_out"]), parts, bool(saved.get("log", False)))


def _logistic_json(meta: Any) -> dict[str, Any]:
    """meta_classifier's fitted numbers: the scaler's and the logistic regression's."""
    scaler, lr = meta[0], meta[-1]
    return {
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "var": scaler.var_.tolist(),
        "n_samples_seen": int(np.max(scaler.n_samples_seen_)),
        "coef": lr.coef_.tolist(),
        "intercept": lr.intercept_.tolist(),
        "classes": lr.classes_.tolist(),
        "seed": lr.random_state,
    }


def _logistic_from_json(saved: dict[str, Any]) -> Any:
    """meta_classifier with the fitted numbers _logistic_json wrote set on it, as fit leaves them."""
    meta = meta_classifier(int(saved["seed"] or 0))
    scaler, lr = meta[0], meta[-1]
    scaler.mean_, scaler.scale_, scaler.var_ = (
        np.asarray(saved[k], dtype=np.float64) for k in ("mean", "scale", "var")
    )
    scaler.n_samples_seen_ = int(saved["n_samples_seen"])
    scaler.n_features_in_ = lr.n_features_in_ = len(scaler.mean_)
    lr.coef_ = np.asarray(saved["coef"], dtype=np.float64)
    lr.intercept_ = np.asarray(saved["intercept"], dtype=np.float64)
    lr.classes_ = np.asarray(saved["classes"], dtype=np.int64)
    return meta


def _part_json(part: Any) -> dict[str, Any]:
    """One fitted estimator of a MetaModel as JSON-ready numbers."""
    if isinstance(part, NonNegativeLinear):
        return {"type": "non_negative_linear", "coef": part.coef_.tolist(), "intercept": part.intercept_}
    if isinstance(part, NonNegativeLogistic):
        meta = None if part.meta_ is None else _logistic_json(part.meta_)
        kept = {"keep": part.keep_.tolist(), "prior": part.prior_, "meta": meta}
        return {"type": "non_negative_logistic", "seed": part.seed} | kept
    if isinstance(part, NonNegativePool):
        return {"type": "non_negative_pool"} | part.to_json()
    return {"type": "logistic"} | _logistic_json(part)


def _part_from_json(saved: dict[str, Any]) -> Any:
    """The estimator _part_json wrote."""
    if saved["type"] == "non_negative_linear":
        part = NonNegativeLinear()
        part.coef_, part.intercept_ = np.asarray(saved["coef"], dtype=np.float64), float(saved["intercept"])
        return part
    if saved["type"] == "non_negative_logistic":
        logistic = NonNegativeLogistic(int(saved["seed"]))
        logistic.keep_ = np.asarray(saved["keep"], dtype=np.int64)
        logistic.prior_ = float(saved["prior"])
        logistic.meta_ = None if saved["meta"] is None else _logistic_from_json(saved["meta"])
        return logistic
    if saved["type"] == "non_negative_pool":
        return NonNegativePool.from_json(saved)
    if saved["type"] == "logistic":
        return _logistic_from_json(saved)
    raise ValueError(f"unknown meta-model part {saved['type']!r}")


def unsuited(method: str, classification: bool) -> str:
    """Why the stack `method` cannot stack this target ("" when it can): the pool pools class probabilities. The
    runner asks at load, before any model is fitted; stack() refuses it too."""
    if method == "pool" and not classification:
        return (
            "Config.stack 'pool' pools class probabilities; a regression stacks with linear or log_linear "
            "(--set stack=linear)."
        )
    return ""


def fit_meta(F_tr: np.ndarray, y_tr: np.ndarray, classification: bool, n_out: int, method: str, seed: int) -> MetaModel:
    """The meta-model fitted on meta-features F_tr and targets y_tr."""
    if classification and n_out == 2 and len(np.unique(y_tr)) == 2:  # one logit per model: weights kept >= 0
        return MetaModel("binary", n_out, [NonNegativeLogistic(seed).fit(F_tr, y_tr.astype(int))])
    if classification and method == "pool":
        return MetaModel("pool", n_out, [NonNegativePool().fit(F_tr, y_tr.astype(int), n_out)])
    if classification:
        return MetaModel("classes", n_out, [meta_classifier(seed).fit(F_tr, y_tr.astype(int))])
    log = method == "log_linear"
    if y_tr.ndim == 2:  # several targets: one meta-model per target, on every model's column of that target
        cols = [slice(j, None, n_out) for j in range(n_out)]
        targets = [y_tr[:, j] for j in range(n_out)]
    else:
        cols, targets = [slice(None)], [y_tr]
    present = [~np.isnan(np.asarray(t, dtype=float)) for t in targets]  # a target missing on a row: not fitted there
    parts = [
        NonNegativeLinear().fit(F_tr[:, c][ok], np.log(np.clip(t[ok], EPS, None)) if log else t[ok])
        for c, t, ok in zip(cols, targets, present, strict=True)
    ]
    return MetaModel("values", n_out, parts, log)


def _fit_predict(
    F_tr: np.ndarray, y_tr: np.ndarray, F_pred: np.ndarray, classification: bool, n_out: int, method: str, seed: int
) -> np.ndarray:
    return fit_meta(F_tr, y_tr, classification, n_out, method, seed).predict(F_pred)


def stack(
    oofs: dict[str, np.ndarray],
    tests: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    classification: bool,
    method: str = "linear",
    seed: int = 0,
    forward: bool = False,
    fallback: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Out-of-fold stack predictions and score, and test predictions; None when there are too few folds or models.

    `forward` (folds forward in time): each fold's meta-model is fitted on the earlier folds' OOF rows only; the first
    fold, with none before it, keeps `fallback` (the blend's out-of-fold predictions)."""
    if method not in METHODS:
        raise ValueError(f"stack must be one of {', '.join(METHODS)}, got {method!r}.")
    ids = fold_ids(folds)
    if method == "off" or len(ids) < 2 or not oofs:
        return None
    if why := unsuited(method, classification):
        raise ValueError(why)
    names = list(oofs)
    y = np.asarray(y)
    mask = scored_rows(folds)
    if not classification and method == "log_linear" and (y[mask] <= 0).any():
        method = "linear"  # log values need positive targets
    n_out = next(iter(oofs.values())).shape[1]
    F = features([oofs[n] for n in names], classification, method)
    F_test = features([tests[n] for n in names], classification, method)
    oof = np.full((len(y), n_out), np.nan)
    fold_scores, nested = [], []
    for f in ids:
        train = mask & learns_from(folds, f, forward)  # the other (forward: earlier) folds' OOF rows only
        valid = folds == f
        if not train.any() and fallback is not None:
            oof[valid] = np.asarray(fallback, dtype=float).reshape(len(y), -1)[valid]
            fold_scores.append(fold_score(score, y[valid], oof[valid]))
            nested.append({"held": np.flatnonzero(valid), "fit": np.flatnonzero(train), "fit_pred": oof[train]})
            continue
        both = _fit_predict(F[train], y[train], np.vstack([F[valid], F[train]]), classification, n_out, method, seed)
        oof[valid] = both[: valid.sum()]
        fold_scores.append(fold_score(score, y[valid], oof[valid]))
        # what a stage after the stack fits per fold: the rows the meta-model was fitted on, with its predictions
        nested.append({"held": np.flatnonzero(valid), "fit": np.flatnonzero(train), "fit_pred": both[valid.sum() :]})
    model = fit_meta(F[mask], y[mask], classification, n_out, method, seed)
    return {
        "method": method,
        "models": names,
        "oof": oof,
        "test": model.predict(F_test),
        "model": model,  # what predict applies to new test predictions (saved_stage, apply_saved)
        "score": float(score(y[mask], oof[mask])),
        "fold_scores": fold_scores,
        "nested": nested,
    }


def choose(stacked: dict[str, Any] | None, blend_score: float, metric: Metric) -> bool:
    """True when the stack's out-of-fold score beats the blend's."""
    return stacked is not None and metric.better(stacked["score"], blend_score)


def apply(
    module: Any,
    cfg: Any,
    data: Any,
    y: np.ndarray,
    folds: np.ndarray,
    results: dict[str, Any],
    b: dict[str, Any],
    run_dir: Any,
    log: Any,
) -> dict[str, Any]:
    """The runner's hook: stack when the Config asks; `b` with the stack's predictions when its OOF score wins.

    Writes stack.json (method, models, out-of-fold score per fold and overall, the blend's score, which was used)
    and oof|test/_stack.npy. Competitions with their own blend, fold merge or calibration hooks are left alone.
    """
    from pipeline.runfolder import write_predictions, write_record

    method = getattr(cfg, "stack", "off") or "off"
    if method == "off" or any(hasattr(module, h) for h in ("blend", "merge_folds", "CALIBRATE")) or len(results) < 2:
        return b
    classification = getattr(data, "classes", None) is not None
    oofs = {m: r["oof"] for m, r in results.items()}
    tests = {m: r["test"] for m, r in results.items()}
    seed = int(getattr(cfg, "seed", 0) or 0)
    st = stack(oofs, tests, y, folds, module.score, classification, method, seed, runs_forward(module), b["oof"])
    if st is None:
        log.warn("stack skipped: it needs at least 2 folds of OOF predictions")
        return b
    used = choose(st, float(b["score"]), module.METRIC)
    write_predictions(run_dir, "_stack", st["oof"], st["test"])
    info = {k: st[k] for k in ("method", "models", "score", "fold_scores")} | {"blend_score": b["score"], "used": used}
    write_record(run_dir, "stack", info)
    name = module.METRIC.name
    log(
        f"stack ({st['method']}, out of fold): {name} {st['score']:.5f} vs blend {b['score']:.5f} -> "
        f"{'stack' if used else 'blend'} used for the submission"
    )
    if not used:
        return b | {"stack": info}
    stages = b.get("stages", {}) | {"stack": saved_stage(st, classification)}  # stages.json, for predict
    return (
        b
        | {"oof": st["oof"], "test": st["test"], "score": st["score"], "stack": info, "nested": st["nested"]}
        | {"stages": stages}
    )


def saved_stage(st: dict[str, Any], classification: bool) -> dict[str, Any]:
    """What `predict` needs of a stack the run used (stages.json): its method, the models whose test predictions it
    reads, in order, whether they are class probabilities, and the meta-model fitted on every OOF row."""
    return {
        "method": st["method"],
        "models": list(st["models"]),
        "classification": classification,
        "model": st["model"].to_json(),
    }


def apply_saved(saved: dict[str, Any], tests: dict[str, np.ndarray]) -> np.ndarray:
    """The saved stack (saved_stage) applied to the models' test predictions: the run's stack test predictions,
    bit for bit, on the run's own test rows."""
    F = features([tests[m] for m in saved["models"]], bool(saved["classification"]), str(saved["method"]))
    return MetaModel.from_json(saved["model"]).predict(F)
