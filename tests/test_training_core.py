"""The training core both loops share (pipeline/training): schedules, optimizer groups and steps, checkpoints and
resume state, deadline accounting, precision, pruner reports."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.contract import FitContext
from pipeline.training import checkpoint, deadline
from pipeline.training.core import FitState, TrainerCore
from pipeline.training.optim import make_optimizer, optimizer_step, param_groups, set_lrs
from pipeline.training.runtime import Runtime, resolve_precision
from pipeline.training.schedules import SCHEDULES, lr_factor


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(6, 3, 8, 8, generator=g), torch.arange(6) % 3


# ---- schedules ------------------------------------------------------------------------------------------------------


def test_detection_schedule_is_the_former_warmup_cosine_bit_for_bit():
    """The detection loop's schedule (start=0.001, no floor) equals the formula it used before the move, exactly."""
    warmup, total = 0.1, 250
    for step in range(total + 3):
        t = min(step / total, 1.0)
        if t < warmup:
            old = 0.001 + 0.999 * t / warmup
        else:
            rest = (t - warmup) / max(1.0 - warmup, 1e-12)
            old = 0.5 * (1.0 + math.cos(math.pi * rest))
        assert lr_factor("cosine", step / total, warmup, start=0.001) == old
        assert lr_factor("constant", step / total, warmup, start=0.001) == (old if t < warmup else 1.0)


def test_schedule_start_and_final_shape_the_curve():
    assert lr_factor("onecycle", 0.0, 0.2) == pytest.approx(0.1)  # one-cycle starts at a tenth of the peak
    assert lr_factor("cosine", 0.0, 0.2) == 0.0
    assert lr_factor("cosine", 0.0, 0.2, start=0.5) == 0.5
    for kind in ("onecycle", "cosine"):
        assert lr_factor(kind, 1.0, 0.2, final=0.05) == pytest.approx(0.05)
        assert lr_factor(kind, 1.7, 0.2) == lr_factor(kind, 1.0, 0.2)  # progress is clamped to [0, 1]
    assert set(SCHEDULES) == {"onecycle", "cosine", "constant", "step"}


# ---- optimizer ------------------------------------------------------------------------------------------------------


def test_optimizer_groups_decay_only_weights_and_skip_frozen_parameters():
    net = small_net()
    net[0].bias.requires_grad_(False)
    opt = make_optimizer(net, "sgd", 0.1, 5e-4, 0.9, nesterov=True)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(net[0].weight), id(net[3].weight)}
    assert {id(p) for p in no_decay["params"]} == {id(net[1].weight), id(net[1].bias), id(net[3].bias)}
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    assert not make_optimizer(net, "sgd", 0.1, 0.0, 0.0, nesterov=True).defaults["nesterov"]  # needs momentum
    assert isinstance(make_optimizer(net, "adamw", 1e-3, 0.05, 0.9), torch.optim.AdamW)
    with pytest.raises(ValueError, match="Valid optimizers: sgd, adamw"):
        make_optimizer(net, "lion", 0.1, 0.0, 0.9)


def test_optimizer_lr_scales_give_a_group_per_rate_and_decay_the_largest_rate_first():
    net = small_net()  # 0: conv, 1: batch norm, 3: linear
    scales = {"0.weight": 0.25, "0.bias": 0.25, "1.weight": 0.5, "1.bias": 0.5}
    groups = param_groups(net, 0.01, scales)  # the linear layer's: 1, by default
    opt = make_optimizer(net, "adamw", 0.1, 0.01, 0.0, groups=groups)
    got = [(g["lr"], g["weight_decay"], {id(p) for p in g["params"]}) for g in opt.param_groups]
    assert got == [
        (0.1, 0.01, {id(net[3].weight)}),
        (0.1, 0.0, {id(net[3].bias)}),
        (0.05, 0.0, {id(net[1].weight), id(net[1].bias)}),
        (0.025, 0.01, {id(net[0].weight)}),
        (0.025, 0.0, {id(net[0].bias)}),
    ]


def test_set_lrs_scales_each_groups_peak():
    opt = make_optimizer(small_net(), "sgd", 0.1, 5e-4, 0.9)
    set_lrs(opt, [0.1, 0.02], 0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.01]
    with pytest.raises(ValueError):
        set_lrs(opt, [0.1], 0.5)  # one peak per group


def step_once(grad_clip: float | None) -> list[torch.Tensor]:
    net = small_net()
    opt = make_optimizer(net, "sgd", 0.5, 0.0, 0.0)
    scaler = torch.amp.GradScaler(enabled=False)
    x, y = batch()
    (nn.functional.cross_entropy(net(x), y) * 100).backward()
    optimizer_step(opt, scaler, net, grad_clip)
    assert all(p.grad is None for p in net.parameters())  # gradients cleared for the next step
    return [p.detach().clone() for p in net.parameters()]


def test_optimizer_step_clips_the_gradient_norm():
    before = [p.detach().clone() for p in small_net().parameters()]
    clipped, free = step_once(0.01), step_once(None)
    moved = lambda after: math.sqrt(sum(float((a - b).pow(2).sum()) for a, b in zip(after, before, strict=True)))  # noqa: E731
    assert moved(clipped) == pytest.approx(0.5 * 0.01, rel=1e-3)  # lr x max norm
    assert moved(free) > 10 * moved(clipped)


# ---- checkpoints and resume state -----------------------------------------------------------------------------------


def new_state(core: TrainerCore, ema_decay: float = 0.9) -> FitState:
    net = core.place(small_net())
    opt = make_optimizer(net, "sgd", 0.1, 5e-4, 0.9, nesterov=True)
    return core.new_state(FitState, net, opt, [0.1, 0.1], ema_decay)


def train_steps(s: FitState, n: int) -> None:
    x, y = batch()
    for _ in range(n):
        s.scaler.scale(nn.functional.cross_entropy(s.model(x), y)).backward()
        optimizer_step(s.opt, s.scaler, s.model, None)
        s.after_step()


def test_checkpoint_round_trip_continues_exactly(tmp_path: Path):
    """Two steps, save last.pt, restore into a fresh state, two more: equal to four uninterrupted steps."""
    core = TrainerCore(Runtime(workdir=tmp_path, resume=True))
    whole = new_state(core)
    train_steps(whole, 4)

    cut = new_state(core)
    train_steps(cut, 2)
    cut.epoch = 1
    core.save(checkpoint.LAST, cut.checkpoint() | {"history": [{"epoch": 1}]})
    state = core.read_last()
    assert set(state) == {"model", "optimizer", "scaler", "ema", "epoch", "step", "history"}
    resumed = new_state(core)
    resumed.restore(state)
    assert (resumed.epoch, resumed.step, resumed.ema.updates) == (1, 2, 2)
    train_steps(resumed, 2)
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(resumed.ema.module.state_dict().values(), whole.ema.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def scaled_state(core: TrainerCore, order_met: bool) -> FitState:
    """A fine-tuning's state with three rates; `order_met`: its groups in the order the parameters come (as
    checkpoints before the largest rate came first have them)."""
    net = core.place(small_net())
    groups = param_groups(net, 0.01, {"0.weight": 0.25, "0.bias": 0.25, "1.weight": 0.5, "1.bias": 0.5})
    if order_met:
        first = {id(p): i for i, p in enumerate(net.parameters())}
        groups.sort(key=lambda g: first[id(g["params"][0])])
    opt = make_optimizer(net, "adamw", 0.1, 0.01, 0.0, groups=groups)
    return core.new_state(FitState, net, opt, [g["lr"] for g in opt.param_groups], 0.0)


def test_a_checkpoint_with_its_groups_in_another_order_resumes_exactly(tmp_path: Path):
    """last.pt from a version that ordered fine-tuning's groups otherwise: each group's state and rates reach the
    same parameters, so the resumed fit equals the uninterrupted one; groups that cannot match are refused."""
    core = TrainerCore(Runtime(workdir=tmp_path, resume=True))
    whole = scaled_state(core, order_met=False)
    train_steps(whole, 4)
    old = scaled_state(core, order_met=True)
    train_steps(old, 2)
    resumed = scaled_state(core, order_met=False)
    assert [g["lr"] for g in resumed.opt.param_groups] != [g["lr"] for g in old.opt.param_groups]
    resumed.restore(old.checkpoint())
    assert [g["lr"] for g in resumed.opt.param_groups] == [g["lr"] for g in whole.opt.param_groups]
    train_steps(resumed, 2)
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    other = new_state(core)  # two groups where the checkpoint has five
    with pytest.raises(ValueError, match="do not match one to one"):
        other.restore(old.checkpoint())


def test_no_checkpoint_without_resume_or_workdir(tmp_path: Path):
    s = new_state(TrainerCore(Runtime(workdir=tmp_path)))
    TrainerCore(Runtime(workdir=tmp_path)).save(checkpoint.LAST, s.checkpoint())
    assert (tmp_path / "last.pt").is_file()
    assert TrainerCore(Runtime(workdir=tmp_path, resume=False)).read_last() is None
    assert TrainerCore(Runtime(workdir=None, resume=True)).read_last() is None
    assert TrainerCore(Runtime(workdir=tmp_path / "none", resume=True)).read_last() is None
    TrainerCore(Runtime(workdir=None)).write_history()  # nothing to write to, no error


def test_vision_last_checkpoint_keeps_its_keys(tmp_path: Path):
    """last.pt/best.pt/history.json keep the names and keys of earlier versions, so saved runs still resume."""
    from pipeline.vision.data import BatchNormalizer, ImageDataset
    from pipeline.vision.objectives import Softmax
    from pipeline.vision.trainer import TrainConfig, Trainer

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(24, 8, 8, 3, generator=g) * 255).to(torch.uint8).numpy()
    labels = (torch.arange(24) % 3).numpy()
    data = ImageDataset([f"{i}.png" for i in range(24)], labels, None, images)
    rt = Runtime(workdir=tmp_path, score=lambda t, p: float((t == p.argmax(1)).mean()))
    cfg = TrainConfig(epochs=1, batch_size=8, patience=3, ema_decay=0.9)
    Trainer(cfg, rt, BatchNormalizer((0.5,) * 3, (0.25,) * 3, "cpu", False), Softmax(3)).fit(
        nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)), data, data, labels
    )
    last = checkpoint.load(tmp_path / checkpoint.LAST)
    assert set(last) == {
        "model", "optimizer", "scaler", "ema", "epoch", "step", "progress", "best", "history", "config_epochs", "done",
    }  # fmt: skip
    assert last["done"] and last["epoch"] == 1 and last["step"] == 3 and last["ema"]["updates"] == 3
    assert set(checkpoint.load(tmp_path / checkpoint.BEST)) == {"model", "epoch"}
    assert (tmp_path / checkpoint.HISTORY).is_file()


# ---- deadline accounting --------------------------------------------------------------------------------------------


def test_reserve_is_two_seconds_plus_the_measured_prediction_time():
    assert deadline.reserve_seconds(1000, 2, 100.0, 1.2) == pytest.approx(2.0 + 24.0)
    assert deadline.reserve_seconds(0, 2, 100.0, 1.2) == 2.0


def test_plan_epochs_fits_the_time_left():
    assert deadline.plan_epochs(done=2, max_epochs=10, seconds_left=35.0, epoch_seconds=10.0) == 5
    assert deadline.plan_epochs(2, 10, 1e6, 10.0) == 10  # never above the configured epochs
    assert deadline.plan_epochs(2, 10, -5.0, 10.0) == 3  # always one more epoch
    assert deadline.plan_epochs(10, 10, 0.0, 10.0) == 10
    assert deadline.plan_epochs(2, 10, 5.0, 0.0) == 10  # nothing measured yet


def test_schedule_clock_follows_steps_or_the_time_budget(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(deadline.time, "monotonic", lambda: now[0])
    free = deadline.ScheduleClock(total_steps=100, deadline=None, reserve=lambda: 0.0)
    assert free.progress(25, 0.0) == 0.25 and free.progress(25, 0.4) == 0.4  # never back below the floor

    agreed: list[float] = []
    clock = deadline.ScheduleClock(
        100, deadline=1000.0 + 110.0, reserve=lambda: 6.0, agree=lambda p: agreed.append(p) or p
    )
    clock.start(0.0)
    assert clock.margin() == pytest.approx(3.3)  # 3% of the 110 s budget (at least 2 s)
    assert clock.progress(10, 0.0) == 0.1  # early on the steps lead
    now[0] += (110.0 - 6.0 - 3.3) / 2  # half the usable budget gone, only 10% of the steps done
    assert clock.progress(10, 0.0) == pytest.approx(0.5)
    assert agreed  # under DDP one rank's clock decides
    resumed = deadline.ScheduleClock(100, deadline=now[0] + 100.0, reserve=lambda: 0.0)
    resumed.start(0.6)  # a resumed run spreads the remaining 40% over its new budget
    now[0] += (100.0 - 3.0) / 2
    assert resumed.progress(60, 0.6) == pytest.approx(0.8)


def test_expected_epochs_for_display():
    assert deadline.expected_epochs(10, 0, 0.0) == 10
    assert deadline.expected_epochs(10, 2, 0.5) == 4  # half the schedule in 2 epochs: heading for 4
    assert deadline.expected_epochs(10, 2, 0.1) == 10


# ---- runtime and reporting ------------------------------------------------------------------------------------------


def test_precision_and_placement():
    assert resolve_precision("fp32", "cuda") is None
    assert resolve_precision("fp16", "cpu") is torch.float16
    assert resolve_precision("fp16", "cpu", cpu_autocast=False) is None  # detectors stay fp32 on CPU
    assert resolve_precision("bf16", "cuda:1", cpu_autocast=False) is torch.bfloat16
    with pytest.raises(ValueError, match="Valid values: auto, fp32, bf16, fp16"):
        resolve_precision("fp8", "cpu")
    net = TrainerCore(Runtime(channels_last=True)).place(small_net())
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not TrainerCore(Runtime()).place(small_net())[0].weight.is_contiguous(memory_format=torch.channels_last)
    with TrainerCore(Runtime(dtype=torch.bfloat16)).autocast():
        assert small_net()[3](torch.randn(2, 144)).dtype is torch.bfloat16
    with TrainerCore(Runtime()).autocast():
        assert small_net()[3](torch.randn(2, 144)).dtype is torch.float32


def test_report_tells_the_pruner_scored_epochs_only():
    seen: list[dict] = []
    core = TrainerCore(Runtime(report=FitContext(None, model="m", fold=2, report=seen.append).report_epoch))
    core.report(0, None)
    core.report(1, 0.75)
    assert seen == [{"model": "m", "fold": 2, "epoch": 1, "score": 0.75}]
    TrainerCore(Runtime()).report(1, 0.75)  # no pruner: nothing to call
