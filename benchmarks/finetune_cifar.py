"""Fine-tuning vs training from scratch on few images: CIFAR-10's classes split in two, same network, same budget.

    python benchmarks/finetune_cifar.py [--data ../shared/data/cifar-10.zip] [--pretrain-epochs 5] [--epochs 12]
        [--shots 50] [--test-per-class 400] [--seeds 0 1]

1. Pretrains `airbench_small` (pipeline/vision/models.py) from scratch on all training images of five classes
   (airplane, automobile, bird, cat, deer: 5,000 images) and saves its weights (.safetensors).
2. On the OTHER five classes (dog, frog, horse, ship, truck) takes `--shots` images per class for training and keeps
   `--test-per-class` others for evaluation, then trains the same network with the same recipe and epochs:
   from scratch, and fine-tuned from the saved weights (`pretrained_file`) with a frozen-backbone warm-up and
   `backbone_lr` or `layer_decay`; each with several seeds.
Prints a table (mean ± std accuracy over the seeds, seconds per fit) and writes
benchmarks/results/finetune_cifar.json. Load average is printed: other processes share the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE = ["airplane", "automobile", "bird", "cat", "deer"]
TARGET = ["dog", "frog", "horse", "ship", "truck"]


def load() -> str:
    """The 1/5/15-minute load averages."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def images(data: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Training image paths and class indices of the real data (extracted once into a temp folder)."""
    import competitions.cifar10 as cifar
    from pipeline.datadir import extract_competition_zip

    folder = data if data.is_dir() else extract_competition_zip(data, Path(tempfile.gettempdir()) / "cifar10-bench")
    d = cifar.load(cifar.Config(), folder)
    return np.asarray(d.X), np.asarray(d.y), list(d.classes)


def estimator(epochs: int, seed: int, **params: object) -> object:
    """airbench_small with the CIFAR-10 recipe's augmentation (crop, flip, cutout) and label smoothing."""
    import competitions.cifar10 as cifar
    from pipeline.vision import ImageClassifier

    cfg = cifar.Config()
    base = dict(
        arch="airbench_small",
        train_transform=cifar.transforms(cfg, train=True),
        eval_transform=cifar.transforms(cfg, train=False),
        epochs=epochs,
        batch_size=32,
        lr=0.1,
        label_smoothing=0.2,
        tta=(),
        precision="fp32",  # on CPUs without native bf16, autocast to bf16 runs airbench 3x slower than fp32
        random_state=seed,
    )
    return ImageClassifier(**{**base, **params})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cifar-10.zip"))
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every few-shot fit")
    parser.add_argument("--shots", type=int, default=50, help="training images per target class")
    parser.add_argument("--test-per-class", type=int, default=400, help="held-out images per target class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    X, y, classes = images(args.data)
    src = np.isin(y, [classes.index(c) for c in SOURCE])
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for c in TARGET:
        idx = rng.permutation(np.flatnonzero(y == classes.index(c)))
        train_idx += list(idx[: args.shots])
        test_idx += list(idx[args.shots : args.shots + args.test_per_class])
    remap = {classes.index(c): i for i, c in enumerate(TARGET)}
    Xtr, ytr = X[train_idx], np.array([remap[v] for v in y[train_idx]])
    Xte, yte = X[test_idx], np.array([remap[v] for v in y[test_idx]])
    src_y = np.searchsorted(sorted({classes.index(c) for c in SOURCE}), y[src])

    weights = Path(tempfile.gettempdir()) / "finetune-cifar-source.safetensors"
    what = f"airbench_small on {src.sum()} images of {', '.join(SOURCE)}, {args.pretrain_epochs} epochs"
    print(f"[pretrain] {what}   ({load()})", flush=True)
    t0 = time.monotonic()
    pre = estimator(args.pretrain_epochs, 0, batch_size=256, lr=0.2).fit(X[src], src_y)
    pretrain_s = time.monotonic() - t0
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in pre.model_.state_dict().items()}, str(weights))
    print(f"[pretrain] {pretrain_s:.0f}s, saved {weights}", flush=True)

    setups = {
        "scratch": {},
        "fine-tune: freeze 1, backbone_lr 0.3": dict(pretrained_file=str(weights), freeze_epochs=1, backbone_lr=0.3),
        "fine-tune: freeze 2, layer_decay 0.7": dict(pretrained_file=str(weights), freeze_epochs=2, layer_decay=0.7),
        "fine-tune: no policy (all at lr)": dict(pretrained_file=str(weights)),
    }
    rows = []
    for name, params in setups.items():
        accs, secs = [], []
        for seed in args.seeds:
            t0 = time.monotonic()
            est = estimator(args.epochs, seed, **params).fit(Xtr, ytr)
            accs.append(float(np.mean(est.predict(Xte) == yte)))
            secs.append(time.monotonic() - t0)
        rows.append({"setup": name, "params": params, "accuracy": accs, "seconds": secs})
        print(f"[{name}] accuracy {np.mean(accs):.4f} ± {np.std(accs):.4f}  ({load()})", flush=True)

    print(f"\n{args.shots} images per class of {', '.join(TARGET)}; {len(Xte)} held-out images; {args.epochs} epochs")
    print(f"| {'setup':<38} | accuracy        | s per fit |")
    print(f"|{'-' * 40}|-----------------|-----------|")
    for r in rows:
        acc = f"{np.mean(r['accuracy']):.4f} ± {np.std(r['accuracy']):.4f}"
        print(f"| {r['setup']:<38} | {acc:<15} | {np.mean(r['seconds']):9.1f} |")
    out = ROOT / "benchmarks" / "results" / "finetune_cifar.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "source_classes": SOURCE,
        "target_classes": TARGET,
        "pretrain": {"images": int(src.sum()), "epochs": args.pretrain_epochs, "seconds": pretrain_s},
        "shots": args.shots,
        "test_images": len(Xte),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "chance": 1 / len(TARGET),
        "results": rows,
    }
    out.write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchutil import peak_memory, save

    summary["memory"] = peak_memory()
    path = save("finetune_cifar", " ".join(sys.argv), summary)
    print(f"peak RSS {summary['memory']['peak_rss_mib']:.0f} MiB; wrote {path}")


if __name__ == "__main__":
    main()
