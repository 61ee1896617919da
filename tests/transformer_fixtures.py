"""A tiny random BERT saved as a local model folder, texts whose label a word carries and a download of them: the
transformer's tests (tests/test_tabular_transformer*.py, tests/test_transformer_distributed.py) fine-tune it on the
CPU, offline, in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "|"]
FILLER = [f"w{i}" for i in range(40)]  # words of no meaning
MARKS = ["good", "bad", "odd"]  # the words that carry the label: class k holds MARKS[k]


def tiny_bert(folder: Path, words: list[str], seed: int = 0, **config: float) -> Path:
    """A random 2-layer BERT (hidden 32, 2 heads), initialised from `seed`, and its WordPiece tokenizer over `words`,
    saved in `folder`; `config`: BertConfig's settings over these (hidden_dropout_prob=0: no dropout)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(dict.fromkeys([*SPECIALS, *words]))}
    # the longest text the model reads, as a pretrained tokenizer declares it (RoBERTa's 512)
    BertTokenizerFast(vocab=vocab, model_max_length=64).save_pretrained(folder)
    settings = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **config,
    )
    torch.manual_seed(seed)
    BertModel(settings).save_pretrained(folder)
    return folder


def marked_texts(n: int, classes: int = 2, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """n texts of 4 to 10 filler words, one of them replaced by MARKS[label]; a category column of no signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, rng.integers(4, 11)))
        words[rng.integers(0, len(words))] = MARKS[label]
        texts.append(" ".join(words))
    return pd.DataFrame({"kind": rng.choice(["w1", "w2"], n), "text": texts}), y


def vocabulary() -> list[str]:
    """The words of marked_texts and its column names."""
    return [*FILLER, *MARKS, "kind", "text"]


def tiny_deberta(folder: Path, words: list[str], seed: int = 0) -> Path:
    """A random 2-layer DeBERTa-v2 laid out as microsoft/deberta-v3-base is on the Hub: a SentencePiece `spm.model`
    (trained here on `words`), a tokenizer_config.json naming no tokenizer class, config.json and the weights; no
    tokenizer.json, so the tokenizer is converted from spm.model (sentencepiece's work)."""
    import json

    import sentencepiece as spm
    import torch
    from transformers import DebertaV2Config, DebertaV2Model

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(500)) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "spm"),
        model_type="word",  # a piece a word: the tiny model learns which word carries the label at once
        vocab_size=len(set(words)) + 5,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
    )
    corpus.unlink()
    (folder / "spm.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    config = DebertaV2Config(
        vocab_size=len(set(words)) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        norm_rel_ebd="layer_norm",
        position_biased_input=False,
    )
    torch.manual_seed(seed)
    DebertaV2Model(config).save_pretrained(folder)
    return folder


def tiny_distilbert(folder: Path, words: list[str], seed: int = 0) -> Path:
    """A random 2-layer DistilBERT (its layers named transformer.layer.<i>, not encoder.layer.<i>) and a WordPiece
    tokenizer over `words`, saved in `folder`."""
    import torch
    from transformers import BertTokenizerFast, DistilBertConfig, DistilBertModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(dict.fromkeys([*SPECIALS, *words]))}
    BertTokenizerFast(vocab=vocab, model_max_length=64).save_pretrained(folder)
    config = DistilBertConfig(
        vocab_size=len(vocab), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64
    )
    torch.manual_seed(seed)
    DistilBertModel(config).save_pretrained(folder)
    return folder


def write_download(folder: Path, n: int = 240, n_train: int = 180) -> None:
    """A download of marked texts: train.csv (id, kind, text, label), test.csv, sample_submission.csv."""
    X, y = marked_texts(n, seed=11)
    X.insert(0, "id", np.arange(n))
    folder.mkdir(parents=True)
    X.iloc[:n_train].assign(label=y[:n_train]).to_csv(folder / "train.csv", index=False)
    X.iloc[n_train:].to_csv(folder / "test.csv", index=False)
    X.iloc[n_train:][["id"]].assign(label=0.5).to_csv(folder / "sample_submission.csv", index=False)
