"""Accuracy under a time budget: the framework's `cpu` preset vs the D2L book's CIFAR-10 recipe, same split and budget.

    python benchmarks/cifar10_accuracy.py [--data ../shared/data/cifar-10.zip] [--time-limit 600]

1. Runs `python -m pipeline run competitions/cifar10 --data DATA --preset cpu --time-limit T` (a fresh process,
   wall-clock timed) and reads its holdout accuracy from the run folder (the runner's stratified 10% holdout).
2. Trains D2L's recipe (d2l.ai, "Image Classification (CIFAR-10) on Kaggle": ResNet-18 with a 3x3 stem, Resize 40
   -> RandomResizedCrop 32 scale (0.64, 1) -> flip, SGD momentum 0.9, lr 2e-4 on the summed loss, wd 5e-4,
   StepLR(4, 0.9), batch 128) on the same training rows, for as many epochs as fit in the same T seconds (including
   reading the images and predicting the holdout and the test set), and scores the same holdout rows.
Load average is printed before and after each part: other processes share the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load() -> str:
    """The 1/5/15-minute load averages."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_framework(data: Path, limit: int, tag: str) -> Path:
    """Run the CLI; return the run folder."""
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "competitions/cifar10",
        "--data",
        str(data),
        "--preset",
        "cpu",
        "--time-limit",
        str(limit),
        "--tag",
        tag,
        "--quiet",
    ]
    print(f"[framework] {' '.join(cmd[1:])}   ({load()})", flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - t0
    run_dir = max((Path.cwd() / "runs" / "cifar10").glob(f"*-{tag}*"), key=lambda p: p.stat().st_mtime)
    summary = json.loads((run_dir / "summary.json").read_text())
    history = json.loads(next(run_dir.glob("checkpoints/*/fold0/history.json")).read_text())
    print(
        f"[framework] holdout accuracy {summary['cv']:.4f} on {summary['cv_rows']} of {summary['n_rows']} rows; "
        f"{len(history)} epochs; wall {wall:.0f}s   ({load()})",
        flush=True,
    )
    return run_dir


def d2l_resnet18(num_classes: int = 10) -> object:
    """d2l.resnet18(num_classes, in_channels=3): ResNet-18 with a 3x3 stride-1 stem and no max-pool."""
    from torch import nn
    from torch.nn import functional as F

    class Residual(nn.Module):
        def __init__(self, c_in: int, c_out: int, use_1x1conv: bool = False, strides: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
            self.conv3 = nn.Conv2d(c_in, c_out, 1, stride=strides) if use_1x1conv else None
            self.bn1, self.bn2 = nn.BatchNorm2d(c_out), nn.BatchNorm2d(c_out)

        def forward(self, x):  # noqa: ANN001, ANN202
            y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(y + (self.conv3(x) if self.conv3 is not None else x))

    def block(c_in: int, c_out: int, n: int, first: bool = False) -> nn.Sequential:
        return nn.Sequential(
            *[Residual(c_in, c_out, True, 2) if i == 0 and not first else Residual(c_out, c_out) for i in range(n)]
        )

    return nn.Sequential(
        nn.Conv2d(3, 64, 3, stride=1, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        block(64, 64, 2, first=True),
        block(64, 128, 2),
        block(128, 256, 2),
        block(256, 512, 2),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(512, num_classes),
    )


def run_d2l(run_dir: Path, limit: int) -> float:
    """Train D2L's recipe within `limit` seconds on the run's training rows; return holdout accuracy."""
    import torch
    import torchvision.transforms as T
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    import competitions.cifar10 as cifar

    start = time.monotonic()
    summary = json.loads((run_dir / "summary.json").read_text())
    data = cifar.load(cifar.Config(), Path(summary["data_dir"]))
    folds = np.load(run_dir / "folds.npy")
    train_idx, valid_idx = np.flatnonzero(folds < 0), np.flatnonzero(folds == 0)
    norm = T.Normalize([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
    train_tf = T.Compose(
        [
            T.Resize(40),
            T.RandomResizedCrop(32, scale=(0.64, 1.0), ratio=(1.0, 1.0)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            norm,
        ]
    )
    test_tf = T.Compose([T.ToTensor(), norm])

    class Files(Dataset):
        def __init__(self, paths: np.ndarray, labels: np.ndarray, tf: object) -> None:
            self.paths, self.labels, self.tf = paths, labels, tf

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            with Image.open(self.paths[i]) as im:
                return self.tf(im.convert("RGB")), int(self.labels[i])

    torch.manual_seed(0)
    train = DataLoader(
        Files(data.X[train_idx], data.y[train_idx], train_tf), batch_size=128, shuffle=True, drop_last=True
    )
    net = d2l_resnet18()
    opt = torch.optim.SGD(net.parameters(), lr=2e-4, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, 4, 0.9)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")

    def predict(paths: np.ndarray) -> np.ndarray:
        net.eval()
        out = []
        with torch.no_grad():
            for xb, _ in DataLoader(Files(paths, np.zeros(len(paths)), test_tf), batch_size=256):
                out.append(net(xb).argmax(1).numpy())
        return np.concatenate(out)

    print(f"[d2l] {len(train_idx)} train / {len(valid_idx)} holdout rows, budget {limit}s   ({load()})", flush=True)
    epoch_s, predict_s, epochs = None, None, 0
    t_pred = time.monotonic()
    predict(data.X[valid_idx[:256]])  # measure prediction speed to reserve time for the final predictions
    predict_s = (time.monotonic() - t_pred) / 256 * (len(valid_idx) + len(data.X_test)) * 1.1
    while True:
        left = limit - (time.monotonic() - start) - predict_s
        if epoch_s is not None and left < epoch_s:
            break
        t0 = time.monotonic()
        net.train()
        for xb, yb in train:
            opt.zero_grad()
            loss_fn(net(xb), yb).sum().backward()
            opt.step()
            if time.monotonic() - start > limit - predict_s:
                break  # the first epoch alone may not fit
        sched.step()
        epochs += 1
        epoch_s = time.monotonic() - t0
        print(f"[d2l] epoch {epochs}: {epoch_s:.0f}s", flush=True)
    acc = float(np.mean(predict(data.X[valid_idx]) == data.y[valid_idx]))
    predict(data.X_test)
    wall = time.monotonic() - start
    print(f"[d2l] holdout accuracy {acc:.4f} after {epochs} epochs; wall {wall:.0f}s   ({load()})", flush=True)
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--time-limit", type=int, default=600)
    parser.add_argument("--run-dir", type=Path, help="reuse a finished framework run (skip step 1)")
    parser.add_argument("--skip-d2l", action="store_true")
    args = parser.parse_args()
    run_dir = args.run_dir or run_framework(args.data, args.time_limit, "bench-cpu")
    if not args.skip_d2l:
        acc = run_d2l(run_dir, args.time_limit)
        ours = json.loads((run_dir / "summary.json").read_text())["cv"]
        print(f"framework cpu preset {ours:.4f} vs D2L recipe {acc:.4f}: {100 * (ours - acc):+.1f} points")


if __name__ == "__main__":
    main()
