"""The transformer (pipeline/tabular/transformer.py) under torchrun: every rank trains each fold's fine-tuning together
(DDP, pipeline/distributed.py), as one process would; 2 gloo processes on the CPU, the tiny BERT without dropout."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.tabular.transformer import TextTransformer
from tests.helpers import free_port, launch, rank_environment, spawn_ranks
from tests.transformer_fixtures import marked_texts, tiny_bert, vocabulary, write_download

# 83 training rows: 11 steps of 7 or 8 rows an epoch at batch 8, so most steps split unevenly over 2 ranks
N_TRAIN, N_TEST = 83, 40
BASE = {"epochs": 3, "lr": 1e-2, "batch_size": 8, "max_length": 32}
FITS = {  # name: settings; "pairs": batches of 2 rows, one step of 1 row an epoch (the second rank has none)
    "cls": {},
    "mean": {"pooling": "mean"},
    "cls_accumulate": {"batch_size": 4, "accumulate": 2},
    "mean_accumulate": {"pooling": "mean", "batch_size": 4, "accumulate": 2},
    "pairs": {"batch_size": 2, "epochs": 2},
    # steps of 3 rows in 3 batches of 1 (a batch size that does not split over 2 ranks): rank 0 forwards 2 batches a
    # step, rank 1 one
    "thirds": {"batch_size": 1, "accumulate": 3, "lr": 3e-3},
}
# measured: 2 processes vs 1 differ by at most 3e-7 in these probabilities (float sums in another order), where a fit
# on half of the rows differs by 0.3
PROBA_TOL = 1e-4
BATCH = TextTransformer._batch  # the rows' batch on the device, as the module defines it


@pytest.fixture(scope="module")
def still_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny BERT without dropout: a fit's weights depend on its rows and steps only."""
    folder = tmp_path_factory.mktemp("ddp_bert")
    return str(tiny_bert(folder, vocabulary(), hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize(
    ("rows", "batch_size", "accumulate"), [(83, 8, 1), (83, 4, 2), (41, 2, 3), (1, 8, 1), (3, 1, 4)]
)
def test_each_ranks_weighted_rows_make_one_processs_step(
    world: int, rows: int, batch_size: int, accumulate: int
) -> None:
    # each row's weight in the DDP-averaged gradient (its batch's weight / its rows / world) is 1 / the step's rows,
    # as in one process, however unevenly the rows split; every rank forwards at least one batch a step
    from pipeline.tabular.transformer_parts import rank_batches, step_batches

    order = np.random.default_rng(rows).permutation(rows)
    for batches in step_batches(order, batch_size, accumulate):
        step = np.concatenate(batches)
        weight = dict.fromkeys(step.tolist(), 0.0)
        for rank in range(world):
            mine = rank_batches(batches, rank, world)
            assert mine and len(mine) <= len(batches)
            for local, w in mine:
                assert len(local) <= -(-batch_size // world) or world == 1
                for row in local.tolist():
                    weight[row] += w / len(local) / world
        assert np.allclose(list(weight.values()), 1 / len(step)), weight


class Killed(Exception):
    pass


def _no_rows() -> dict[str, int]:
    """Rows and batches forwarded so far, training and predicting: none."""
    return dict.fromkeys(("train", "predict", "train_batches", "predict_batches"), 0)


def _counting(seen: dict[str, int], kill_at: int = 0) -> Any:
    """TextTransformer._batch that counts the rows each training and prediction batch holds (and the training
    batches), raising Killed at training batch `kill_at` (0: never)."""

    def counted(self: TextTransformer, ids: Any, rows: np.ndarray) -> dict:
        phase = "train" if self.model_.training else "predict"
        seen[phase] += len(rows)
        seen[f"{phase}_batches"] += 1
        if phase == "train" and seen["train_batches"] == kill_at:
            raise Killed
        return BATCH(self, ids, rows)

    return counted


def _worker(local_rank: int, world: int, port: int, bert: str, out: str) -> None:
    """One rank: each of FITS fitted and predicted by every rank together (its predictions and the rows it trained
    on and predicted written to `out`), then a fit killed in its second epoch and resumed."""
    rank_environment(local_rank, world, port)
    import torch

    from pipeline import distributed
    from pipeline.contract import FitContext

    torch.set_num_threads(1)
    assert distributed.init_from_env()
    rank, folder = distributed.rank(), Path(out)
    X, y = marked_texts(N_TRAIN + N_TEST, seed=12)
    counts: dict[str, dict[str, int]] = {}
    for name, settings in FITS.items():
        seen = _no_rows()
        TextTransformer._batch = _counting(seen)
        est = TextTransformer("binary", arch=bert, **(BASE | settings)).fit(X.iloc[:N_TRAIN], y[:N_TRAIN])
        np.save(folder / f"{name}_rank{rank}.npy", est.predict_proba(X.iloc[N_TRAIN:]))
        counts[name] = seen
    TextTransformer._batch = BATCH

    # killed in its second epoch, then resumed: rank 0 reads last.pt (no other rank has a workdir) for every rank
    said: list[str] = []

    def fit(run: str, resume: bool) -> TextTransformer:
        workdir = folder / run if rank == 0 else None
        context = FitContext(workdir=workdir, resume=resume, progress=False, log=said.append)
        return TextTransformer("binary", arch=bert, **BASE).fit(X.iloc[:N_TRAIN], y[:N_TRAIN], context=context)

    np.save(folder / f"whole_rank{rank}.npy", fit("whole", False).predict_proba(X.iloc[N_TRAIN:]))
    TextTransformer._batch = _counting(_no_rows(), kill_at=15)
    with pytest.raises(Killed):  # both ranks at the same step (11 an epoch): in epoch 2
        fit("killed", False)
    seen = _no_rows()
    TextTransformer._batch = _counting(seen)
    broadcast, sizes = torch.distributed.broadcast_object_list, []

    def recorded(objects: list, *args: Any, **kwargs: Any) -> Any:  # the bytes each object broadcast carries
        out = broadcast(objects, *args, **kwargs)
        sizes.append(len(pickle.dumps(objects)))
        return out

    torch.distributed.broadcast_object_list = recorded
    try:
        resumed = fit("killed", True)
    finally:
        torch.distributed.broadcast_object_list = broadcast
    counts["resumed"] = seen | {"steps": resumed.steps_done_, "largest_broadcast": max(sizes)}
    np.save(folder / f"resumed_rank{rank}.npy", resumed.predict_proba(X.iloc[N_TRAIN:]))
    assert "resume: continuing from epoch 1 of 3" in said  # on every rank: rank 0's checkpoint, read by each
    (folder / f"counts_rank{rank}.json").write_text(json.dumps(counts))


def test_two_ranks_fine_tune_together_as_one_process_and_resume_from_rank0s_checkpoint(
    still_bert: str, tmp_path: Path
) -> None:
    # before: each rank fine-tuned on every row by itself (the runner had rank 0 fit it alone, the others waiting)
    import torch

    from pipeline.tabular.transformer_parts import step_batches

    spawn_ranks(_worker, (2, free_port(), still_bert, str(tmp_path)), seconds=240)
    counts = [json.loads((tmp_path / f"counts_rank{r}.json").read_text()) for r in (0, 1)]
    X, y = marked_texts(N_TRAIN + N_TEST, seed=12)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker
    try:
        for name, settings in FITS.items():
            params = BASE | settings
            one = TextTransformer("binary", arch=still_bert, **params).fit(X.iloc[:N_TRAIN], y[:N_TRAIN])
            expected = one.predict_proba(X.iloc[N_TRAIN:])
            ranks = [np.load(tmp_path / f"{name}_rank{r}.npy") for r in (0, 1)]
            assert np.array_equal(ranks[0], ranks[1]), name  # every rank holds every row's predictions
            assert np.mean(expected.argmax(1) == y[N_TRAIN:]) > 0.8, name  # it learnt: the rows and steps matter
            assert np.abs(ranks[0] - expected).max() < PROBA_TOL, (name, np.abs(ranks[0] - expected).max())
            # each rank trained on its stride of every step's rows (one row at weight 0 in a step without any of its
            # own: "pairs"' step of 1 row) and predicted its share of the test rows, half of them (before: whole
            # batches, 14 rows on rank 0 and 26 on rank 1 at batch_size 8)
            steps = step_batches(np.arange(N_TRAIN), params["batch_size"], params.get("accumulate", 1))
            strides = [sum(max(1, len(np.concatenate(b)[r::2])) for b in steps) * params["epochs"] for r in (0, 1)]
            assert [c[name]["train"] for c in counts] == strides, (name, strides)
            predicted = [c[name]["predict"] for c in counts]
            assert sum(predicted) == N_TEST and max(predicted) - min(predicted) <= 1, (name, predicted)
    finally:
        torch.set_num_threads(threads)
    # resumed on both ranks from rank 0's last.pt, which each read itself (before: rank 0 broadcast it, the whole
    # checkpoint through the gloo group): epochs 2 and 3 only (11 steps each), as the fit never killed
    size = (tmp_path / "killed" / "last.pt").stat().st_size  # the finished fit's: weights, without AdamW's moments
    assert [c["resumed"]["largest_broadcast"] < size / 10 for c in counts] == [True, True], (counts, size)
    assert [c["resumed"]["train_batches"] for c in counts] == [22, 22]
    assert [c["resumed"]["steps"] for c in counts] == [33, 33]
    for r in (0, 1):
        assert np.array_equal(np.load(tmp_path / f"resumed_rank{r}.npy"), np.load(tmp_path / f"whole_rank{r}.npy"))
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == ["history.json", "last.pt"]
    assert TextTransformer.supports_ddp  # so the runner has every rank fit it


def test_torchrun_fine_tunes_a_text_competitions_transformer_on_every_rank_as_one_process_does(
    still_bert: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: the plan said "by rank 0 alone: transformer", the other rank waiting through every fold
    import pandas as pd
    import torch

    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    folder, comps = tmp_path / "transformer_ddp_tweets", tmp_path / "comps"
    write_download(folder)
    assert main(["new", "transformer_ddp_tweets", "--data", str(folder), "--into", str(comps)]) == 0
    sets = [f"transformer_arch={still_bert}", "transformer_lr=0.01", "transformer_epochs=3"]
    sets += ["transformer_max_length=32", "transformer_batch_size=8", "models=transformer"]
    run = ["run", str(comps / "transformer_ddp_tweets"), "--data", str(folder), "--folds", "2", "--quiet"]
    run += [a for s in sets for a in ("--set", s)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1)
    try:
        assert main([*run, "--tag", "one"]) == 0
    finally:
        torch.set_num_threads(threads)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    launch([*torchrun, "-m", "pipeline", *run, "--tag", "ddp"], tmp_path)
    (one,) = (tmp_path / "runs" / "transformer_ddp_tweets").glob("*-one")
    (ddp,) = (tmp_path / "runs" / "transformer_ddp_tweets").glob("*-ddp")

    log = (ddp / "log.txt").read_text()
    assert "2 processes (gloo); trained by every process: transformer" in log
    assert log.count("transformer epoch 1/3") == 2  # each fold's fine-tuning, logged once (by rank 0)
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, ddp))
    # ROC AUC ranks the rows: probabilities 1e-7 apart may swap two nearly tied ones (measured: 6e-5 apart)
    assert s1["cv"] > 0.9 and abs(s1["cv"] - s2["cv"]) < 2e-3, (s1["cv"], s2["cv"])
    oof1, oof2 = np.load(one / "oof" / "transformer.npy"), np.load(ddp / "oof" / "transformer.npy")
    assert np.abs(oof1 - oof2).max() < PROBA_TOL
    sub1, sub2 = pd.read_csv(one / "submission.csv"), pd.read_csv(ddp / "submission.csv")
    assert list(sub1["id"]) == list(sub2["id"]) and np.abs(sub1["label"] - sub2["label"]).max() < PROBA_TOL
    assert {str(p.relative_to(one)) for p in one.rglob("*") if p.is_file()} == {
        str(p.relative_to(ddp)) for p in ddp.rglob("*") if p.is_file()
    }  # only rank 0 wrote: the files of one process's run
