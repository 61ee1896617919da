"""Data-parallel training under torchrun: the process group, sharded epochs, rank-0 decisions and gathered outputs.

`torchrun --nproc_per_node N -m pipeline run ...` starts N copies of the run. Each joins one process group (NCCL on
GPUs, each rank on cuda:LOCAL_RANK; gloo on CPU). Every rank trains the same network wrapped in DDP on its shard of
each global batch; rank 0 alone writes the run folder and decides everything that depends on a clock or a file.
Outside torchrun (WORLD_SIZE unset or 1) every function here is a no-op and torch is not imported.

Choices (see docs/distributed.md):
- the global batch stays `batch_size`: each rank takes batch_size / world_size rows of every global batch, so the
  number of optimizer steps, the schedule and the gradients (averaged by DDP) are those of one process;
- the epoch's order is the single-process loader's permutation (same epoch seed), split with a stride over ranks;
- augmentation and dropout draw from a per-rank seed (rank 0 keeps the single-process seed), so ranks never apply
  the same random crop to the same position of their batch; mixup/cutmix use one lambda per step on every rank;
- evaluation and prediction are sharded (contiguous row ranges) and gathered, so every rank holds the same arrays;
- a clock (deadline progress) or a saved part is read on rank 0 and broadcast, so ranks never desync; a checkpoint
  is located by rank 0 and read by every rank that sees the same file (load_from_main), sent only to those that don't;
- gradient accumulation reduces over the ranks once an optimizer step (accumulating: DDP's no_sync before the last).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import os
import pickle
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pipeline.contract import ContractError

T = TypeVar("T")

# Rank-0 decisions, broadcasts and waits use a CPU (gloo) group with a long timeout (PIPELINE_DIST_TIMEOUT_S): ranks
# may wait there while rank 0 fits a model alone, writes a checkpoint or blends. A rank that dies is noticed by
# torchrun, which stops the others.
CONTROL_TIMEOUT_S = 6 * 3600

_state: dict[str, Any] | None = None


def env_world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def init_from_env() -> bool:
    """Join torchrun's process group once per process when WORLD_SIZE > 1; True when distributed.

    NCCL when CUDA is available (this process uses cuda:LOCAL_RANK), gloo otherwise. The group is destroyed at exit.
    """
    global _state
    if _state is not None:
        return True
    if env_world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if local >= torch.cuda.device_count():
            raise ContractError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) are visible on this node; "
                f"start at most {torch.cuda.device_count()} processes per node (--nproc_per_node)."
            )
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        device_id = torch.device("cuda", local) if backend == "nccl" else None
        dist.init_process_group(backend, device_id=device_id)
        atexit.register(_shutdown)
    backend = str(dist.get_backend())
    timeout = float(os.environ.get("PIPELINE_DIST_TIMEOUT_S") or CONTROL_TIMEOUT_S)
    control = dist.new_group(backend="gloo", timeout=dt.timedelta(seconds=timeout))
    _state = {
        "rank": dist.get_rank(),
        "world": dist.get_world_size(),
        "local_rank": local,
        "backend": backend,
        "control": control,
    }
    return True


def _shutdown() -> None:
    global _state
    import torch.distributed as dist

    _state = None
    if dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """True inside a distributed run (several processes in one group)."""
    return _state is not None and _state["world"] > 1


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """This process as if it ran by itself (active() False, rank 0 of 1) for the fit rank 0 makes alone while the other
    ranks wait for its result: an estimator inside it that would meet the other ranks in collectives of its own (an
    image network wrapped by a model that does not declare supports_ddp) trains as one process does, where its
    broadcasts met the waiting ranks' and ended the run."""
    global _state
    saved, _state = _state, None
    try:
        yield
    finally:
        _state = saved


def rank() -> int:
    """This process's global rank (0 outside a distributed run)."""
    return _state["rank"] if _state else 0


def world_size() -> int:
    """Processes in the run (1 outside a distributed run)."""
    return _state["world"] if _state else 1


def is_main() -> bool:
    """Rank 0: the only process that writes files, logs and shows progress."""
    return rank() == 0


def describe() -> dict[str, Any]:
    """World size, backend and this process's ranks, for env.json and the log."""
    if not _state:
        return {"world_size": 1}
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", "0") or 0) or None  # torchrun: the number of nodes (agents)
    return {"world_size": _state["world"], "backend": _state["backend"], "nnodes": nodes}


def local_device(device: str) -> str:
    """cuda:LOCAL_RANK for 'cuda' under NCCL; the device unchanged otherwise."""
    if active() and _state["backend"] == "nccl" and device.split(":")[0] == "cuda":
        return f"cuda:{_state['local_rank']}"
    return device


def shares_fit(estimator: Any) -> bool:
    """Whether every rank trains this estimator together (DDP): estimators that declare `supports_ddp = True`.

    Any other estimator (tabular models, the detector) is fitted by rank 0 alone in a distributed run.
    """
    return active() and bool(getattr(estimator, "supports_ddp", False))


# ---- decisions and collectives (all on the CPU control group) -------------------------------------------------------


def _control() -> Any:
    return _state["control"]


# What gloo raises in a collective when a peer process has gone (its own error ended it).
PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe")


class PeerStopped(ContractError):
    """Another rank of the run stopped while this one waited for it in a collective: its error is the one to read."""


@contextlib.contextmanager
def _peers() -> Iterator[None]:
    """A collective of the control group. When a peer stopped on an error of its own, gloo raises a RuntimeError of
    sockets and a traceback that hides the peer's message; this rank then stops with one line that points at it."""
    try:
        yield
    except RuntimeError as e:
        if not any(words in str(e) for words in PEER_GONE):
            raise
        raise PeerStopped(
            f"rank {rank()}: another process of this torchrun run stopped while this one waited for it; its own error "
            "says why (torchrun's summary lists each process's error)."
        ) from e


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it pickles, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def from_main(fn: Callable[[], T]) -> T:
    """fn() run on rank 0 only, its result (or its exception, raised on every rank) broadcast to all ranks."""
    if not active():
        return fn()
    import torch.distributed as dist

    box: list[Any] = [None]
    error: BaseException | None = None
    if is_main():
        try:
            box[0] = ("ok", fn())
        except Exception as e:
            error = e
            box[0] = ("error", _portable(e))
    with _peers():
        dist.broadcast_object_list(box, src=0, group=_control())
    if error is not None:
        raise error
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def agree(value: T) -> T:
    """Rank 0's value on every rank (a stop decision, the schedule's progress under a deadline)."""
    return from_main(lambda: value)


def in_turn(fn: Callable[[], T]) -> T:
    """fn() on rank 0, then on the first process of each other node, then on the rest; errors raised on every rank.

    For preparing shared files (extracting the data, writing the built-in sample): one process per filesystem
    writes them while the others wait, then finds them complete.
    """
    if not active():
        return fn()
    import torch.distributed as dist

    turn = 0 if rank() == 0 else 1 if _state["local_rank"] == 0 else 2
    result: Any = None
    for phase in range(3):
        error: BaseException | None = None
        if phase == turn:
            try:
                result = fn()
            except Exception as e:
                error = e
        errors: list[Any] = [None] * world_size()
        with _peers():
            dist.all_gather_object(errors, _portable(error) if error is not None else None, group=_control())
        if error is not None:
            raise error
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
    return result


# Bytes of a file's start and of its end hashed into its key (file_key). torch.save writes a zip whose end is the
# central directory, which holds the CRC-32 of every record: the key covers a checkpoint's content, read in a few ms.
KEY_BYTES = 1 << 20


def file_key(path: Path) -> tuple[int, int, str] | None:
    """(size, mtime in ns, a digest of the first and last KEY_BYTES bytes): what tells a rank that the file it sees at
    a path is the one rank 0 sees; None where this process sees no regular file there."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            head = f.read(KEY_BYTES)
            f.seek(max(st.st_size - KEY_BYTES, 0))
            tail = f.read(KEY_BYTES)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, hashlib.blake2b(head + tail, digest_size=16).hexdigest()


def load_from_main(locate: Callable[[], Path | None], load: Callable[[Path], T]) -> T | None:
    """load(path) of the file rank 0 locates (locate() runs on rank 0 only; None there: None on every rank), on every
    rank: rank 0 broadcasts the path and its file_key; each rank that sees the same file there (its key equal, before
    and after reading it: a single node, a shared filesystem) loads it itself, and rank 0 sends its own copy to the
    others only (a node without the file, a rank whose read failed). An error of rank 0's (its locate or load) is
    raised on every rank. Outside a distributed run: load(locate()) when it locates a file."""
    if not active():
        path = locate()
        return None if path is None else load(path)
    found = from_main(lambda: _located(locate()))
    if found is None:
        return None
    path, key = Path(found[0]), found[1]
    value: Any = None
    status: Any = "copy"  # what this rank tells the others: "ok" (it has the value), "copy" (it needs rank 0's)
    if is_main():
        try:
            value, status = load(path), "ok"
        except Exception as e:
            status = e
    elif key is not None and file_key(path) == key:
        with contextlib.suppress(Exception):  # a read that fails here gets rank 0's copy
            value = load(path)
            status = "ok" if file_key(path) == key else "copy"  # not replaced while it was read
    return _send_to_the_rest(value, status)


def _located(path: Path | None) -> tuple[str, tuple[int, int, str] | None] | None:
    """The path rank 0 located, with its key, for the other ranks to find it by."""
    return None if path is None else (str(path), file_key(path))


def _send_to_the_rest(value: T, status: Any) -> T:
    """`value` on every rank: each rank's own where its `status` is "ok", rank 0's sent to those whose is "copy";
    rank 0's error (its status an exception) raised on every rank."""
    import torch.distributed as dist

    statuses: list[Any] = [None] * world_size()
    with _peers():
        dist.all_gather_object(
            statuses, _portable(status) if isinstance(status, BaseException) else status, group=_control()
        )
    if isinstance(status, BaseException):
        raise status
    if isinstance(statuses[0], BaseException):
        raise statuses[0]
    wanting = [r for r, s in enumerate(statuses) if s == "copy"]
    with _peers():
        if is_main():
            for r in wanting:
                dist.send_object_list([value], dst=r, group=_control())
        elif rank() in wanting:
            box: list[Any] = [None]
            dist.recv_object_list(box, src=0, group=_control())
            value = box[0]
    return value


def barrier() -> None:
    """Wait for every rank (e.g. for rank 0 to finish writing the run folder)."""
    if active():
        import torch.distributed as dist

        with _peers():
            dist.barrier(group=_control())


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over ranks (float64)."""
    if not active():
        return list(values)
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    with _peers():
        dist.all_reduce(t, group=_control())
    return t.tolist()


def mean_over_ranks(total: Any, count: int) -> tuple[float, int]:
    """(sum of total over ranks / sum of count, sum of count): a training loss summed per row, as one process has it."""
    if not active():
        return (total / max(count, 1)).item() if hasattr(total, "item") else total / max(count, 1), count
    s, n = all_sum([float(total), count])
    return s / max(n, 1), int(n)


def shard_range(n: int) -> tuple[int, int]:
    """This rank's contiguous rows [lo, hi) of n (sizes differ by at most one; empty when n < world size)."""
    return n * rank() // world_size(), n * (rank() + 1) // world_size()


def gather_rows(local: np.ndarray) -> np.ndarray:
    """Every rank's rows concatenated in rank order (the inverse of shard_range), on every rank."""
    if not active():
        return local
    import torch.distributed as dist

    parts: list[Any] = [None] * world_size()
    with _peers():
        dist.all_gather_object(parts, np.asarray(local), group=_control())
    return np.concatenate(parts)


# ---- sharded training epochs ----------------------------------------------------------------------------------------


def shard_indices(order: np.ndarray, batch_size: int, rank_: int, world: int, drop_last: bool) -> np.ndarray:
    """Rank `rank_`'s rows of an epoch: every global batch of `batch_size` rows split with a stride over ranks.

    Local batch b of every rank (batch_size / world rows) together make global batch b of one process. With
    drop_last the incomplete last batch is dropped (as one process does); without, rows are repeated from the start
    so every rank gets as many rows.
    """
    n = len(order)
    if drop_last:
        order = order[: n // batch_size * batch_size]
    else:
        pad = -n % world
        order = np.concatenate([order, order[:pad]]) if pad else order
    return order[rank_::world]


def rank_seed(seed: int) -> int:
    """A per-rank seed for dropout (augmentation is drawn per row, pipeline/training/data.py); rank 0 keeps `seed`
    (the single-process stream)."""
    if rank() == 0:
        return seed
    return int(np.random.SeedSequence([seed % 2**32, 7919, rank()]).generate_state(1)[0])


def check_batch_split(estimator: Any) -> None:
    """Refuse, before any fit, a batch_size that does not split evenly over the ranks, for an estimator every rank
    trains together whose ranks each take batch_size / world_size rows of every global batch (the image networks:
    train_rows). One that declares `ddp_any_batch = True` takes any batch size (the transformer: each rank takes a
    stride of each step's rows, transformer_parts.rank_batches)."""
    if not shares_fit(estimator) or getattr(estimator, "ddp_any_batch", False) or not hasattr(estimator, "get_params"):
        return
    batch = estimator.get_params(deep=False).get("batch_size")
    if isinstance(batch, int):
        local_batch_size(batch)


def local_batch_size(batch_size: int) -> int:
    """batch_size / world_size, refusing a global batch that does not split evenly over the ranks."""
    world = world_size()
    if batch_size % world:
        lo, hi = batch_size // world * world, -(-batch_size // world) * world
        raise ContractError(
            f"batch_size {batch_size} does not split evenly over {world} processes (each rank takes batch_size / "
            f"world_size rows of every global batch); use --set batch_size={lo or hi} or {hi}, or another "
            f"--nproc_per_node."
        )
    return batch_size // world


def train_rows(n: int, batch_size: int, seed: int, drop_last: bool) -> tuple[np.ndarray, int]:
    """The rows this process trains on in the epoch of `seed`, in order, and its batch size: the shuffled epoch in one
    process (without the incomplete last batch under drop_last), this rank's shard of it under DDP."""
    from pipeline.training.data import epoch_order, epoch_rows

    if not active():
        return epoch_rows(n, True, seed, batch_size, drop_last), batch_size
    local = local_batch_size(batch_size)
    return shard_indices(epoch_order(n, seed), batch_size, rank(), world_size(), drop_last), local


def syncing(net: Any, last: bool) -> contextlib.AbstractContextManager:
    """What a gradient-accumulation micro-batch's forward and backward run under: DDP's no_sync() (the gradients summed
    on this rank only) unless it is the optimizer step's `last`, whose backward reduces the summed gradients over the
    ranks once; nothing to do for a network that is not DDP-wrapped (one process)."""
    if last or not hasattr(net, "no_sync"):
        return contextlib.nullcontext()
    return net.no_sync()


def wrap(model: Any, device: str, sync_bn: bool = False, current: Any = None) -> Any:
    """The module to run the training forward through: DDP in a distributed run, the model itself otherwise.

    Rebuilt when the set of trainable parameters changed since `current` was built (DDP only reduces the gradients
    of parameters that required grad when it was built, e.g. a backbone unfrozen after a warm-up). `sync_bn` turns
    BatchNorm layers into SyncBatchNorm (statistics over the global batch; CUDA only).
    """
    if not active():
        return model
    import torch
    from torch.nn.parallel import DistributedDataParallel

    key = tuple(p.requires_grad for p in model.parameters())
    if current is not None and getattr(current, "_pipeline_trainable", None) == key:
        return current
    if sync_bn and not getattr(model, "_pipeline_sync_bn", False):
        if not device.startswith("cuda"):
            raise ContractError(
                "--sync-bn needs GPUs (torch's SyncBatchNorm runs on CUDA only); on CPU each rank normalises with "
                "its own batch statistics: run without --sync-bn."
            )
        from timm.layers import convert_sync_batchnorm

        converted = convert_sync_batchnorm(model)
        if converted is not model:
            raise ContractError("--sync-bn: the network itself is a BatchNorm layer; nothing to synchronise.")
        model._pipeline_sync_bn = True
    if current is not None and hasattr(current, "_remove_autograd_hooks"):
        current._remove_autograd_hooks()  # the old wrapper must not reduce gradients any more
    device_ids = [torch.device(device)] if device.startswith("cuda") else None
    ddp = DistributedDataParallel(model, device_ids=device_ids)  # buffers (BN statistics) follow rank 0
    ddp._pipeline_trainable = key
    return ddp
