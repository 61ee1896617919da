"""The free-text model (pipeline/tabular/text.py): TF-IDF n-grams of text columns under a linear model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from pipeline.cli import main
from pipeline.contract import load_competition
from pipeline.tabular.models import linear
from pipeline.tabular.recipe import TabularRecipe, model_set
from pipeline.tabular.text import ALPHAS, TextLinear

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` distinct made-up words of 3 to 8 letters."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(LETTERS, rng.integers(3, 9))))
    return np.array(sorted(words))


def reviews(n: int, seed: int = 0, signal: float = 2.0) -> tuple[pd.DataFrame, np.ndarray]:
    """n short documents of 10 to 30 words from a Zipf-like vocabulary of 3,000, and a 0/1 label: a positive
    document draws 400 of the rarer words `exp(signal)` times more often. The signal lies in many rare words, none
    frequent enough to be among the 30 tokens the boosters and the linear model see."""
    rng = np.random.default_rng(seed)
    words = vocabulary(rng, 3000)
    base = 1.0 / np.arange(1, len(words) + 1)
    marked = rng.choice(np.arange(200, len(words)), 400, replace=False)
    lift = np.ones(len(words))
    lift[marked] = np.exp(signal)
    y = rng.integers(0, 2, n)
    docs = []
    for label in y:
        p = base * (lift if label else 1.0)
        docs.append(" ".join(rng.choice(words, rng.integers(10, 31), p=p / p.sum())))
    X = pd.DataFrame({"review": docs, "stars_seen": rng.integers(1, 6, n)})
    return X, y


def cv_auc(model: object, X: pd.DataFrame, y: np.ndarray) -> float:
    """Out-of-fold ROC AUC of 3 folds."""
    proba = cross_val_predict(model, X, y, cv=3, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def test_text_model_reads_the_words_the_token_features_miss() -> None:
    X, y = reviews(1200)
    text, plain = cv_auc(TextLinear("binary"), X, y), cv_auc(linear("binary"), X, y)
    assert text > 0.85, text
    assert text > plain + 0.15, (text, plain)


def test_alpha_is_chosen_on_inner_folds() -> None:
    X, y = reviews(900)
    noise = np.random.default_rng(1).integers(0, 2, len(y))
    assert TextLinear("binary").fit(X, noise).alpha_ == max(ALPHAS)  # no signal: the strongest penalty
    assert TextLinear("binary").fit(X, y).alpha_ < max(ALPHAS)
    assert TextLinear("binary", alpha=3.0).fit(X, noise).alpha_ == 3.0  # given: used as it is


def test_multiclass_labels_and_probabilities() -> None:
    X, y = reviews(900, seed=2, signal=3.0)
    rng = np.random.default_rng(0)
    labels = np.where(y == 1, "good", np.where(rng.random(len(y)) < 0.5, "bad", "meh"))
    model = TextLinear("multiclass").fit(X.iloc[:600], labels[:600])
    proba = model.predict_proba(X.iloc[600:])
    assert list(model.classes_) == ["bad", "good", "meh"]
    assert proba.shape == (300, 3) and np.allclose(proba.sum(axis=1), 1.0)
    good = model.predict(X.iloc[600:]) == "good"
    assert (good == (labels[600:] == "good")).mean() > 0.8


def test_regression_on_a_log_scale() -> None:
    X, y = reviews(900, seed=3, signal=3.0)
    price = np.exp(3 + 1.5 * y + np.random.default_rng(0).normal(0, 0.3, len(y)))
    model = TextLinear("regression", target_transform="log1p").fit(X.iloc[:600], price[:600])
    pred = model.predict(X.iloc[600:])
    assert (pred > 0).all()
    held = np.log1p(price[600:])
    assert np.sqrt(np.mean((np.log1p(pred) - held) ** 2)) < 0.7 * held.std()


def test_missing_text_is_read_as_empty() -> None:
    X, y = reviews(600, seed=4)
    X.loc[::7, "review"] = np.nan
    model = TextLinear("binary", alpha=1.0).fit(X, y)
    proba = model.predict_proba(X.assign(review=np.nan))
    assert np.isfinite(proba).all()


def test_a_table_without_text_gets_the_linear_model_alone() -> None:
    X, y = reviews(300, seed=5)
    model = TextLinear("binary", alpha=1.0).fit(X[["stars_seen"]], y)
    assert model.text_columns_ == [] and model.predict_proba(X[["stars_seen"]]).shape == (300, 2)


@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_the_recipe_names_the_text_model(alpha: float) -> None:
    model = model_set("binary", TabularRecipe(models=("text",), text_alpha=alpha))["text"]
    assert isinstance(model, TextLinear) and model.alpha == alpha


def test_a_long_text_gets_word_ngrams_alone() -> None:
    X, y = reviews(300, seed=6)
    with pytest.warns(UserWarning, match="'review' holds .* characters, over max_chars"):
        model = TextLinear("binary", alpha=1.0, max_chars=1000).fit(X, y)
    assert len(model.vectorizers_["review"]) == 1
    assert len(TextLinear("binary", alpha=1.0).fit(X, y).vectorizers_["review"]) == 2


def test_new_writes_the_text_model_beside_free_text_and_the_run_blends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # a download whose signal lies in a review column: `new` says it writes "text" and why; the run's text model
    # beats the linear model that sees 30 frequent words, and takes weight in the blend
    monkeypatch.chdir(tmp_path)
    X, y = reviews(900, seed=7)
    X.insert(0, "id", np.arange(len(y)))
    train, test = X.iloc[:700].assign(label=y[:700]), X.iloc[700:]
    folder = tmp_path / "reviews"
    folder.mkdir()
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    test[["id"]].assign(label=0.5).to_csv(folder / "sample_submission.csv", index=False)
    comps = tmp_path / "comps"
    assert main(["new", "reviews", "--data", str(folder), "--into", str(comps), "--metric", "roc_auc"]) == 0
    out = capsys.readouterr().out
    assert "text (TF-IDF word and character n-grams under a linear model) as column review holds free text" in out
    config = load_competition(str(comps / "reviews")).Config()
    assert config.models[-1] == "text"
    models = "models=lightgbm,linear,text"
    args = ["run", str(comps / "reviews"), "--data", str(folder), "--folds", "3", "--quiet", "--set", models]
    assert main(args) == 0
    (run_dir,) = (tmp_path / "runs" / "reviews").glob("*")
    summary = json.loads((run_dir / "summary.json").read_text())
    scores = {m: r["mean"] for m, r in summary["models"].items()}
    assert scores["text"] > scores["linear"] + 0.1 and scores["text"] > scores["lightgbm"] + 0.1, scores
    assert summary["blend"]["weights"]["text"] > 0.5
    submission = pd.read_csv(run_dir / "submission.csv")
    assert list(submission["id"]) == list(test["id"]) and submission["label"].between(0, 1).all()
    # the saved text models predict the test set again without training: the run's submission, byte for byte
    out = tmp_path / "again"
    assert main(["predict", str(run_dir), "--data", str(folder), "--out", str(out), "--quiet"]) == 0
    (again,) = out.glob("*.csv")
    assert again.read_bytes() == (run_dir / "submission.csv").read_bytes()


def test_new_writes_no_text_model_without_free_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    X, y = reviews(200, seed=8)
    X = X.assign(code=[f"C{i % 40}" for i in range(len(y))]).drop(columns="review")
    X.insert(0, "id", np.arange(len(y)))
    folder = tmp_path / "plain"
    folder.mkdir()
    X.iloc[:150].assign(label=y[:150]).to_csv(folder / "train.csv", index=False)
    X.iloc[150:].to_csv(folder / "test.csv", index=False)
    X.iloc[150:][["id"]].assign(label=0).to_csv(folder / "sample_submission.csv", index=False)
    assert main(["new", "plain", "--data", str(folder), "--into", str(tmp_path / "comps")]) == 0
    assert "text (TF-IDF" not in capsys.readouterr().out
    assert "text" not in load_competition(str(tmp_path / "comps" / "plain")).Config().models


def test_a_class_of_one_row_leaves_the_inner_folds_it_empties() -> None:
    # a multi-label target's rare label: one positive among a fold's training rows. The inner fold validating it
    # trains on negatives alone, which no classifier fits; the alpha is chosen on the other inner folds
    X, _ = reviews(200, seed=9)
    y = np.zeros(200, dtype=int)
    y[17] = 1
    model = TextLinear("binary").fit(X, y)
    assert model.alpha_ in ALPHAS
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all() and proba[17, 1] == proba[:, 1].max()


def test_a_text_of_words_that_never_repeat_gets_no_word_ngrams() -> None:
    # commit hashes, three to a row: no word is in two rows (min_df), which scikit-learn refuses to fit ("no terms
    # remain"); the column keeps its character n-grams, and with chars="off" only its length and counts
    X, y = reviews(120, seed=10)
    rng = np.random.default_rng(0)
    X["commits"] = [" ".join(f"{rng.integers(16**10):010x}" for _ in range(3)) for _ in range(len(y))]
    with pytest.warns(UserWarning, match="no word n-gram of column 'commits' appears in 2 training rows or more"):
        model = TextLinear("binary", alpha=1.0).fit(X, y)
    assert [v.analyzer for v in model.vectorizers_["commits"]] == ["char_wb"]
    assert len(model.vectorizers_["review"]) == 2
    with pytest.warns(UserWarning, match="no word n-gram"):
        words_only = TextLinear("binary", alpha=1.0, chars="off").fit(X, y)
    assert words_only.vectorizers_["commits"] == ()
    assert np.isfinite(words_only.predict_proba(X.iloc[:5])).all() and model.predict_proba(X).shape == (120, 2)


def test_the_fit_takes_the_blas_threads_the_runner_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # L-BFGS on n-gram-long vectors: BLAS's threads, one a core, spin where another process holds a core (x13 the
    # time on 2 busy cores, benchmarks/text_threads.py); the runner's n_jobs (1 on small data) caps them
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    from pipeline.fitting import prepare

    seen = []
    fit = LogisticRegression.fit

    def counting_fit(self: LogisticRegression, *args: object, **kwargs: object) -> LogisticRegression:
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", counting_fit)
    X, y = reviews(200, seed=11)
    with threadpool_limits(2, user_api="blas"):  # BLAS's own threads on a machine of two cores or more
        prepare(TextLinear("binary", alpha=1.0), seed=0, n_jobs=1).fit(X, y)
        assert seen == [{1}]
        prepare(TextLinear("binary", alpha=1.0), seed=0, n_jobs=0).fit(X, y)  # 0: BLAS's own
        assert seen[-1] == {2}


def test_predict_gives_the_runs_submission_from_quoted_unicode_text_some_test_rows_lack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what a scraped download holds: commas, quotes and line breaks inside quoted fields, accents, emoji, HTML and
    # URLs, two text columns, and test rows with no text at all; `predict` on the test set alone must give the run's
    # own submission, every row a probability
    monkeypatch.chdir(tmp_path)
    X, y = reviews(240, seed=12)
    extras = ['"great", he said\nthen left', "café 😀 <b>bold</b>", "see https://example.com/a?b=1&c=2", "naïve, ok"]
    X["review"] = [f"{doc} {extras[i % 4]}" for i, doc in enumerate(X["review"])]
    X.insert(0, "title", [" ".join(doc.split()[:3]) for doc in X["review"]])
    X.loc[200::3, ["title", "review"]] = np.nan
    X.insert(0, "id", np.arange(len(y)))
    folder, alone = tmp_path / "scraped", tmp_path / "test_alone"
    folder.mkdir()
    alone.mkdir()
    X.iloc[:200].assign(label=y[:200]).to_csv(folder / "train.csv", index=False)
    for into in (folder, alone):
        X.iloc[200:].to_csv(into / "test.csv", index=False)
        X.iloc[200:][["id"]].assign(label=0.5).to_csv(into / "sample_submission.csv", index=False)
    assert main(["new", "scraped", "--data", str(folder), "--into", str(tmp_path / "comps")]) == 0
    assert "text" in load_competition(str(tmp_path / "comps" / "scraped")).Config().models
    run = ["run", str(tmp_path / "comps" / "scraped"), "--data", str(folder), "--folds", "3", "--quiet"]
    assert main([*run, "--set", "models=linear,text"]) == 0
    (run_dir,) = (tmp_path / "runs" / "scraped").glob("*")
    assert main(["predict", str(run_dir), "--data", str(alone), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    submission = pd.read_csv(run_dir / "submission.csv")
    assert submission.equals(pd.read_csv(tmp_path / "out" / "submission.csv"))
    assert list(submission["id"]) == list(range(200, 240)) and submission["label"].between(0, 1).all()


@pytest.mark.parametrize("params", [{"alpha": -1.0}, {"inner_rounds": 0}, {"inner_rounds": 4}])
def test_a_setting_out_of_range_is_refused(params: dict) -> None:
    X, y = reviews(60, seed=9)
    with pytest.raises(ValueError, match="TextLinear: alpha must be 0 .* or more"):
        TextLinear("binary", **params).fit(X, y)
