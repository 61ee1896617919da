"""Fine-tuning: weights from a file or the HF cache, frozen warm-up, per-layer learning rates, clear errors, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.contract import ContractError, FitContext, Metric
from pipeline.vision import ImageClassifier
from pipeline.vision.synthetic import write_images

N_PATTERNS = 8  # the generator's class count: pretraining uses patterns 0-3, fine-tuning the other four


def make_set(folder: Path, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    names = [f"{i}.png" for i in range(len(labels))]
    write_images(folder, names, labels, N_PATTERNS, 32, seed)
    return np.array([str(folder / n) for n in names]), labels - labels.min()


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}  # on a GPU too


def backbone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == proba.argmax(1)))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generated images and a test_resnet pretrained on patterns 0-3, saved as the framework's last.pt."""
    root = tmp_path_factory.mktemp("finetune")
    pre_X, pre_y = make_set(root / "pre", np.arange(96) % 4, 0)
    ft_X, ft_y = make_set(root / "ft", 4 + np.arange(16) % 4, 1)  # 4 images per new class
    test_X, test_y = make_set(root / "test", 4 + np.arange(80) % 4, 2)
    pre = tiny(epochs=3, lr=0.1, batch_size=32, checkpoint_dir=str(root / "pretrain")).fit(pre_X, pre_y)
    return {
        "pre": (pre_X, pre_y),
        "ft": (ft_X, ft_y),
        "test": (test_X, test_y),
        "checkpoint": root / "pretrain" / "last.pt",
        "state": state_of(pre.model_),
        "root": root,
    }


def tiny(**params: object) -> ImageClassifier:
    base = dict(arch="test_resnet", num_classes=4, epochs=3, batch_size=8, lr=0.05, tta=(), precision="fp32")
    return ImageClassifier(**{**base, **params})


def save_weights(state: dict[str, torch.Tensor], path: Path) -> Path:
    """A raw state dict as .safetensors; as .pth a checkpoint wrapping it with DDP's `module.` prefixes."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 7}, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_from_a_file_fill_the_backbone_and_a_new_head_has_the_new_classes(data, tmp_path, suffix):
    import timm

    source = timm.create_model("test_resnet", num_classes=7)  # another class count: its head cannot be used
    weights = state_of(source)
    path = save_weights(weights, tmp_path / f"w{suffix}")
    X, y = data["ft"]
    est = tiny(pretrained_file=str(path), num_classes=3, epochs=1, lr=0.0).fit(X[y < 3], y[y < 3])
    params = dict(est.model_.named_parameters())
    assert all(torch.equal(params[k].cpu(), weights[k]) for k in params if not k.startswith("fc."))
    assert est.model_.fc.weight.shape == (3, source.fc.in_features)
    assert "loaded 90 of 92 tensors" in est.weights_ and "new head" in est.weights_
    assert est.mean_ == (0.5, 0.5, 0.5)  # normalisation follows the arch's pretrained config with a file too


def test_the_framework_checkpoint_is_a_weights_file(data):
    from pipeline.vision.pretrained import create_model

    model, note = create_model("test_resnet", 4, False, str(data["checkpoint"]), None)
    assert same(backbone(state_of(model)), backbone(data["state"]))
    assert not torch.equal(model.fc.weight, data["state"]["fc.weight"]) and "new head (fc.bias, fc.weight)" in note


def test_weights_from_the_hugging_face_cache_without_network(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    weights = state_of(timm.create_model("test_resnet"))
    repo = tmp_path / "hub" / "models--timm--test_resnet.r160_in1k"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    save_file(weights, str(repo / "snapshots" / "abc" / "model.safetensors"))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pipeline.vision.pretrained import create_model

    model, note = create_model("test_resnet.r160_in1k", 5, True, None, None)
    assert same(backbone(state_of(model)), backbone(weights)) and model.fc.out_features == 5
    assert "model.safetensors" in note


def test_finetuning_beats_training_from_scratch_on_few_images(data):
    X, y = data["ft"]
    Xt, yt = data["test"]
    path = str(data["checkpoint"])
    scratch, tuned = [], []
    for seed in (0, 1):
        scratch.append(accuracy(yt, tiny(random_state=seed).fit(X, y).predict_proba(Xt)))
        est = tiny(random_state=seed, pretrained_file=path, freeze_epochs=1, backbone_lr=0.1)
        tuned.append(accuracy(yt, est.fit(X, y).predict_proba(Xt)))
    assert np.mean(tuned) >= np.mean(scratch) + 0.15, (tuned, scratch)


def test_backbone_and_its_batchnorm_stay_frozen_during_warmup_then_train(data):
    X, y = data["ft"]
    path, start = str(data["checkpoint"]), data["state"]
    warm = tiny(pretrained_file=path, epochs=2, freeze_epochs=2).fit(X, y)
    after = state_of(warm.model_)
    assert same(backbone(after), backbone(start))  # weights and BN running statistics
    assert not torch.equal(after["fc.weight"], start["fc.weight"])
    moving_bn = state_of(tiny(pretrained_file=path, epochs=2, freeze_epochs=2, freeze_bn=False).fit(X, y).model_)
    assert not torch.equal(moving_bn["conv1.1.running_mean"], start["conv1.1.running_mean"])
    assert torch.equal(moving_bn["conv1.0.weight"], start["conv1.0.weight"])
    full = state_of(tiny(pretrained_file=path, epochs=3, freeze_epochs=2).fit(X, y).model_)
    assert not torch.equal(full["conv1.0.weight"], start["conv1.0.weight"])
    assert not torch.equal(full["layer1.0.bn1.running_var"], start["layer1.0.bn1.running_var"])


def test_what_a_timm_model_names_in_no_weight_decay_is_not_decayed_nor_its_biases_and_norms() -> None:
    import timm

    from pipeline.vision.finetune import param_groups

    model = timm.create_model("test_vit", num_classes=4)  # no_weight_decay(): pos_embed, cls_token (2-d and more)
    decay_of = {id(p): g["weight_decay"] for g in param_groups(model, 0.05, layer_decay=0.8) for p in g["params"]}
    named = dict(model.named_parameters())
    assert named["pos_embed"].ndim == 3 and decay_of[id(named["pos_embed"])] == 0.0
    assert decay_of[id(named["head.weight"])] == 0.05 and decay_of[id(named["head.bias"])] == 0.0
    assert {decay_of[id(p)] for n, p in named.items() if p.ndim <= 1} == {0.0}


def test_layer_decay_and_backbone_lr_give_each_group_its_learning_rate(data, tmp_path):
    import timm

    from pipeline.vision.finetune import layer_ids, param_groups

    model = timm.create_model("test_resnet", num_classes=4)
    scale_of = lambda groups: {id(p): g["lr_scale"] for g in groups for p in g["params"]}  # noqa: E731
    named = dict(model.named_parameters())
    scales = scale_of(param_groups(model, 5e-4, backbone_lr=0.1))
    assert {n: scales[id(p)] for n, p in named.items() if n.startswith("fc.")} == {"fc.weight": 1.0, "fc.bias": 1.0}
    assert {scales[id(p)] for n, p in named.items() if not n.startswith("fc.")} == {0.1}
    scales = scale_of(param_groups(model, 5e-4, layer_decay=0.5))
    # stem, layer1..layer4 blocks (one block each), head: 0.5 ** (depth below the head)
    expect = {"conv1.0.weight": 0.5**5, "layer1.0.conv1.weight": 0.5**4, "layer4.0.conv2.weight": 0.5, "fc.weight": 1}
    assert {n: scales[id(named[n])] for n in expect} == expect
    airbench = timm.create_model("airbench_small", num_classes=4)  # no group_matcher: top-level module order
    ids = layer_ids(airbench, {"head.weight"})
    assert (ids["whiten.weight"], ids["blocks.0.conv1.weight"], ids["blocks.2.norm2.bias"], ids["head.weight"]) == (
        0,
        1,
        3,
        4,
    )
    # in training: every group runs at lr x its scale (constant schedule: exactly)
    X, y = data["ft"]
    est = tiny(epochs=1, layer_decay=0.5, schedule="constant", warmup=0.0, lr=0.02, checkpoint_dir=str(tmp_path))
    est.fit(X, y)
    groups = torch.load(tmp_path / "last.pt", weights_only=False)["optimizer"]["param_groups"]
    assert sorted({g["lr_scale"] for g in groups}) == [0.5**k for k in range(5, -1, -1)]
    assert all(g["lr"] == pytest.approx(0.02 * g["lr_scale"]) for g in groups)
    assert est.history_[0]["lr"] == pytest.approx(0.02)


def test_missing_weights_are_explained(data, tmp_path, monkeypatch):
    X, y = data["ft"]
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ContractError, match=r"'test_resnet.r160_in1k'.*hf download timm/test_resnet.r160_in1k.*pretrained_file"
    ):
        tiny(arch="test_resnet.r160_in1k", pretrained=True).fit(X, y)
    with pytest.raises(ContractError, match=r"Unknown pretrained tag in 'test_resnet.nope'. Valid: test_resnet.r160"):
        tiny(arch="test_resnet.nope", pretrained=True).fit(X, y)
    with pytest.raises(ContractError, match="no pretrained weights for 'airbench_small'"):
        tiny(arch="airbench_small", pretrained=True).fit(X, y)
    with pytest.raises(ContractError, match=r"pretrained_file not found: .*nowhere\.pth"):
        tiny(pretrained_file=str(tmp_path / "nowhere.pth")).fit(X, y)
    with pytest.raises(ContractError, match=r"last\.pt does not fit 'test_efficientnet'.*First mismatches: conv_stem"):
        tiny(arch="test_efficientnet", pretrained_file=str(data["checkpoint"])).fit(X, y)
    with pytest.raises(ContractError, match="layer_decay must be in"):
        tiny(layer_decay=1.5).fit(X, y)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("killed_in", [2, 3])  # during the warm-up; in the first epoch after it
def test_resume_around_the_warmup_equals_the_uninterrupted_run(data, tmp_path, killed_in):
    import albumentations as A

    X, y = data["ft"]
    Xt, yt = data["test"]

    def est() -> ImageClassifier:
        return tiny(
            epochs=3,
            pretrained_file=str(data["checkpoint"]),
            freeze_epochs=2,
            layer_decay=0.7,
            optimizer="adamw",
            lr=3e-3,
            ema_decay=0.9,
            mixup_alpha=0.3,
            train_transform=A.Compose([A.HorizontalFlip()]),
        )

    def ctx(workdir: Path, resume: bool = False, log=lambda s: None) -> FitContext:
        return FitContext(
            workdir=workdir,
            eval_set=(Xt[:16], yt[:16]),
            score=accuracy,
            metric=Metric("accuracy", True),
            resume=resume,
            progress=False,
            log=log,
        )

    def kill(line: str) -> None:
        if line.startswith(f"epoch {killed_in}/"):
            raise Interrupt  # the process dies after that epoch's work, before its checkpoint

    full = est().fit(X, y, context=ctx(tmp_path / "full"))
    with pytest.raises(Interrupt):
        est().fit(X, y, context=ctx(tmp_path / "cut", log=kill))
    lines: list[str] = []
    resumed = est().fit(X, y, context=ctx(tmp_path / "cut", resume=True, log=lines.append))
    assert any(f"continuing from epoch {killed_in - 1}" in s for s in lines)
    np.testing.assert_array_equal(resumed.predict_proba(Xt[:16]), full.predict_proba(Xt[:16]))
    drop = ("seconds", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history_] == [
        {k: v for k, v in r.items() if k not in drop} for r in full.history_
    ]
