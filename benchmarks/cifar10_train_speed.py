"""Trainer throughput: the framework's training loop vs a hand-written PyTorch loop, same model/data/batch/augmentation.

    python benchmarks/cifar10_train_speed.py [--data ../shared/data/cifar-10.zip] [--images 4608] [--rounds 5]
        [--preset cpu] [--variants default,nondeterministic,fp32]

Both loops train the competition's network (of `--preset`) on the same decoded images with the competition's
albumentations pipeline, the same batch size, optimizer, precision (bf16 autocast where the device has it) and
channels_last, on the device the framework picks (CUDA when there is one). On CUDA the hand-written loop is what a
user would write: cudnn.benchmark on, pinned memory, the framework's number of loader workers. After an untimed
warm-up, each round runs one epoch of each (alternating, so load from other processes hits both alike); the median
images/s per loop is reported with their ratio (target >= 0.95). `--variants` adds framework variants to every round:
`nondeterministic` (deterministic=False: cudnn picks its fastest kernels), `fp32` (no autocast, no channels_last) and
`loader` (augment_on=loader: albumentations per image in the loader, as the hand-written loop; the default augments
the decoded images batch by batch on the device, pipeline/vision/batch_augment.py). Every round also times a
hand-written loop that keeps the images on the device and augments each batch there with tensor ops (the same
pad-crop, flip and cutout). The figure goes to benchmarks/figures/cifar10_train_speed.json, or
cifar10_train_speed_cuda.json on a GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_images(data: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n training image paths and labels of the real data (extracted once into a temp folder)."""
    import competitions.cifar10 as cifar
    from pipeline.datadir import extract_competition_zip

    folder = data if data.is_dir() else extract_competition_zip(data, Path(tempfile.gettempdir()) / "cifar10-bench")
    d = cifar.load(cifar.Config(), folder)
    return d.X[:n], d.y[:n]


VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "nondeterministic": {"deterministic": False},
    "fp32": {"precision": "fp32", "channels_last": False},
    "loader": {"augment_on": "loader"},
}


def framework_epoch(X: np.ndarray, y: np.ndarray, cfg: object, seed: int, **params: object) -> float:
    """Images/s of one epoch of ImageClassifier.fit (the trainer's own measurement of its loop)."""
    import competitions.cifar10 as cifar

    est = cifar.models(cfg)[cfg.arch].set_params(epochs=1, random_state=seed, tta=(), **params)
    est.fit(X, y)
    return est.history_[0]["images_per_s"]


def hand_model(cfg: object, sample: object, device: str) -> tuple[object, object, object, object]:
    """The hand-written loops' network (channels_last, initialised from `sample`, uint8 N, C, H, W images), its SGD
    and the normalisation's mean and std (0..255 scale), as the competition's recipe sets them."""
    import timm
    import torch

    import pipeline.vision.models  # noqa: F401

    model = timm.create_model(cfg.arch, num_classes=10).to(device, memory_format=torch.channels_last)
    if hasattr(model, "init_from_data"):
        x = sample.to(device).float()
        model.init_from_data((x - x.mean((0, 2, 3), keepdim=True)) / 64.0)
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
        weight_decay=cfg.weight_decay,
    )
    mean = torch.tensor([0.4914, 0.4822, 0.4465], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.2470, 0.2435, 0.2616], device=device).view(1, 3, 1, 1) * 255
    return model, opt, mean, std


def hand_epoch(X: np.ndarray, y: np.ndarray, cfg: object, seed: int) -> float:
    """Images/s of one epoch of a plain PyTorch loop over the same data, transform, model and settings."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    import competitions.cifar10 as cifar
    import pipeline.vision.models  # noqa: F401
    from pipeline.vision.decoded import decode_all

    images, transform = decode_all(list(X)), cifar.transforms(cfg, train=True)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cudnn.benchmark = True
        bf16 = torch.cuda.is_bf16_supported()
    else:
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    workers = min(8, len(os.sched_getaffinity(0)) - 1) if cuda else 0

    class Cached(Dataset):
        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return torch.from_numpy(transform(image=images[i])["image"]), int(y[i])

    torch.manual_seed(seed)
    model, opt, mean, std = hand_model(cfg, torch.from_numpy(images[:2000]).permute(0, 3, 1, 2), device)
    loader = DataLoader(
        Cached(), batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers, pin_memory=cuda
    )
    model.train()
    t0, seen = time.perf_counter(), 0
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        x = ((xb.permute(0, 3, 1, 2).float() - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), yb, label_smoothing=cfg.label_smoothing)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += len(xb)
    if cuda:
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def resident_epoch(X: np.ndarray, y: np.ndarray, cfg: object, seed: int) -> float:
    """Images/s of one epoch of a hand-written loop whose images stay on the device and are augmented there, a batch
    at a time (the recipe's reflect-pad + random crop, flip and cutout as tensor ops): no loader workers, no copies.
    The ceiling a device-side augmentation would reach; on a CPU it measures the same ops without albumentations."""
    import torch
    import torch.nn.functional as F

    import pipeline.vision.models  # noqa: F401
    from pipeline.vision.decoded import decode_all

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if cuda:
        torch.backends.cudnn.benchmark = True
    bf16 = torch.cuda.is_bf16_supported() if cuda else bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    images = torch.from_numpy(decode_all(list(X))).to(device).permute(0, 3, 1, 2)  # uint8 N, C, H, W
    labels = torch.as_tensor(np.array(y), device=device)
    torch.manual_seed(seed)
    model, opt, mean, std = hand_model(cfg, images[:2000], device)
    pad, side, hole = cfg.pad, images.shape[-1], cfg.cutout
    fill = torch.tensor([125.0, 123.0, 114.0], device=device).view(1, 3, 1, 1)
    grid = torch.arange(side, device=device)
    n, b = len(images), cfg.batch_size
    model.train()
    if cuda:
        torch.cuda.synchronize()
    t0, seen = time.perf_counter(), 0
    order = torch.randperm(n, device=device)
    for i in range(0, n - b + 1, b):  # drop_last, as the other loops
        idx = order[i : i + b]
        x = images[idx].float()
        if pad:
            x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
            dy, dx = (torch.randint(0, 2 * pad + 1, (b, 1), device=device) for _ in range(2))
            rows, cols = (dy + grid)[:, None, :, None], (dx + grid)[:, None, None, :]
            x = x[
                torch.arange(b, device=device)[:, None, None, None],
                torch.arange(3, device=device)[None, :, None, None],
                rows,
                cols,
            ]
        if cfg.flip:
            x = torch.where(torch.rand(b, 1, 1, 1, device=device) < 0.5, x.flip(-1), x)
        if hole:
            cy, cx = (torch.randint(0, side - hole + 1, (b, 1, 1, 1), device=device) for _ in range(2))
            r, c = grid.view(1, 1, side, 1), grid.view(1, 1, 1, side)
            x = torch.where((r >= cy) & (r < cy + hole) & (c >= cx) & (c < cx + hole), fill, x)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), labels[idx], label_smoothing=cfg.label_smoothing)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += b
    if cuda:
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--images", type=int, default=4608)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument(
        "--variants", default="default", help=f"framework variants, comma-separated: {', '.join(VARIANTS)}"
    )
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or "default" not in variants:
        parser.error(f"--variants: {', '.join(unknown) or 'default missing'} (known: {', '.join(VARIANTS)})")
    import torch

    import competitions.cifar10 as cifar
    from pipeline.config import resolve_config

    cuda = torch.cuda.is_available()
    cfg, _ = resolve_config(cifar, preset=args.preset)
    X, y = load_images(args.data, args.images)
    device = torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores"
    print(f"model {cfg.arch}, batch {cfg.batch_size}, {len(X)} images/epoch, {args.rounds} rounds, {device}")
    for name in variants:  # warm-up (kernel creation, cudnn autotuning), not timed
        framework_epoch(X[:1024], y[:1024], cfg, seed=0, **VARIANTS[name])
    hand_epoch(X[:1024], y[:1024], cfg, seed=0)
    resident_epoch(X[:1024], y[:1024], cfg, seed=0)
    fw: dict[str, list[float]] = {name: [] for name in variants}
    hand: list[float] = []
    resident: list[float] = []
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]  # alternate which variant runs first
        for name in order:
            fw[name].append(framework_epoch(X, y, cfg, seed=r, **VARIANTS[name]))
        hand.append(hand_epoch(X, y, cfg, seed=r))
        resident.append(resident_epoch(X, y, cfg, seed=r))
        print(
            f"round {r + 1}: "
            + ", ".join(f"framework {n} {fw[n][-1]:.0f}" for n in variants)
            + f", hand-written {hand[-1]:.0f}, hand-written on-device {resident[-1]:.0f} img/s"
        )
    h = statistics.median(hand)
    medians = {n: statistics.median(v) for n, v in fw.items()}
    for n, m in medians.items():
        print(f"median: framework {n} {m:.0f} img/s, hand-written {h:.0f} img/s, ratio {m / h:.3f}")
    print(f"framework (default) / hand-written: {medians['default'] / h:.3f} (target >= 0.95)")
    on_device = statistics.median(resident)
    print(
        f"hand-written with images and augmentation on the device: {on_device:.0f} img/s, "
        f"{on_device / medians['default']:.2f}x the framework (default)"
    )
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchutil import peak_memory, save

    mem = peak_memory()  # all loops run in this process: one peak for them (they hold the same data and net)
    print(
        f"peak RSS {mem['peak_rss_mib']:.0f} MiB"
        + (
            f", CUDA max allocated {mem['cuda_max_allocated_mib']:.0f} MiB"
            if mem["cuda_max_allocated_mib"] is not None
            else ""
        )
    )
    cmd = (
        f"python benchmarks/cifar10_train_speed.py --images {args.images} --rounds {args.rounds} --preset {args.preset}"
        + (f" --variants {','.join(variants)}" if variants != ["default"] else "")
    )
    save(
        "cifar10_train_speed_cuda" if cuda else "cifar10_train_speed",
        cmd,
        {
            "device": device,
            "framework_images_per_s": fw["default"],
            "hand_images_per_s": hand,
            "ratio": medians["default"] / h,
            "variants": {n: {"images_per_s": fw[n], "ratio": medians[n] / h} for n in variants if n != "default"},
            "on_device_images_per_s": resident,
            "on_device_vs_framework": on_device / medians["default"],
            "memory": mem,
        },
    )


if __name__ == "__main__":
    main()
