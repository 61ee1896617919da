"""Small objects on larger images: the whole image shrunk to the network against tiles at the images' own size.

    python benchmarks/segmentation_tiles.py [--images 64] [--size 128] [--epochs 20] [--folds 2] [--seeds 0 1]

Generated images (--size px square, noise with two to five small bright discs of radius 2-4 px, their union the one
class, as run-length cells). Per seed and fold, on the same images, epochs, folds and seed, interleaved:
`Segmenter` with SMOKE_PRESET (timm's test_resnet from random init, AdamW 3e-3 cosine, the default augmentation)
trained on whole images resized to 64 px (`whole 64`) and with `tile` 64 at the full --size (`tile 64 @ size`: one
random 64 px crop per image per epoch, prediction by blended sliding windows). Scored out of fold by mean Dice at the
images' own size (the grid), cut at 0.5. Writes benchmarks/figures/segmentation_tiles.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def discs(folder: Path, n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n noise images with small bright discs: X (path, cell; column order) and y (the masks at full size)."""
    import cv2

    from pipeline.segmentation import rle

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, ys = [], []
    for i in range(n):
        image = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(2, 6))):
            centre = (int(rng.integers(4, size - 4)), int(rng.integers(4, size - 4)))
            cv2.circle(mask, centre, int(rng.integers(2, 5)), 1, -1)
        image[mask > 0] = (200, 200, 90)
        path = folder / f"disc{i:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append([str(path), rle.encode(mask, "column")])
        ys.append(mask.reshape(-1))
    return np.array(rows, dtype=object), np.stack(ys)


def segmenter(size: int, tile: int | None, epochs: int, seed: int) -> Any:
    """SMOKE_PRESET's Segmenter for one class at size x size: whole images at 64 px, or tiles at the full size."""
    from pipeline.segmentation.estimator import Segmenter
    from pipeline.segmentation.recipe import SMOKE_PRESET

    params = {k: v for k, v in SMOKE_PRESET.items() if k not in ("models", "holdout")}
    params |= {"encoder": SMOKE_PRESET["models"][0], "grid": (size, size), "order": "column", "tta": False}
    image_size = size if tile is not None else 64
    return Segmenter(**params | {"image_size": image_size, "tile": tile, "epochs": epochs, "seed": seed})


def main() -> None:
    import torch
    from benchutil import save

    from pipeline.segmentation.estimator import grid_dice

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    variants = {"whole 64": None, f"tile 64 @ {args.size}": 64}
    rows: list[dict[str, float | int | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        X, y = discs(Path(tmp), args.images, args.size, seed=300)
        fold = np.arange(len(X)) % args.folds
        for seed in args.seeds:
            oof = {name: np.zeros(y.shape, np.float32) for name in variants}
            seconds = dict.fromkeys(variants, 0.0)
            for k in range(args.folds):
                for name, tile in variants.items():
                    est, t0 = segmenter(args.size, tile, args.epochs, seed), time.perf_counter()
                    est.fit(X[fold != k], y[fold != k])
                    oof[name][fold == k] = est.predict(X[fold == k])
                    seconds[name] += time.perf_counter() - t0
            for name in variants:
                dice = grid_dice(y, oof[name], 1)
                rows.append({"seed": seed, "variant": name, "oof_dice": dice, "seconds": seconds[name]})
                print(f"seed {seed}  {name:14s}  oof dice {dice:.4f}  {seconds[name]:.1f}s", flush=True)
        base = {"empty": grid_dice(y, np.zeros(y.shape), 1), "full": grid_dice(y, np.ones(y.shape), 1)}
    summary = {}
    for name in variants:
        d = [r["oof_dice"] for r in rows if r["variant"] == name]
        summary[name] = {"mean": float(np.mean(d)), "std": float(np.std(d))}
        print(f"{name:14s}: {np.mean(d):.4f} ± {np.std(d):.4f}")
    command = "python benchmarks/segmentation_tiles.py " + " ".join(sys.argv[1:])
    results = {"threads": torch.get_num_threads(), "baselines": base, "summary": summary, "rows": rows}
    save("segmentation_tiles", command.strip(), results)


if __name__ == "__main__":
    main()
