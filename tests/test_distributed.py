"""Distributed data parallel runs: 2 gloo processes on CPU match one process, and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers import free_port, launch, rank_environment, spawn_ranks
from toy import make_toy

from pipeline.distributed import shard_indices
from pipeline.training.data import epoch_order

# Measured on the sample (2 cores): 2 processes vs 1 differ by 0.006 in OOF probabilities, as much as two
# single-process runs with 1 and 2 threads do (float sums in another order, amplified by training); labels agree.
PROBA_TOL = 0.03
CV_TOL = 2 / 120  # two of the 120 holdout images


@pytest.mark.parametrize("world", [1, 2, 4])
@pytest.mark.parametrize("n,batch", [(100, 16), (96, 32), (10, 16)])
def test_shards_are_disjoint_cover_the_epoch_and_rebuild_the_global_batches(world: int, n: int, batch: int) -> None:
    order = epoch_order(n, seed=1234)
    assert sorted(order.tolist()) == list(range(n))
    drop_last = n > batch
    shards = [shard_indices(order, batch, r, world, drop_last) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # every rank runs as many steps
    if drop_last:
        used = order[: n // batch * batch]
        assert sorted(np.concatenate(shards).tolist()) == sorted(used.tolist())  # disjoint and covering
        local = batch // world
        for b in range(n // batch):  # local batch b of every rank = global batch b of one process
            rows = np.concatenate([s[b * local : (b + 1) * local] for s in shards])
            assert sorted(rows.tolist()) == sorted(used[b * batch : (b + 1) * batch].tolist())
    else:  # one batch, padded so every rank gets as many rows
        assert set(np.concatenate(shards).tolist()) == set(range(n))


def test_epoch_order_is_the_single_process_loader_order_and_torchs_own() -> None:
    import torch
    from torch.utils.data import DataLoader

    from pipeline.vision.data import ImageDataset, make_loader

    n = 50
    dataset = ImageDataset([str(i) for i in range(n)], np.arange(n), None, np.zeros((n, 2, 2, 3), np.uint8))
    for seed in (0, 7, 123456789):
        seen = np.concatenate([yb.numpy() for _, yb in make_loader(dataset, 8, True, seed)])
        np.testing.assert_array_equal(seen, epoch_order(n, seed))
        # what a hand-written loop with a seeded generator visits (checked against the installed torch)
        plain = DataLoader(range(n), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(seed))
        np.testing.assert_array_equal(np.concatenate([b.numpy() for b in plain]), epoch_order(n, seed))


@pytest.fixture(scope="module")
def cifar_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in CIFAR-10 sample, generated once and linked into each test's working directory."""
    from competitions.cifar10.sample import write_sample
    from pipeline.datadir import MARKER

    folder = tmp_path_factory.mktemp("cifar") / "cifar10"
    folder.mkdir()
    write_sample(folder)
    (folder / MARKER).write_text("sample\n")
    return folder


def _link_sample(cwd: Path, folder: Path) -> None:
    (cwd / "data" / "sample").mkdir(parents=True, exist_ok=True)
    (cwd / "data" / "sample" / "cifar10").symlink_to(folder, target_is_directory=True)


def _check_gathered_outputs(images: np.ndarray, labels: np.ndarray) -> None:
    """On a rank: validation of values and of labels per image evaluates this rank's share, and every rank gets all
    rows' outputs in order, as one process computes them."""
    import torch
    from torch import nn

    from pipeline.training.runtime import Runtime
    from pipeline.vision.data import BatchNormalizer, ImageDataset
    from pipeline.vision.objectives import Regression, Sigmoid
    from pipeline.vision.trainer import TrainConfig, Trainer

    n = len(images)
    torch.manual_seed(0)
    head = nn.Sequential(nn.Flatten(), nn.Linear(48, 2)).eval()
    norm = BatchNormalizer((0.5,) * 3, (0.25,) * 3, "cpu", False)
    x_all = norm(torch.from_numpy(images))
    values = np.random.default_rng(1).normal(50, 10, (n, 2))
    for objective, targets in ((Regression(2).fit(values), values), (Sigmoid(2), np.eye(2)[labels % 2])):
        valid = ImageDataset([str(i) for i in range(n)], objective.targets(targets), None, images)
        outputs, _ = Trainer(TrainConfig(batch_size=4), Runtime(), norm, objective).evaluate(head, valid)
        with torch.no_grad():
            expected = objective.outputs(head(x_all)).numpy()
        np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-4)


def _worker(local_rank: int, world: int, port: int, toy: str, workdir: str) -> None:
    """One rank: exact sharded SGD in float64, rank-0 decisions, gathers, and a tabular run fitted by rank 0."""
    rank_environment(local_rank, world, port)
    import torch
    from torch import nn

    from pipeline import distributed
    from pipeline.contract import ContractError
    from pipeline.vision.data import ImageDataset, make_loader

    torch.set_num_threads(1)
    assert distributed.init_from_env() and distributed.world_size() == world
    rank = distributed.rank()

    # rank-0 decisions and gathers
    assert distributed.agree(rank + 10) == 10
    assert distributed.from_main(lambda: {"dir": "runs/x"}) == {"dir": "runs/x"}
    assert distributed.all_sum([1.0, rank]) == [world, sum(range(world))]
    lo, hi = distributed.shard_range(11)
    np.testing.assert_array_equal(distributed.gather_rows(np.arange(11)[lo:hi, None]), np.arange(11)[:, None])

    def fails_on_rank0() -> None:
        if rank == 0:
            raise ContractError("no data on rank 0")

    for call in (distributed.from_main, distributed.in_turn):
        with pytest.raises(ContractError, match="no data on rank 0"):  # raised on every rank, nobody hangs
            call(fails_on_rank0)

    # sharded DDP steps equal one process's steps on the global batch (float64: only rounding differs)
    n, batch = 40, 8
    images = np.random.default_rng(0).integers(0, 255, (n, 4, 4, 3), dtype=np.uint8)
    labels = np.arange(n) % 3
    dataset = ImageDataset([str(i) for i in range(n)], labels, None, images)

    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    def train(model: nn.Module, loaders: list) -> None:
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        forward = distributed.wrap(model, "cpu")
        for loader in loaders:
            for xb, yb in loader:
                loss = nn.functional.cross_entropy(forward(xb.double() / 255), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()

    ddp = net()
    loaders = []
    for seed in (1, 2):
        rows, local = distributed.train_rows(n, batch, seed, True)
        loaders.append(make_loader(dataset, local, False, seed, rows=rows))
    train(ddp, loaders)
    single = net()  # the same model trained in one process on the global batches
    opt = torch.optim.SGD(single.parameters(), lr=0.5, momentum=0.9)
    for seed in (1, 2):
        for xb, yb in make_loader(dataset, batch, True, seed, drop_last=True):
            loss = nn.functional.cross_entropy(single(xb.double() / 255), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(ddp.parameters(), single.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)

    _check_gathered_outputs(images, labels)

    # a tabular competition under torchrun: rank 0 fits the models, every rank ends, only rank 0 writes
    os.chdir(workdir)
    from pipeline.runner import RunOptions, run

    run_dir = run(RunOptions(competition=toy, sample=True, quiet=True, tag="ddp"))
    assert run_dir.name.endswith("-ddp-sample")

    # an image run stopped after 2 epochs, resumed with 3: rank 0 reads folds, parts and the checkpoint for everyone
    cifar = dict(competition="competitions/cifar10", sample=True, preset="fast", quiet=True)
    run_dir = run(RunOptions(**cifar, sets=["epochs=2", "batch_size=32"], tag="cut"))
    assert distributed.agree(str(run_dir)) == str(run_dir)
    run(RunOptions(**cifar, sets=["epochs=2", "batch_size=32", "epochs=3"], tag="cut", resume=str(run_dir)))


def test_two_gloo_processes_train_exactly_and_only_rank0_writes(tmp_path: Path, cifar_sample: Path) -> None:

    from pipeline.runner import RunOptions, run

    toy = str(make_toy(tmp_path / "comps", f"toy_{uuid.uuid4().hex[:8]}"))
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    ddp_dir.mkdir()
    single_dir.mkdir()
    _link_sample(ddp_dir, cifar_sample)
    cwd = os.getcwd()
    try:
        os.chdir(single_dir)
        single = run(RunOptions(competition=toy, sample=True, quiet=True, tag="one"))
    finally:
        os.chdir(cwd)
    spawn_ranks(_worker, (2, free_port(), toy, str(ddp_dir)))
    runs = sorted((ddp_dir / "runs").glob("toy_*/*"))
    assert len(runs) == 1, runs  # one run folder, written by rank 0
    assert "2 processes (gloo); by rank 0 alone: " in (runs[0] / "log.txt").read_text()  # the toy's tabular models
    assert _files(runs[0]) == _files(single)
    cut = list((ddp_dir / "runs" / "cifar10").iterdir())
    assert len(cut) == 1, cut
    log = (cut[0] / "log.txt").read_text()
    assert "resume: continuing from epoch 2 of 3" in log and log.count("run cifar10 ->") == 1
    history = json.loads(next(cut[0].glob("checkpoints/*/fold0/history.json")).read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert sorted(p.name for p in ddp_dir.iterdir()) == ["data", "runs", "submissions"]
    model_oofs = sorted(p.name for p in (single / "oof").iterdir())
    for name in model_oofs:  # tabular models fitted by rank 0 alone: the same numbers as one process
        np.testing.assert_array_equal(np.load(runs[0] / "oof" / name), np.load(single / "oof" / name))
    assert len(list((ddp_dir / "submissions").rglob("*.csv"))) == 2


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def test_a_refusal_one_rank_meets_alone_is_torchruns_root_cause(tmp_path: Path) -> None:
    # rank 1 alone refuses its settings; rank 0 goes on and waits for it in the data's preparation
    worker = Path(__file__).parent / "rank_alone.py"
    comp = Path(__file__).parents[1] / "competitions" / "titanic"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    out = launch([*torchrun, str(worker), "run", str(comp), "--data", "absent.zip", "--quiet"], tmp_path, status=1)
    root = out.split("Root Cause")[-1]
    assert "rank      : 1" in root and "Unknown --set key(s): no_such_setting" in root  # not "exitcode 2" alone
    # rank 0 says in one line why it stopped, not with gloo's socket traceback
    assert "error: rank 0: another process of this torchrun run stopped" in out
    assert "Connection reset by peer" not in out and "Connection closed by peer" not in out


def test_torchrun_two_processes_match_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cifar_sample: Path
) -> None:
    from pipeline.runner import RunOptions, run

    _link_sample(tmp_path, cifar_sample)
    # a network without BatchNorm: 2 ranks x 32 rows must train like 1 process x 64 rows, augmentation included
    # (each row's translation and flip are drawn from the epoch's seed and the row, whichever rank trains on it)
    sets = ["arch=test_convnext", "pad=2", "flip=true", "cutout=4"]
    monkeypatch.chdir(tmp_path)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1); also spares busy cores
    try:
        one = run(RunOptions("competitions/cifar10", sample=True, preset="fast", sets=sets, tag="one", quiet=True))
    finally:
        torch.set_num_threads(threads)
    fast = ["competitions/cifar10", "--sample", "--preset", "fast", "--quiet"]
    fast += [a for s in sets for a in ("--set", s)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    launch([*torchrun, "-m", "pipeline", "run", *fast, "--tag", "ddp"], tmp_path)
    ddp = next((tmp_path / "runs" / "cifar10").glob("*-ddp-*"))

    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, ddp))
    assert abs(s1["cv"] - s2["cv"]) <= CV_TOL + 1e-9 and s2["cv"] > 0.3
    model = next((one / "oof").glob("test_*.npy")).name
    oof1, oof2 = np.load(one / "oof" / model), np.load(ddp / "oof" / model)
    rows = ~np.isnan(oof1[:, 0])
    assert np.array_equal(rows, ~np.isnan(oof2[:, 0]))
    assert np.abs(oof1[rows] - oof2[rows]).max() < PROBA_TOL
    test1, test2 = np.load(one / "test" / model), np.load(ddp / "test" / model)
    assert np.abs(test1 - test2).max() < PROBA_TOL and np.mean(test1.argmax(1) == test2.argmax(1)) >= 0.97
    history = json.loads(next(ddp.glob("checkpoints/*/fold0/history.json")).read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]

    # only rank 0 wrote: the same files as one process, one run folder each, nothing elsewhere
    assert _files(one) == _files(ddp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "runs", "submissions"]
    assert len(list((tmp_path / "runs" / "cifar10").iterdir())) == 2
    assert len(list((tmp_path / "submissions" / "cifar10").iterdir())) == 2
    log = (ddp / "log.txt").read_text()
    assert log.count("run cifar10 ->") == 1 and log.count("epoch 1/3") == 1 and "2 processes (gloo)" in log
    assert json.loads((ddp / "env.json").read_text())["distributed"]["world_size"] == 2


def test_a_batch_that_does_not_split_over_the_ranks_is_refused_before_the_run_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # before: the trainer refused it after the data was read and a failed run folder was made, once per retry
    from sklearn.base import BaseEstimator

    from pipeline import distributed
    from pipeline.contract import ContractError
    from pipeline.run_checks import select_models

    class Net(BaseEstimator):
        supports_ddp = True

        def __init__(self, batch_size: int = 33) -> None:
            self.batch_size = batch_size

    module = type("m", (), {"models": staticmethod(lambda cfg: {"net": Net()}), "__name__": "competitions.toy"})
    monkeypatch.setattr(distributed, "active", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ContractError, match="batch_size 33 does not split evenly over 2 processes"):
        select_models(module, None, None)
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    assert list(select_models(module, None, None)) == ["net"]
    from pipeline.tabular.transformer import TextTransformer  # its ranks take any batch size

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    text = type("m", (), {"models": staticmethod(lambda cfg: {"t": TextTransformer(batch_size=7)}), "__name__": "x"})
    assert list(select_models(text, None, None)) == ["t"]


def test_only_networks_whose_ranks_split_each_batch_refuse_a_batch_that_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # before: every model every rank trains was refused such a batch, the transformer too, whose ranks each take a
    # stride of each step's rows (transformer_parts.rank_batches) and which trains with any batch size
    from pipeline import distributed
    from pipeline.contract import ContractError
    from pipeline.tabular.cnn import PixelCNN
    from pipeline.tabular.transformer import TextTransformer
    from pipeline.vision import ImageClassifier

    monkeypatch.setattr(distributed, "active", lambda: True)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    for network in (ImageClassifier(batch_size=33), PixelCNN(batch_size=33)):
        with pytest.raises(ContractError, match="batch_size 33 does not split evenly over 2 processes"):
            distributed.check_batch_split(network)
        distributed.check_batch_split(network.set_params(batch_size=32))
    distributed.check_batch_split(TextTransformer(batch_size=7))  # accepted
    monkeypatch.setattr(distributed, "active", lambda: False)
    distributed.check_batch_split(ImageClassifier(batch_size=33))  # one process: any batch


def test_torchrun_trains_a_tables_cnn_as_one_process_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: the cnn of a table's images was fitted by rank 0 alone while the other ranks waited; the plan says which
    import pixel_downloads
    import torch

    from pipeline.cli import main
    from pipeline.runner import RunOptions, run

    data, _ = pixel_downloads.digit_recognizer(tmp_path / "digits.zip", 240, 40)
    name = f"pix_ddp_{uuid.uuid4().hex[:8]}"
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    comp = str(tmp_path / "comps" / name)
    sets = ["cnn_epochs=4"]
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1)
    try:
        one = run(RunOptions(comp, data=str(data), preset="fast", sets=sets, tag="one", quiet=True))
    finally:
        torch.set_num_threads(threads)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    cmd = [*torchrun, "-m", "pipeline", "run", comp, "--data", str(data), "--preset", "fast", "--quiet"]
    launch([*cmd, *[a for s in sets for a in ("--set", s)], "--tag", "ddp"], tmp_path)
    ddp = next((tmp_path / "runs" / name).glob("*-ddp"))

    log = (ddp / "log.txt").read_text()
    assert "2 processes (gloo); trained by every process: cnn" in log
    assert log.count("epoch 1/4") == 2  # each fold's network, trained once
    # BatchNorm over each rank's 8 rows, not 16: near the one process's networks, not equal
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, ddp))
    assert s1["cv"] > 0.4 and s2["cv"] > 0.4 and abs(s1["cv"] - s2["cv"]) < 0.15, (s1["cv"], s2["cv"])
    assert _files(one) == _files(ddp)  # only rank 0 wrote


SOLO = '''

from pipeline.tabular.cnn import PixelCNN


class SoloCNN(PixelCNN):
    """The cnn as a model that does not declare DDP: rank 0 fits it alone under torchrun."""

    supports_ddp = False


def models(cfg: Config) -> dict[str, Any]:
    """The generated cnn, as SoloCNN."""
    cnn = tabular.model_set(TASK, cfg, TARGET, pixels=PIXELS)["cnn"]
    return {"cnn": SoloCNN(**cnn.get_params())}
'''


def test_an_image_network_that_rank0_fits_alone_trains_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: its network's own broadcasts (the checkpoint read on rank 0) met rank 1's wait for the fold's result,
    # which read None and ended the run ("No model finished within the time limit" on rank 1)
    import pixel_downloads
    import torch

    from pipeline.cli import main
    from pipeline.runner import RunOptions, run

    data, _ = pixel_downloads.digit_recognizer(tmp_path / "digits.zip", 120, 20)
    name = f"pix_solo_{uuid.uuid4().hex[:8]}"
    assert main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps")]) == 0
    init = tmp_path / "comps" / name / "__init__.py"
    init.write_text(init.read_text() + SOLO)
    comp = str(init.parent)
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1)
    try:
        one = run(RunOptions(comp, data=str(data), preset="fast", tag="one", quiet=True))
    finally:
        torch.set_num_threads(threads)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    launch(
        [*torchrun, "-m", "pipeline", "run", comp, "--data", str(data), "--preset", "fast", "--tag", "solo"], tmp_path
    )
    solo = next((tmp_path / "runs" / name).glob("*-solo"))
    assert "2 processes (gloo); by rank 0 alone: cnn" in (solo / "log.txt").read_text()
    np.testing.assert_allclose(np.load(solo / "oof" / "cnn.npy"), np.load(one / "oof" / "cnn.npy"), atol=1e-6)
