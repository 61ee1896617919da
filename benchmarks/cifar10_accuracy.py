"""Accuracy under a time budget: the framework's `cpu` preset vs the D2L book's CIFAR-10 recipe, same split and budget.

    python benchmarks/cifar10_accuracy.py [--data ../shared/data/cifar-10.zip] [--time-limit 600] [--preset cpu]

1. Runs `python -m pipeline run competitions/cifar10 --data DATA --preset P --set holdout=0.1 --time-limit T` (a
   fresh process, wall-clock timed) and reads its holdout accuracy from the run folder (the runner's stratified 10%
   holdout). On a GPU, `--preset gpu` is the framework's recipe for one; the figure then goes to
   cifar10_accuracy_cuda.json.
2. Trains D2L's recipe (d2l.ai, "Image Classification (CIFAR-10) on Kaggle": ResNet-18 with a 3x3 stem, Resize 40
   -> RandomResizedCrop 32 scale (0.64, 1) -> flip, SGD momentum 0.9, lr 2e-4 on the summed loss, wd 5e-4, batch
   128) on the same training rows, for as many epochs as fit in the same T seconds (including reading the images and
   predicting the holdout and the test set), and scores the same holdout rows. On a GPU it trains there in fp32, as
   the book does, with 4 loader workers (the book's `get_dataloader_workers()`).

Same footing: the baseline decodes every image once into memory (uint8 arrays, as the framework's cache does) and
augments the decoded arrays, so neither recipe pays JPEG/PNG decoding per epoch. D2L's StepLR(4, 0.9) is written
for 20 epochs (five decays); here its period is scaled to the epochs the budget allows (measured after the first
epoch), so the baseline also completes its schedule. Both recipes' epochs, accuracies and peak memory (the
framework's process: peak RSS of the finished child; the baseline: this process) go to
benchmarks/figures/cifar10_accuracy.json. Load average is printed before and after each part.
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


def run_framework(data: Path, limit: int, tag: str, preset: str) -> Path:
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
        preset,
        "--set",
        "holdout=0.1",
        "--time-limit",
        str(limit),
        "--tag",
        tag,
        "--quiet",
    ]
    print(f"[framework] {' '.join(cmd[1:])}   ({load()})", flush=True)
    t0 = time.monotonic()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)  # keep what was there
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": path})
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


def run_d2l(run_dir: Path, limit: int) -> dict:
    """Train D2L's recipe within `limit` seconds on the run's training rows; return holdout accuracy."""
    import torch
    import torchvision.transforms as T
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    import competitions.cifar10 as cifar

    start = time.monotonic()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    workers = 4 if device == "cuda" else 0
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

    decoded: dict[str, Image.Image] = {}

    def decode(paths: np.ndarray) -> None:
        """Decode each image once, kept in memory (the framework's cache does the same)."""
        for path in paths:
            if path not in decoded:
                with Image.open(path) as im:
                    decoded[path] = Image.fromarray(np.asarray(im.convert("RGB"), dtype=np.uint8))

    class Files(Dataset):
        def __init__(self, paths: np.ndarray, labels: np.ndarray, tf: object) -> None:
            self.paths, self.labels, self.tf = paths, labels, tf

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return self.tf(decoded[self.paths[i]]), int(self.labels[i])

    decode(data.X[train_idx])
    decode(data.X[valid_idx])
    torch.manual_seed(0)
    train = DataLoader(
        Files(data.X[train_idx], data.y[train_idx], train_tf),
        batch_size=128,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device == "cuda",
    )
    net = d2l_resnet18().to(device)
    opt = torch.optim.SGD(net.parameters(), lr=2e-4, momentum=0.9, weight_decay=5e-4)
    sched = None  # StepLR(period, 0.9) with the period scaled to the epochs the budget allows, after epoch 1
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")

    def predict(paths: np.ndarray) -> np.ndarray:
        decode(paths)
        net.eval()
        out = []
        with torch.no_grad():
            for xb, _ in DataLoader(Files(paths, np.zeros(len(paths)), test_tf), batch_size=256, num_workers=workers):
                out.append(net(xb.to(device)).argmax(1).cpu().numpy())
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
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad()
            loss_fn(net(xb), yb).sum().backward()
            opt.step()
            if time.monotonic() - start > limit - predict_s:
                break  # the first epoch alone may not fit
        epochs += 1
        epoch_s = time.monotonic() - t0
        if sched is None:
            fit = max(1, int((limit - (time.monotonic() - start) - predict_s) // epoch_s) + 1)
            sched = torch.optim.lr_scheduler.StepLR(opt, max(1, round(4 * fit / 20)), 0.9)
            print(f"[d2l] ~{fit} epochs fit the budget: StepLR period {sched.step_size}", flush=True)
        sched.step()
        print(f"[d2l] epoch {epochs}: {epoch_s:.0f}s", flush=True)
    acc = float(np.mean(predict(data.X[valid_idx]) == data.y[valid_idx]))
    predict(data.X_test)
    wall = time.monotonic() - start
    print(f"[d2l] holdout accuracy {acc:.4f} after {epochs} epochs; wall {wall:.0f}s   ({load()})", flush=True)
    return {"accuracy": acc, "epochs": epochs, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--time-limit", type=int, default=600)
    parser.add_argument("--run-dir", type=Path, help="reuse a finished framework run (skip step 1)")
    parser.add_argument("--skip-d2l", action="store_true")
    parser.add_argument("--preset", default="cpu", help="the framework's preset (gpu on a GPU)")
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchutil import peak_memory, save

    t0 = time.monotonic()
    run_dir = args.run_dir or run_framework(args.data, args.time_limit, f"bench-{args.preset}", args.preset)
    framework_wall = time.monotonic() - t0
    framework_rss = peak_memory()["children_peak_rss_mib"]
    summary = json.loads((run_dir / "summary.json").read_text())
    epochs = len(json.loads(next(run_dir.glob("checkpoints/*/fold0/history.json")).read_text()))
    results = {
        "device": torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores",
        "preset": args.preset,
        "time_limit_s": args.time_limit,
        "framework": {
            "accuracy": summary["cv"],
            "epochs": epochs,
            "wall_s": framework_wall,
            "peak_rss_mib": framework_rss,
            "run": run_dir.name,
        },
    }
    if not args.skip_d2l:
        d2l = run_d2l(run_dir, args.time_limit)
        results["d2l"] = d2l | {"peak_rss_mib": peak_memory()["peak_rss_mib"]}
        print(
            f"framework {args.preset} preset {summary['cv']:.4f} ({epochs} epochs) vs D2L recipe {d2l['accuracy']:.4f} "
            f"({d2l['epochs']} epochs): {100 * (summary['cv'] - d2l['accuracy']):+.1f} points"
        )
    results["memory"] = peak_memory()
    save(
        "cifar10_accuracy_cuda" if cuda else "cifar10_accuracy",
        f"python benchmarks/cifar10_accuracy.py --time-limit {args.time_limit} --preset {args.preset}",
        results,
    )


if __name__ == "__main__":
    main()
