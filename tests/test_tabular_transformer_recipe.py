"""The transformer's Kaggle fine-tuning recipe (pipeline/tabular/transformer_parts.py): mean pooling, layer-wise
learning-rate decay and gradient accumulation, on tiny random models saved locally (tests/transformer_fixtures.py),
on the CPU, offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pipeline.tabular.transformer import TextTransformer
from tests.transformer_fixtures import marked_texts, tiny_bert, tiny_deberta, tiny_distilbert, vocabulary

FAST = {"epochs": 6, "lr": 3e-3, "batch_size": 8, "max_length": 32}  # a tiny random network learns fast


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_bert(tmp_path_factory.mktemp("tiny_bert"), vocabulary()))


@pytest.fixture(scope="module")
def still_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny BERT without dropout: a fit's weights depend on its rows and steps only."""
    folder = tmp_path_factory.mktemp("still_bert")
    return str(tiny_bert(folder, vocabulary(), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))


def optimizers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """The optimizer and scheduler of each fit from here on, as the fit made them."""
    made: list[tuple[Any, Any]] = []
    optimizer = TextTransformer._optimizer

    def noting(self: TextTransformer, steps: int) -> tuple[Any, Any]:
        made.append(optimizer(self, steps))
        return made[-1]

    monkeypatch.setattr(TextTransformer, "_optimizer", noting)
    return made


def rates(est: TextTransformer, opt: Any) -> dict[str, tuple[float, float]]:
    """Each parameter's peak learning rate and weight decay in `opt`, by name."""
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    return {
        n: (group_of[id(p)]["initial_lr"], group_of[id(p)]["weight_decay"]) for n, p in est.model_.named_parameters()
    }


def test_mean_pooling_learns_saves_and_predicts_other_than_the_models_own_head(bert: str, tmp_path: Path) -> None:
    X, y = marked_texts(300, seed=2)
    mean = TextTransformer("binary", arch=bert, pooling="mean", **FAST).fit(X.iloc[:200], y[:200])
    assert type(mean.model_).__name__ == "MeanPooled"
    accuracy = float(np.mean(mean.predict(X.iloc[200:]) == y[200:]))
    assert accuracy > 0.9, accuracy  # chance: 0.5
    proba = mean.predict_proba(X.iloc[200:])
    cls = TextTransformer("binary", arch=bert, **FAST).fit(X.iloc[:200], y[:200])
    assert type(cls.model_).__name__ == "BertForSequenceClassification"
    assert not np.allclose(proba, cls.predict_proba(X.iloc[200:]), atol=1e-3)
    mean.save_fitted(tmp_path / "fold0.pt")
    loaded = TextTransformer.load_fitted(tmp_path / "fold0.pt", device="cpu")
    assert type(loaded.model_).__name__ == "MeanPooled" and loaded.pooling == "mean"
    assert np.array_equal(loaded.predict_proba(X.iloc[200:]), proba)


def test_mean_pooling_fits_a_deberta_v2_regression(tmp_path: Path) -> None:
    folder = tiny_deberta(tmp_path / "deberta", [*vocabulary(), ":", "|"])
    X, label = marked_texts(300, seed=4)
    y = 10.0 + 5.0 * label + np.random.default_rng(4).normal(0, 0.5, len(label))
    est = TextTransformer("regression", arch=str(folder), pooling="mean", **FAST).fit(X.iloc[:200], y[:200])
    error = np.sqrt(np.mean((est.predict(X.iloc[200:]) - y[200:]) ** 2))
    assert error < 0.4 * y[200:].std(), error  # the mean's error: the std


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_layer_wise_decay_gives_each_layer_its_rate_and_1_gives_the_plain_groups(
    bert: str, pooling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = optimizers(monkeypatch)
    X, y = marked_texts(40, seed=1)
    params = {"epochs": 1, "lr": 0.01, "batch_size": 8, "max_length": 32, "pooling": pooling}
    plain = TextTransformer("binary", arch=bert, **params).fit(X, y)
    decayed = TextTransformer("binary", arch=bert, llrd=0.5, **params).fit(X, y)
    (opt, _), (decayed_opt, _) = made
    # 1.0: two groups at lr, the weights decayed, biases and norms (1-d) not: as without the setting
    assert [(g["initial_lr"], g["weight_decay"]) for g in opt.param_groups] == [(0.01, 0.01), (0.01, 0.0)]
    assert all((p.ndim > 1) == (g["weight_decay"] > 0) for g in opt.param_groups for p in g["params"])
    by_name = rates(decayed, decayed_opt)
    backbone = "bert." if pooling == "cls" else "backbone."
    head = "classifier." if pooling == "cls" else "head."
    expected = {head: 0.01, f"{backbone}pooler.": 0.01, f"{backbone}encoder.layer.1.": 0.005}
    expected |= {f"{backbone}encoder.layer.0.": 0.0025, f"{backbone}embeddings.": 0.00125}
    for prefix, lr in expected.items():
        found = {n: r for n, r in by_name.items() if n.startswith(prefix)}
        assert found and all(r[0] == pytest.approx(lr) for r in found.values()), (prefix, found)
    assert len(by_name) == len(dict(plain.model_.named_parameters()))  # every parameter in some group
    # one rule decides the weight decay, whatever the rate
    assert all((p.ndim > 1) == (by_name[n][1] > 0) for n, p in decayed.model_.named_parameters())
    assert decayed_opt.param_groups[0]["initial_lr"] == 0.01  # the head's rate first: the one the log shows
    assert not np.allclose(decayed.predict_proba(X), plain.predict_proba(X))


def test_layer_wise_decay_finds_deberta_v2s_layers_and_its_relative_embeddings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = optimizers(monkeypatch)
    folder = tiny_deberta(tmp_path / "deberta", [*vocabulary(), ":", "|"])
    X, y = marked_texts(40, seed=1)
    est = TextTransformer("binary", arch=str(folder), epochs=1, lr=0.01, max_length=32, llrd=0.8).fit(X, y)
    by_name = {n: lr for n, (lr, _) in rates(est, made[0][0]).items()}
    assert by_name["classifier.weight"] == by_name["pooler.dense.weight"] == pytest.approx(0.01)
    assert by_name["deberta.encoder.layer.1.attention.self.query_proj.weight"] == pytest.approx(0.01 * 0.8)
    assert by_name["deberta.encoder.layer.0.attention.self.query_proj.weight"] == pytest.approx(0.01 * 0.8**2)
    for name in ("deberta.embeddings.word_embeddings.weight", "deberta.encoder.rel_embeddings.weight"):
        assert by_name[name] == pytest.approx(0.01 * 0.8**3), name


def test_settings_that_cannot_work_are_refused_naming_them(bert: str, tmp_path: Path) -> None:
    X, y = marked_texts(40)
    for setting, value in [("pooling", "max"), ("llrd", 0.0), ("llrd", 1.5), ("accumulate", 0), ("accumulate", 1.5)]:
        with pytest.raises(ValueError, match=rf"transformer_{setting}\b.*got {re.escape(repr(value))}\."):
            TextTransformer("binary", arch=bert, **(FAST | {setting: value})).fit(X, y)
    distil = tiny_distilbert(tmp_path / "distilbert", vocabulary())  # layers named transformer.layer.<i>
    with pytest.raises(ValueError, match="transformer_llrd needs the encoder's layers.*DistilBertForSequence"):
        TextTransformer("binary", arch=str(distil), **(FAST | {"llrd": 0.8})).fit(X, y)
    est = TextTransformer("binary", arch=str(distil), **(FAST | {"epochs": 1, "pooling": "mean"})).fit(X, y)
    assert est.predict_proba(X).shape == (40, 2)  # mean pooling needs no layer names


def test_the_recipe_settings_reach_the_model() -> None:
    from pipeline.tabular.recipe import TabularRecipe, _transformer

    est = _transformer("binary", TabularRecipe())
    assert (est.pooling, est.llrd, est.accumulate) == ("cls", 1.0, 1)
    cfg = TabularRecipe(transformer_pooling="mean", transformer_llrd=0.85, transformer_accumulate=4)
    est = _transformer("binary", cfg)
    assert (est.pooling, est.llrd, est.accumulate) == ("mean", 0.85, 4)


def test_accumulating_two_batches_steps_as_one_batch_of_their_rows(
    still_bert: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = optimizers(monkeypatch)
    X, y = marked_texts(80, seed=6)
    params = {"epochs": 2, "lr": 3e-3, "max_length": 32}
    accumulated = TextTransformer("binary", arch=still_bert, batch_size=4, accumulate=2, **params).fit(X, y)
    large = TextTransformer("binary", arch=still_bert, batch_size=8, **params).fit(X, y)
    small = TextTransformer("binary", arch=still_bert, batch_size=4, **params).fit(X, y)
    weights = [est.model_.state_dict() for est in (accumulated, large, small)]
    assert all(torch.allclose(weights[0][k], weights[1][k], atol=1e-5) for k in weights[0])
    assert not all(torch.allclose(weights[0][k], weights[2][k], atol=1e-3) for k in weights[0])
    # 80 rows an epoch: 10 optimizer (and scheduler) steps of 8 rows, where batches of 4 alone step 20 times
    assert [sched.last_epoch for _, sched in made] == [20, 20, 40]
    assert (accumulated.steps_done_, small.steps_done_) == (20, 40)


def test_an_epochs_last_short_step_is_taken_and_the_scaled_gradients_unscaled_once_a_step(
    still_bert: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 75 rows, 3 batches of at most 4 a step: 7 steps an epoch, of 11 or 10 rows; fp16's GradScaler (here on the CPU,
    # where the fit leaves it off) scales each batch's loss and unscales once before the step: the same weights
    X, y = marked_texts(75, seed=6)
    params = {"epochs": 2, "lr": 3e-3, "max_length": 32, "batch_size": 4, "accumulate": 3}
    plain = TextTransformer("binary", arch=still_bert, **params).fit(X, y)
    scaler = torch.amp.GradScaler
    monkeypatch.setattr(torch.amp, "GradScaler", lambda enabled: scaler("cpu", init_scale=2.0**12))
    scaled = TextTransformer("binary", arch=still_bert, **params).fit(X, y)
    assert plain.steps_done_ == scaled.steps_done_ == 14
    one, other = plain.model_.state_dict(), scaled.model_.state_dict()
    assert all(torch.allclose(one[k], other[k], atol=1e-5) for k in one)
    larger = TextTransformer("binary", arch=still_bert, **(params | {"batch_size": 12, "accumulate": 1})).fit(X, y)
    assert all(torch.allclose(one[k], larger.model_.state_dict()[k], atol=1e-5) for k in one)  # the same rows a step
