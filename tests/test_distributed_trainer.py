"""The image trainer (pipeline/vision/trainer.py) under DDP, 2 gloo processes on the CPU: gradient accumulation reduces
the gradients over the ranks once an optimizer step (DDP's no_sync before its last micro-batch), and a resume reads
last.pt on every rank that sees it rather than through a broadcast (pipeline/distributed.load_from_main)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import free_port, rank_environment, spawn_ranks

N, BATCH, ACCUM, EPOCHS = 48, 8, 2, 2  # 6 micro-batches of 8 rows (4 a rank) an epoch: 3 optimizer steps


def _fit(workdir: Path | None, resume: bool, epochs: int = EPOCHS) -> tuple[Any, list[int]]:
    """A tiny network fitted by the Trainer on N generated images (this rank's shards under DDP): its weights, and one
    entry per gradient all-reduce DDP made (one per bucket: a comm hook counts them)."""
    import torch
    from torch import nn
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    from pipeline import distributed
    from pipeline.training.runtime import Runtime
    from pipeline.vision.data import BatchNormalizer, ImageDataset
    from pipeline.vision.objectives import Softmax
    from pipeline.vision.trainer import TrainConfig, Trainer

    images = np.random.default_rng(0).integers(0, 255, (N, 6, 6, 3), dtype=np.uint8)
    train = ImageDataset([str(i) for i in range(N)], np.arange(N) % 3, None, images)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(108, 16), nn.Tanh(), nn.Linear(16, 3))
    reductions: list[int] = []
    wrap = distributed.wrap

    def hook(state, bucket):  # unannotated: DDP refuses a return annotation other than a Future
        reductions.append(1)
        return allreduce_hook(state, bucket)

    def counted(*args: Any, **kwargs: Any) -> Any:  # every DDP wrapper the trainer builds counts its all-reduces
        net = wrap(*args, **kwargs)
        if net is not model and not getattr(net, "_counted", False):
            net.register_comm_hook(None, hook)
            net._counted = True
        return net

    distributed.wrap = counted
    try:
        cfg = TrainConfig(epochs=epochs, batch_size=BATCH, accum_steps=ACCUM, lr=0.05, seed=3)
        rt = Runtime(workdir=workdir if distributed.is_main() else None, resume=resume)
        norm = BatchNormalizer((0.5,) * 3, (0.25,) * 3, "cpu", False)
        fitted = Trainer(cfg, rt, norm, Softmax(3)).fit(model, train)
    finally:
        distributed.wrap = wrap
    return torch.cat([p.detach().flatten() for p in fitted.parameters()]).numpy(), reductions


def _recording(payloads: dict[str, list[int]]) -> None:
    """torch.distributed's object broadcasts and point-to-point object sends record the bytes each carried."""
    import torch.distributed as dist

    for name in ("broadcast_object_list", "recv_object_list"):
        original = getattr(dist, name)

        def recorded(objects: list, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            out = _original(objects, *args, **kwargs)
            payloads[_name].append(len(pickle.dumps(objects)))
            return out

        setattr(dist, name, recorded)


def _worker(local_rank: int, world: int, port: int, out: str) -> None:
    """One rank: the accumulating fit with and without no_sync; a fit resumed from last.pt with every rank seeing the
    file, then with rank 1 seeing none (it gets rank 0's copy)."""
    rank_environment(local_rank, world, port)
    import contextlib

    import torch

    from pipeline import distributed
    from pipeline.contract import ContractError

    torch.set_num_threads(1)
    assert distributed.init_from_env()
    rank, folder = distributed.rank(), Path(out)
    weights, reductions = _fit(None, False)
    syncing = getattr(distributed, "syncing", None)
    distributed.syncing = lambda net, last: contextlib.nullcontext()  # every micro-batch reduced, as before no_sync
    try:
        always, always_reductions = _fit(None, False)
    finally:
        distributed.syncing = syncing
    np.save(folder / f"no_sync_rank{rank}.npy", weights)
    np.save(folder / f"always_rank{rank}.npy", always)

    payloads: dict[str, list[int]] = {"broadcast_object_list": [], "recv_object_list": []}
    _recording(payloads)
    first, _ = _fit(folder / "fit", False)
    seen = {}
    for case in ("visible", "blind"):
        if case == "blind" and rank == 1:
            distributed.file_key = lambda path: None  # as a rank on a node without the run folder
        payloads["broadcast_object_list"].clear()
        payloads["recv_object_list"].clear()
        resumed, _ = _fit(folder / "fit", True)  # the fit had finished: its weights, read from last.pt
        np.save(folder / f"resumed_{case}_rank{rank}.npy", resumed)
        seen[case] = {k: max(v, default=0) for k, v in payloads.items()}
    np.save(folder / f"first_rank{rank}.npy", first)

    def unreadable(path: Path) -> None:
        if rank == 0:
            raise ContractError(f"{path.name} is unreadable on rank 0")

    with pytest.raises(ContractError, match="last.pt is unreadable on rank 0"):  # on every rank, nobody hangs
        distributed.load_from_main(lambda: folder / "fit" / "last.pt", unreadable)
    assert distributed.load_from_main(lambda: None, unreadable) is None  # rank 0 found none: none anywhere
    counts = {"no_sync": len(reductions), "always": len(always_reductions), "payloads": seen}
    (folder / f"counts_rank{rank}.json").write_text(json.dumps(counts))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the 2 ranks of _worker wrote their weights and counts to."""

    out = tmp_path_factory.mktemp("ddp_trainer")
    spawn_ranks(_worker, (2, free_port(), str(out)))
    return out


def test_accumulated_micro_batches_are_reduced_once_a_step_with_the_same_weights(ranks: Path) -> None:
    # before: every micro-batch's backward all-reduced the gradients (accum_steps all-reduces an optimizer step)
    counts = [json.loads((ranks / f"counts_rank{r}.json").read_text()) for r in (0, 1)]
    for c in counts:
        assert c["no_sync"] > 0 and c["always"] == ACCUM * c["no_sync"], c
    start = np.load(ranks / "no_sync_rank0.npy")
    for r in (0, 1):
        no_sync, always = np.load(ranks / f"no_sync_rank{r}.npy"), np.load(ranks / f"always_rank{r}.npy")
        np.testing.assert_allclose(no_sync, always, rtol=1e-5, atol=1e-6)  # the mean gradient, summed another way
        np.testing.assert_array_equal(no_sync, start)  # every rank holds the same weights
    import torch
    from torch import nn

    torch.manual_seed(0)
    init = nn.Sequential(nn.Flatten(), nn.Linear(108, 16), nn.Tanh(), nn.Linear(16, 3))
    init_weights = torch.cat([p.detach().flatten() for p in init.parameters()]).numpy()
    assert np.abs(start - init_weights).max() > 1e-2  # it trained


def test_a_resume_reads_last_pt_on_every_rank_that_sees_it_and_sends_it_to_the_others(ranks: Path) -> None:
    # before: rank 0 read last.pt and broadcast it through the gloo group to every rank (2 GB for deberta-v3-base)
    size = (ranks / "fit" / "last.pt").stat().st_size
    counts = [json.loads((ranks / f"counts_rank{r}.json").read_text())["payloads"] for r in (0, 1)]
    first = np.load(ranks / "first_rank0.npy")
    for r in (0, 1):
        for case in ("visible", "blind"):
            np.testing.assert_array_equal(np.load(ranks / f"resumed_{case}_rank{r}.npy"), first)
        assert counts[r]["visible"]["broadcast_object_list"] < size / 4, (counts[r], size)  # a path and a key
        assert counts[r]["visible"]["recv_object_list"] == 0
    assert counts[1]["blind"]["recv_object_list"] > size / 2  # the rank that saw no file got rank 0's copy
    assert counts[0]["blind"]["recv_object_list"] == 0
