"""The transformer (pipeline/tabular/transformer.py): a pretrained transformer fine-tuned on each row's free text;
here a tiny random BERT saved locally (tests/transformer_fixtures.py), on the CPU, offline."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from pipeline.tabular.transformer import TextTransformer, row_texts
from tests.transformer_fixtures import marked_texts, tiny_bert, tiny_deberta, vocabulary, write_download

HUB_REPO, HUB_COMMIT = "tiny-org/tiny-bert", "0123456789abcdef0123456789abcdef01234567"
FAST = {"epochs": 6, "lr": 3e-3, "batch_size": 8, "max_length": 32}  # a tiny random network learns fast


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
    # random_state 1: the tiny random network leaves one of the three classes unlearnt from some seeds (0, 2, 3 of 0-4
    # at these settings: each epoch's batches and dropout seeded from the seed and the epoch)
    task = "binary" if classes == 2 else "multiclass"
    est = TextTransformer(task, arch=bert, random_state=1, **FAST).fit(X.iloc[:200], y[:200])
    proba = est.predict_proba(X.iloc[200:])
    assert proba.shape == (100, classes) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(est.classes_) == list(range(classes))
    accuracy = float(np.mean(est.predict(X.iloc[200:]) == y[200:]))
    assert accuracy > 0.9, accuracy  # chance: 1 / classes


def test_a_deberta_v3_folder_reads_its_sentencepiece_tokenizer_and_learns(tmp_path: Path) -> None:
    # DeBERTa-v3, Kaggle's usual text encoder, ships spm.model and no tokenizer.json: transformers converts it with
    # sentencepiece (pinned), where without it the tokenizer cannot load
    folder = tiny_deberta(tmp_path / "deberta", [*vocabulary(), ":", "|"])
    X, y = marked_texts(300, seed=4)
    est = TextTransformer("binary", arch=str(folder), **FAST).fit(X.iloc[:200], y[:200])
    assert type(est.model_).__name__ == "DebertaV2ForSequenceClassification"
    accuracy = float(np.mean(est.predict(X.iloc[200:]) == y[200:]))
    assert accuracy > 0.9, accuracy  # chance: 0.5


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


def test_a_text_longer_than_the_model_reads_is_cut_to_what_it_reads(bert: str) -> None:
    # the tiny BERT reads 64 positions; max_length 512 would index past its position embeddings
    X, y = marked_texts(40)
    X["text"] = [" ".join([text] * 20) for text in X["text"]]
    est = TextTransformer("binary", arch=bert, **(FAST | {"epochs": 1, "max_length": 512})).fit(X, y)
    assert max(map(len, est._tokens(X))) == 64 and est.predict_proba(X).shape == (40, 2)


def test_a_table_without_free_text_is_refused_naming_its_columns(bert: str) -> None:
    X, y = marked_texts(40)
    with pytest.raises(ValueError, match="no column holds free text.*kind"):
        TextTransformer("binary", arch=bert, **FAST).fit(X[["kind"]], y)


def test_the_deadline_stops_the_training(bert: str) -> None:
    import time
    from types import SimpleNamespace

    X, y = marked_texts(200, seed=3)
    said: list[str] = []
    asked: list[float] = []

    def training_deadline(keep: float) -> float:  # the runner's share from the training's start: 1 s
        asked.append(keep)
        return time.monotonic() + 1.0

    far = time.monotonic() + 3600
    context = SimpleNamespace(device="cpu", deadline=far, training_deadline=training_deadline, log=said.append)
    started = time.monotonic()
    est = TextTransformer("binary", arch=bert, **(FAST | {"epochs": 200})).fit(X, y, context=context)
    assert asked and time.monotonic() - started < 60
    assert est.steps_done_ < 200 * 13 and any("stopped at the deadline" in line for line in said)
    assert est.predict_proba(X.iloc[:5]).shape == (5, 2)


class Killed(Exception):
    pass


# the Kaggle recipe's settings (transformer_parts.py) resume too: two batches accumulated a step (5 steps an epoch, each
# epoch's batches the same 10), the mean-pooled head, layer-wise learning rates
@pytest.mark.parametrize(
    ("recipe", "steps"), [({}, 30), ({"accumulate": 2}, 15), ({"pooling": "mean"}, 30), ({"llrd": 0.8}, 30)]
)
def test_a_fit_killed_in_its_second_epoch_resumes_from_the_first_and_predicts_as_one_never_killed(
    bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recipe: dict, steps: int
) -> None:
    # before: nothing was saved between epochs, so a run killed in a fold's last epoch fine-tuned that fold again from
    # the pretrained weights on --resume
    from pipeline.contract import FitContext

    X, y = marked_texts(120, seed=7)
    params = FAST | {"epochs": 3} | recipe  # 80 rows in batches of 8: 10 batches an epoch
    said: list[str] = []

    def context(folder: str, resume: bool) -> FitContext:
        return FitContext(workdir=tmp_path / folder, resume=resume, progress=False, log=said.append)

    whole = TextTransformer("binary", arch=bert, **params).fit(X.iloc[:80], y[:80], context=context("whole", False))
    batch, calls = TextTransformer._batch, []  # a training step's batch (nothing is predicted here)

    def dies_in_epoch_two(self: TextTransformer, *args: object) -> dict:
        calls.append(1)
        if len(calls) == 15:
            raise Killed
        return batch(self, *args)

    monkeypatch.setattr(TextTransformer, "_batch", dies_in_epoch_two)
    with pytest.raises(Killed):
        TextTransformer("binary", arch=bert, **params).fit(X.iloc[:80], y[:80], context=context("killed", False))
    calls.clear()
    said.clear()
    monkeypatch.setattr(TextTransformer, "_batch", lambda self, *args: calls.append(1) or batch(self, *args))
    resumed = TextTransformer("binary", arch=bert, **params).fit(X.iloc[:80], y[:80], context=context("killed", True))
    assert "resume: continuing from epoch 1 of 3" in said and len(calls) == 20  # epochs 2 and 3 only
    assert resumed.steps_done_ == whole.steps_done_ == steps
    assert np.array_equal(resumed.predict_proba(X.iloc[80:]), whole.predict_proba(X.iloc[80:]))
    # resumed again once done: the finished fit's weights, no step taken
    calls.clear()
    again = TextTransformer("binary", arch=bert, **params).fit(X.iloc[:80], y[:80], context=context("killed", True))
    assert not calls and np.array_equal(again.predict_proba(X.iloc[80:]), whole.predict_proba(X.iloc[80:]))


def test_each_epoch_is_scored_on_the_validation_rows_logged_written_and_reported(bert: str, tmp_path: Path) -> None:
    # before: the fit ignored the context's validation rows, metric and pruner: the log said nothing per epoch
    from sklearn.metrics import roc_auc_score

    from pipeline.contract import FitContext, Metric

    X, y = marked_texts(120, seed=8)
    said: list[str] = []
    reports: list[dict] = []
    context = FitContext(
        workdir=tmp_path / "fold0",
        eval_set=(X.iloc[80:], y[80:]),
        score=lambda t, p: roc_auc_score(t, p[:, 1]),
        metric=Metric("auc", True),
        log=said.append,
        report=reports.append,
        model="transformer",
        progress=False,
    )
    est = TextTransformer("binary", arch=bert, **(FAST | {"epochs": 3})).fit(X.iloc[:80], y[:80], context=context)
    lines = [line for line in said if line.startswith("transformer epoch")]
    assert [line.split(":")[0] for line in lines] == [f"transformer epoch {k}/3" for k in (1, 2, 3)]
    assert all(", auc 0." in line or ", auc 1.0000" in line for line in lines), lines
    assert [r["epoch"] for r in reports] == [0, 1, 2] and {r["model"] for r in reports} == {"transformer"}
    history = json.loads((tmp_path / "fold0" / "history.json").read_text())
    assert [row["valid_score"] for row in history] == [r["score"] for r in reports]
    assert [row["epoch"] for row in history] == [1, 2, 3] and all(row["train_loss"] > 0 for row in history)
    # the epoch's loss is the mean over its rows: a fresh head's cross-entropy on two classes starts near ln 2 (before:
    # each step's last batch's mean loss summed, over the rows: batch_size times too small)
    assert 0.5 < history[0]["train_loss"] < 1.0, history[0]
    # the last epoch's weights are kept, whatever the scores: its score is that of the fitted model's predictions
    assert reports[-1]["score"] == roc_auc_score(y[80:], est.predict_proba(X.iloc[80:])[:, 1])


def test_new_offers_the_transformer_and_its_run_submits_and_predicts_again(
    bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # `new` on a download with free text: the transformer is not among the models a CPU run pays for, but one
    # preset away; `run --preset transformer` fine-tunes it beside them (here a tiny local BERT), its out-of-fold
    # AUC far above chance, the submission valid, and the saved fold models predict the test set again
    import json

    import pandas as pd

    from pipeline.cli import main
    from pipeline.contract import load_competition

    monkeypatch.chdir(tmp_path)
    folder, comps = tmp_path / "transformer_tweets", tmp_path / "comps"
    write_download(folder)
    assert main(["new", "transformer_tweets", "--data", str(folder), "--into", str(comps), "--metric", "roc_auc"]) == 0
    out = capsys.readouterr().out
    assert "a pretrained transformer fine-tuned on the free text with --preset transformer" in out
    module = load_competition(str(comps / "transformer_tweets"))
    assert "transformer" not in module.Config().models
    assert module.PRESETS["transformer"]["models"] == (*module.Config().models, "transformer")
    lines = (comps / "transformer_tweets" / "__init__.py").read_text().splitlines()
    comment = " ".join(line.removeprefix("# ") for line in lines)  # the command, wrapped where it is long
    assert f"`python -m pipeline weights {comps / 'transformer_tweets'} --preset transformer --download`" in comment
    sets = [f"transformer_arch={bert}", "transformer_lr=0.003", "transformer_epochs=6", "transformer_max_length=32"]
    sets += ["transformer_batch_size=8"]
    run = ["run", str(comps / "transformer_tweets"), "--data", str(folder), "--folds", "3", "--quiet"]
    sets += ["models=linear,transformer"]  # the preset's models, less the boosters' time
    assert main([*run, "--preset", "transformer", *[a for s in sets for a in ("--set", s)]]) == 0
    (run_dir,) = (tmp_path / "runs" / "transformer_tweets").glob("*")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["models"]["transformer"]["mean"] > 0.9, summary["models"]
    submission = pd.read_csv(run_dir / "submission.csv")
    assert list(submission["id"]) == list(range(180, 240)) and submission["label"].between(0, 1).all()
    again = tmp_path / "again"
    assert main(["predict", str(run_dir), "--data", str(folder), "--out", str(again), "--quiet"]) == 0
    assert (again / "submission.csv").read_bytes() == (run_dir / "submission.csv").read_bytes()
    # its package ships transformers and sentencepiece at the versions it trained with, whatever --deps says
    from pipeline.commands import package

    monkeypatch.setattr(package, "build_wheels", lambda dest, deps, python: [])
    assert main(["package", str(run_dir), "--out", "pkg", "--deps", "py7zr"]) == 0
    manifest = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert manifest["deps"] == ["py7zr", "transformers", "sentencepiece"]
    assert manifest["versions"]["transformers"] and manifest["versions"]["sentencepiece"]


def test_a_run_killed_in_its_second_fold_resumes_that_fold_from_its_checkpoint_and_submits_the_same_bytes(
    bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: `run --resume` fine-tuned the killed fold again from the pretrained weights, and the log showed nothing
    # per epoch
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    folder, comps = tmp_path / "transformer_resume_tweets", tmp_path / "comps"
    write_download(folder)
    assert main(["new", "transformer_resume_tweets", "--data", str(folder), "--into", str(comps)]) == 0
    sets = [f"transformer_arch={bert}", "transformer_lr=0.003", "transformer_epochs=2", "transformer_max_length=32"]
    sets += ["transformer_batch_size=8", "models=transformer"]
    run = ["run", str(comps / "transformer_resume_tweets"), "--data", str(folder), "--folds", "2", "--quiet"]
    run += [a for s in sets for a in ("--set", s)]
    assert main([*run, "--tag", "whole"]) == 0
    fit, batch, seen = TextTransformer.fit, TextTransformer._batch, {"fold": -1, "batches": 0}

    def fit_noting_the_fold(self: TextTransformer, X: object, y: object, context: object = None) -> TextTransformer:
        seen["fold"] = getattr(context, "fold", -1)
        return fit(self, X, y, context=context)

    def dies_in_the_second_fold(self: TextTransformer, *args: object) -> dict:
        seen["batches"] += seen["fold"] == 1
        if seen["batches"] == 20:  # its second epoch: 12 training batches an epoch (6 more predict its 90 rows)
            raise Killed
        return batch(self, *args)

    monkeypatch.setattr(TextTransformer, "fit", fit_noting_the_fold)
    monkeypatch.setattr(TextTransformer, "_batch", dies_in_the_second_fold)
    with pytest.raises(Killed):
        main([*run, "--tag", "killed"])
    monkeypatch.setattr(TextTransformer, "_batch", batch)
    (whole,) = (tmp_path / "runs" / "transformer_resume_tweets").glob("*-whole")
    (killed,) = (tmp_path / "runs" / "transformer_resume_tweets").glob("*-killed")
    assert main([*run, "--resume", str(killed)]) == 0
    log = (killed / "log.txt").read_text()
    assert "resume: continuing from epoch 1 of 2" in log and "transformer epoch 2/2: loss" in log
    assert (killed / "submission.csv").read_bytes() == (whole / "submission.csv").read_bytes()
    assert (killed / "checkpoints" / "transformer" / "fold1" / "history.json").is_file()


def test_a_hub_model_not_cached_offline_is_refused_before_any_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder, comps = tmp_path / "transformer_refused", tmp_path / "comps"
    write_download(folder, n=60, n_train=40)
    assert main(["new", "transformer_refused", "--data", str(folder), "--into", str(comps)]) == 0
    capsys.readouterr()
    run = ["run", str(comps / "transformer_refused"), "--data", str(folder), "--preset", "transformer"]
    assert main(run) == 2
    err = capsys.readouterr().err
    assert "pretrained weights missing and HF_HUB_OFFLINE is set: microsoft/deberta-v3-base" in err
    assert f"python -m pipeline weights {comps / 'transformer_refused'} --preset transformer --download" in err
    assert "--set transformer_arch=DIR" in err and "pretrained_file" not in err
    assert not (tmp_path / "runs").exists()


def put_snapshot(hf_home: Path, repo: str, folder: Path, commit: str) -> None:
    """`folder`'s files as the Hub cache holds a snapshot of `repo`: blobs/<sha256>, snapshots/<commit>/<file> ->
    blob, refs/main; plus a file a snapshot leaves out (TF weights)."""
    import hashlib
    import os

    root = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "blobs").mkdir(parents=True)
    for path in [*folder.iterdir(), folder / "tf_model.h5"]:
        data = path.read_bytes() if path.exists() else b"not fetched"
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        snap = root / "snapshots" / commit / path.name
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.symlink_to(os.path.relpath(blob, snap.parent))
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)


def test_weights_exports_a_hub_snapshot_and_imports_it_where_the_model_fits_offline(
    bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # the model's folder (config, tokenizer, weights) in one machine's Hub cache: `weights --export` writes each of
    # its files, `weights --import` on an empty machine puts them in its cache, where the Hub id fits offline
    import json

    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder, comps, export = tmp_path / "transformer_export", tmp_path / "comps", tmp_path / "export"
    write_download(folder, n=60, n_train=40)
    assert main(["new", "transformer_export", "--data", str(folder), "--into", str(comps)]) == 0
    repo = "tiny-org/tiny-bert"
    weights = ["weights", str(comps / "transformer_export"), "--preset", "transformer", "--set"]
    weights += [f"transformer_arch={repo}"]
    put_snapshot(tmp_path / "here", repo, Path(bert), "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "here"))
    assert main([*weights, "--export", str(export)]) == 0
    files = sorted(e["filename"] for e in json.loads((export / "manifest.json").read_text())["weights"])
    assert files == sorted(p.name for p in Path(bert).iterdir())  # every file of the folder, no TF weights

    monkeypatch.setenv("HF_HOME", str(tmp_path / "there"))
    capsys.readouterr()
    assert main(weights) == 0
    listing = capsys.readouterr().out
    assert "cached: no" in listing
    assert f"{repo} (a snapshot: model.safetensors or pytorch_model.bin, config.json, tokenizer.json or" in listing
    assert main(["weights", "--import", str(export)]) == 0
    assert main(weights) == 0 and "cached: yes" in capsys.readouterr().out
    X, y = marked_texts(40)
    est = TextTransformer("binary", arch=repo, epochs=1, max_length=32).fit(X, y)
    assert str(tmp_path / "there") in est.tokenizer_.name_or_path


class _Hub(http.server.BaseHTTPRequestHandler):
    """A stand-in Hub of one repo snapshot (`files`: name -> bytes): its info and tree (what snapshot_download lists)
    and each file's resolve URL."""

    files: dict[str, bytes] = {}

    def _send(self, body: bytes, headers: dict[str, str], get: bool) -> None:
        self.send_response(200)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if get:
            self.wfile.write(body)

    def _answer(self, get: bool) -> None:
        path = urllib.parse.urlparse(self.path).path
        if path.startswith("/api/models/") and "/revision/" in path:
            info = {"id": HUB_REPO, "sha": HUB_COMMIT, "siblings": [{"rfilename": n} for n in self.files]}
            return self._send(json.dumps(info).encode(), {"Content-Type": "application/json"}, get)
        if path.startswith("/api/models/") and "/tree/" in path:
            tree = [
                {"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for n, b in self.files.items()
            ]
            return self._send(json.dumps(tree).encode(), {"Content-Type": "application/json"}, get)
        name = path.rpartition("/")[2]
        if f"/{HUB_REPO}/resolve/" in path and name in self.files:
            body = self.files[name]
            etag = f'"{hashlib.sha256(body).hexdigest()}"'
            return self._send(body, {"ETag": etag, "X-Repo-Commit": HUB_COMMIT}, get)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def log_message(self, *args: object) -> None:
        pass


def test_weights_downloads_the_snapshot_a_hub_id_needs_and_the_model_fits_from_it_offline(
    bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    import threading

    from pipeline.cli import main
    from tests.helpers import subprocess_env

    files = {p.name: p.read_bytes() for p in Path(bert).iterdir()} | {"tf_model.h5": b"not wanted"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_Hub,), {"files": files}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.chdir(tmp_path)
    folder, comps = tmp_path / "transformer_download", tmp_path / "comps"
    write_download(folder, n=60, n_train=40)
    assert main(["new", "transformer_download", "--data", str(folder), "--into", str(comps)]) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}"}
    cmd = [sys.executable, "-m", "pipeline", "weights", str(comps / "transformer_download"), "--preset"]
    cmd += ["transformer", "--set", f"transformer_arch={HUB_REPO}", "--download"]
    env = subprocess_env(env, HF_HUB_DISABLE_TELEMETRY="1")
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cached: yes" in done.stdout
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = tmp_path / "hf" / "hub" / f"models--{HUB_REPO.replace('/', '--')}" / "snapshots" / HUB_COMMIT
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(p.name for p in Path(bert).iterdir())  # no TF file
    X, y = marked_texts(40)
    est = TextTransformer("binary", arch=HUB_REPO, epochs=1, max_length=32).fit(X, y)
    assert str(snapshot) in est.tokenizer_.name_or_path


def test_the_last_epochs_validation_rows_are_not_predicted_again(bert: str, tmp_path: Path) -> None:
    # before: the runner's out-of-fold prediction ran the network again over the rows the last epoch had just scored
    from sklearn.metrics import roc_auc_score

    from pipeline.contract import FitContext

    X, y = marked_texts(60, seed=9)
    valid = X.iloc[40:]
    context = FitContext(None, eval_set=(valid, y[40:]), score=lambda t, p: roc_auc_score(t, p[:, 1]), progress=False)
    est = TextTransformer("binary", arch=bert, **(FAST | {"epochs": 2})).fit(X.iloc[:40], y[:40], context=context)
    passes: list[int] = []
    est.model_.register_forward_hook(lambda *_: passes.append(1))
    again = est.predict_proba(valid.copy())  # the same rows in another frame, as the runner's take() gives them
    assert passes == []
    est._raw_memo = None
    fresh = est.predict_proba(valid)
    assert passes and np.array_equal(again, fresh)
    est.predict_proba(X.iloc[:40])
    assert len(passes) > 1  # other rows are predicted
