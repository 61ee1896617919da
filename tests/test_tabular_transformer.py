"""The transformer (pipeline/tabular/transformer.py): a pretrained transformer fine-tuned on each row's free text;
here a tiny random BERT saved locally (tests/transformer_fixtures.py), on the CPU, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.tabular.transformer import TextTransformer, row_texts
from tests.transformer_fixtures import marked_texts, tiny_bert, vocabulary

FAST = {"epochs": 6, "lr": 3e-3, "batch_size": 16, "max_length": 32}  # a tiny random network learns fast


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_bert(tmp_path_factory.mktemp("tiny_bert"), vocabulary()))


def test_each_row_reads_as_its_short_columns_then_its_text() -> None:
    X, _ = marked_texts(3)
    X.loc[1, "kind"] = np.nan
    texts = row_texts(X, ["kind"], ["text", "absent"])
    assert texts[0] == f"kind: {X.loc[0, 'kind']} | text: {X.loc[0, 'text']}"
    assert texts[1] == f"text: {X.loc[1, 'text']}"  # a missing value, and a column the rows lack, left out


@pytest.mark.parametrize("classes", [2, 3])
def test_it_learns_the_word_that_carries_the_label(bert: str, classes: int) -> None:
    X, y = marked_texts(300, classes=classes, seed=classes)
    est = TextTransformer("binary" if classes == 2 else "multiclass", arch=bert, **FAST).fit(X.iloc[:200], y[:200])
    proba = est.predict_proba(X.iloc[200:])
    assert proba.shape == (100, classes) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(est.classes_) == list(range(classes))
    accuracy = float(np.mean(est.predict(X.iloc[200:]) == y[200:]))
    assert accuracy > 0.9, accuracy  # chance: 1 / classes


def test_a_regression_is_fitted_standardised_and_predicted_on_the_targets_scale(bert: str) -> None:
    X, label = marked_texts(300, seed=5)
    y = np.exp(3.0 + 2.0 * label + np.random.default_rng(5).normal(0, 0.1, len(label)))  # 20 or 148
    est = TextTransformer("regression", arch=bert, target_transform="log1p", **FAST).fit(X.iloc[:200], y[:200])
    pred = est.predict(X.iloc[200:])
    assert abs(est.y_mean_ - np.log1p(y[:200]).mean()) < 1e-9
    error = np.sqrt(np.mean((np.log1p(pred) - np.log1p(y[200:])) ** 2))
    assert error < 0.4 * np.log1p(y[200:]).std(), error  # the mean's error: the std


def test_two_seeded_fits_predict_the_same_and_a_saved_one_predicts_as_fitted(bert: str, tmp_path: Path) -> None:
    X, y = marked_texts(120, seed=9)
    first = TextTransformer("binary", arch=bert, **FAST).fit(X.iloc[:80], y[:80])
    second = TextTransformer("binary", arch=bert, **FAST).fit(X.iloc[:80], y[:80])
    other = TextTransformer("binary", arch=bert, random_state=1, **FAST).fit(X.iloc[:80], y[:80])
    proba = first.predict_proba(X.iloc[80:])
    assert np.array_equal(proba, second.predict_proba(X.iloc[80:]))
    assert not np.allclose(proba, other.predict_proba(X.iloc[80:]))  # the seed is what makes them equal
    first.save_fitted(tmp_path / "fold0.pt")
    loaded = TextTransformer.load_fitted(tmp_path / "fold0.pt", device="cpu")
    assert np.array_equal(loaded.predict_proba(X.iloc[80:]), proba)


def test_a_table_without_free_text_is_refused_naming_its_columns(bert: str) -> None:
    X, y = marked_texts(40)
    with pytest.raises(ValueError, match="no column holds free text.*kind"):
        TextTransformer("binary", arch=bert, **FAST).fit(X[["kind"]], y)


def test_the_deadline_stops_the_training(bert: str) -> None:
    import time
    from types import SimpleNamespace

    X, y = marked_texts(200, seed=3)
    said: list[str] = []
    context = SimpleNamespace(device="cpu", deadline=time.monotonic() + 0.5, predict_rows=0, log=said.append)
    est = TextTransformer("binary", arch=bert, **(FAST | {"epochs": 200})).fit(X, y, context=context)
    assert est.steps_done_ < 200 * 13 and said and "deadline" in said[0]
    assert est.predict_proba(X.iloc[:5]).shape == (5, 2)
