"""The free-text model: a linear model on TF-IDF word and character n-grams of each text column, beside the linear
model's features of every column (one-hot, scaled, target-encoded).

The boosters see a text column as its length, word count and 30 frequent words (features.tabular): enough for a
name, far too little for a tweet, a review or a description, whose signal lies in thousands of rare words and word
pieces. This is the model Kaggle's text competitions start from: sublinear TF-IDF of word 1-2-grams and of character
2-5-grams within words, fitted inside each training fold, with an L2-regularised logistic regression (classes) or
ridge regression (values), its strength chosen on inner folds of the training rows. A column is text as
features.columns judges it (values averaging two words or more).

Out of fold on tweets (Android or iPhone, 8,614) the character n-grams scored ROC AUC 0.9424 against 0.9393 for the
words alone, and on the Tate's works (year from title and medium) RMSE 3.574 against 3.644, for three to four times
the time; character 1-5-grams across words scored about the same (0.9433, 3.572) for 18% to 48% more time. Choosing
alpha on one inner fold at tolerance 1e-3 takes a quarter to a half of the time and scored a little lower on the
tweets (0.9412) and films' titles (0.7076 against 0.7095), and 0.009 worse in log loss held out on the tweets
(benchmarks/README.md, "A model for free text").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from features.tabular import TabularEncoder, as_text, named_frame
from pipeline.fitting import predict_outputs
from pipeline.tabular.models import fit_target, inverse_target

ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0)  # the L2 strengths an alpha of 0 chooses among
# each `chars` setting's analyzer and n-gram lengths
CHARS: dict[str, tuple[str, tuple[int, int]] | None] = {
    "within_words": ("char_wb", (2, 5)),
    "across_words": ("char", (1, 5)),
    "off": None,
}
WORDS = r"(?u)\b\w+\b|[^\w\s]"  # words of any length, and each punctuation mark or symbol (!, ?, @, #) on its own


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class TextLinear(BaseEstimator):
    """Logistic or ridge regression on TF-IDF n-grams of the text columns and the linear features of all columns."""

    task: str = "binary"
    alpha: float = 0.0  # L2 strength (logistic regression's C is 1 / alpha); 0: chosen among ALPHAS per fit
    max_features: int = 200_000  # n-grams kept per text column and analyzer, the most frequent
    min_df: int = 2  # rows an n-gram must appear in
    inner_folds: int = 3  # alpha 0: the training rows split in this many inner folds ...
    inner_rounds: int = 3  # ... of which this many are held out in turn to score each alpha
    inner_tol: float = 1e-4  # logistic regression's tolerance along the inner path (1e-3 is faster, less sure)
    chars: str = "within_words"  # character n-grams: "within_words" (2-5, char_wb), "across_words" (1-5), "off"
    max_chars: int = 50_000_000  # a text column holding more characters gets no character n-grams
    target_transform: str | None = None
    clip: bool = True
    random_state: int = 0
    n_jobs: int = 1  # BLAS threads of its fits (the runner sets it: pipeline.fitting.default_jobs); 0: BLAS's own

    def fit(self, X: pd.DataFrame, y: Any) -> TextLinear:
        """Fit the encoders and vectorizers on the training rows, then the linear model on their features, on n_jobs
        BLAS threads: L-BFGS and LSQR work on vectors of the n-grams' length, too little for threads to share, and
        BLAS's threads, one a core, spin where another process holds a core (13 times the time of one thread on 2
        busy cores: benchmarks/text_threads.py)."""
        with threadpool_limits(self.n_jobs if self.n_jobs > 0 else None, user_api="blas"):
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y: Any) -> TextLinear:
        """fit's work, on the threads it allows."""
        if self.alpha < 0 or not 1 <= self.inner_rounds <= self.inner_folds:
            raise ValueError(
                f"TextLinear: alpha must be 0 (chosen on inner folds) or more, got {self.alpha}; inner_rounds 1 to "
                f"inner_folds ({self.inner_folds}), got {self.inner_rounds}."
            )
        X = named_frame(X)
        y_fit, classes = fit_target(np.asarray(y), self.task, self.target_transform)
        if classes is not None:
            self.classes_ = classes
        self.encoder_ = TabularEncoder("linear", self.task, clip=self.clip, random_state=self.random_state)
        dense = self.encoder_.fit_transform(X, y_fit)
        self.text_columns_ = [c for c, k in self.encoder_.kinds_.items() if k == "text"]
        blocks = [sp.csr_matrix(np.asarray(dense, dtype=np.float32))]
        self.vectorizers_ = {}
        for c in self.text_columns_:
            fitted = self._fit_vectorizers(as_text(X[c]))
            self.vectorizers_[c] = tuple(vec for vec, _ in fitted)
            blocks.extend(matrix for _, matrix in fitted)
        features = sp.hstack(blocks, format="csr")
        self.alpha_ = self.alpha if self.alpha > 0 else self._inner_alpha(features, y_fit)
        self.model_ = self._model(self.alpha_).fit(features, y_fit)
        return self

    def _model(self, alpha: float) -> Any:
        """Ridge regression, or logistic regression (warm-started: each fit along a path of alphas starts from the
        last one's coefficients)."""
        if self.task == "regression":
            return Ridge(alpha=alpha, solver="lsqr")  # on sparse rows 2.5 times faster than "auto" (sparse_cg)
        return LogisticRegression(C=1.0 / alpha, max_iter=2000, warm_start=True)

    def _inner_alpha(self, features: sp.csr_matrix, y: np.ndarray) -> float:
        """The alpha among ALPHAS with the lowest loss (log loss, or squared error on the fitting scale) on the first
        inner_rounds of inner_folds inner folds of the training rows: each is fitted on the rest from the strongest
        alpha to the weakest, each fit starting from the last. The vectorizers were fitted on every training row (no
        labels involved). An inner fold whose training rows hold one class is skipped (a multi-label target's rare
        label); with none left, or too few rows, the middle alpha."""
        classify = self.task != "regression"
        if len(y) < 10 * self.inner_folds:  # too few rows to tell the strengths apart: the middle one
            return float(np.median(ALPHAS))
        stratify = classify and np.bincount(y).min() >= self.inner_folds
        splitter = StratifiedKFold if stratify else KFold
        alphas = sorted(ALPHAS, reverse=True)
        losses = np.zeros(len(alphas))
        scored = 0
        for tr, va in splitter(self.inner_folds, shuffle=True, random_state=self.random_state).split(features, y):
            if scored == self.inner_rounds:
                break
            if classify and len(np.unique(y[tr])) < 2:
                continue  # a rare class's rows all fell among this fold's validation rows: no classifier to fit
            scored += 1
            model = self._model(alphas[0])
            if classify:
                model.set_params(tol=self.inner_tol)
            for i, alpha in enumerate(alphas):
                model.set_params(**({"C": 1.0 / alpha} if classify else {"alpha": alpha}))
                model.fit(features[tr], y[tr])
                if classify:
                    proba = _all_classes(model, features[va], len(self.classes_))
                    losses[i] += log_loss(y[va], proba, labels=np.arange(len(self.classes_))) * len(va)
                else:
                    losses[i] += float(np.sum((model.predict(features[va]) - y[va]) ** 2))
        return float(alphas[int(np.argmin(losses))]) if scored else float(np.median(ALPHAS))

    def _vectorizers(self, text: pd.Series) -> tuple[TfidfVectorizer, ...]:
        """The vectorizers of one text column: word 1-2-grams, and character n-grams (case kept) as `chars` says unless
        the column's training text holds more than max_chars characters (their matrix grows with the characters)."""
        if self.chars not in CHARS:
            raise ValueError(f"TextLinear: chars must be one of {tuple(CHARS)}, got {self.chars!r}.")
        shared = dict(sublinear_tf=True, min_df=self.min_df, max_features=self.max_features, dtype=np.float32)
        words = TfidfVectorizer(ngram_range=(1, 2), token_pattern=WORDS, **shared)
        if CHARS[self.chars] is None:
            return (words,)
        if (chars := int(text.str.len().sum())) > self.max_chars:
            warnings.warn(
                f"text model: column {text.name!r} holds {chars:,} characters, over max_chars ({self.max_chars:,}): "
                "word n-grams only, no character n-grams",
                stacklevel=4,
            )
            return (words,)
        analyzer, ngrams = CHARS[self.chars]
        return words, TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, lowercase=False, **shared)

    def _fit_vectorizers(self, text: pd.Series) -> list[tuple[TfidfVectorizer, sp.csr_matrix]]:
        """One text column's fitted vectorizers, each with its matrix of the training rows. A vectorizer that finds no
        n-gram in min_df rows or more (every word unique: hashes, serial numbers; no text in these rows) is left out,
        with a warning, where scikit-learn refuses to fit it."""
        fitted = []
        for vec in self._vectorizers(text):
            try:
                matrix = vec.fit_transform(text)
            except ValueError:  # "empty vocabulary", or "After pruning, no terms remain"
                kind = "word" if vec.analyzer == "word" else "character"
                warnings.warn(
                    f"text model: no {kind} n-gram of column {text.name!r} appears in {self.min_df} training rows or "
                    f"more (min_df): the column gets no {kind} n-grams",
                    stacklevel=3,
                )
                continue
            vec.stop_words_ = None  # the n-grams left out: kept only for introspection, and large to pickle
            fitted.append((vec, matrix))
        return fitted

    def _features(self, X: pd.DataFrame) -> sp.csr_matrix:
        """New rows as the model reads them: the linear features, then each text column's n-grams (a text column the
        rows lack reads as empty)."""
        X = named_frame(X)
        blocks = [sp.csr_matrix(np.asarray(self.encoder_.transform(X), dtype=np.float32))]
        for c, vecs in self.vectorizers_.items():
            text = as_text(X[c] if c in X else pd.Series("", index=X.index))
            blocks.extend(vec.transform(text) for vec in vecs)
        return sp.hstack(blocks, format="csr")

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The raw input columns the model was fitted on."""
        return np.asarray(self.encoder_.feature_names_in_, dtype=object)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels."""
        if self.task == "regression":
            return inverse_target(self.model_.predict(self._features(X)), self.target_transform)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        return _all_classes(self.model_, self._features(X), len(self.classes_))


def _all_classes(model: Any, features: sp.csr_matrix, n_classes: int) -> np.ndarray:
    """A classifier's probabilities with a column for each of n_classes class indices (0 for a class its training
    rows lacked: pipeline.fitting.predict_outputs, as the runner aligns every fold's), rows summing to 1 in float64
    (float32 features give float32 probabilities)."""
    proba = predict_outputs(model, features, True, n_classes)
    return proba / proba.sum(axis=1, keepdims=True)
