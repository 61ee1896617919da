"""Four classes on generated Severstal-layout images: is a weak multi-class score the framework's or the task's?

    python benchmarks/segmentation_classes.py [--train 160] [--test 40] [--epochs 20] [--seeds 0 1 2]

The images are the tests' Severstal download (tests/mask_downloads.py `drawn`: 32 x 128 dark noise, class k where
present a shape of its own, an ellipse for class 0 and rectangles after, each class absent with probability 0.6),
in three versions of the generator:
- `grey, painted over`: class k a grey of 255 - 40 k, and a later class drawn over an earlier one without the earlier
  mask losing those pixels (the generator before: a quarter of class 0's mask shows another class's grey);
- `grey`: the same greys, each mask what the image shows of its class;
- `colour` (the generator now): white, red, green, blue, each mask what the image shows.
For each generator and seed the recipes are interleaved on the same images: Segmenter with SMOKE_PRESET (timm's
test_resnet from random init, 64 px, 20 epochs, AdamW 3e-3 cosine, flips, shift-scale-rotate, brightness/contrast
+-0.2), the same without the brightness/contrast augmentation, the same with BCE alone (dice_weight 0), and a plain
PyTorch loop (the same U-Net, loss, optimizer and schedule on the arrays resized once, no augmentation) as the
reference the framework's data path is checked against. Scored on --test other images of the same generator: each
class's mean Dice at the images' 32 x 128 (cut at 0.5, an empty truth predicted empty scoring 1) beside the all-empty
prediction's. Writes benchmarks/figures/segmentation_classes.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

SIZE, CLASSES = (32, 128), 4
Drawer = Callable[[np.random.Generator], tuple[np.ndarray, list[np.ndarray]]]


def grey(rng: np.random.Generator, painted_over: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """The generator before: class k a grey of 255 - 40 k (less up to 20); `painted_over` keeps a mask's pixels that
    a later class is drawn over."""
    from mask_downloads import shape_mask

    img = rng.integers(0, 50, (*SIZE, 3)).astype(np.uint8)
    masks: list[np.ndarray] = []
    for k in range(CLASSES):
        if rng.random() < 0.6:
            masks.append(np.zeros(SIZE, np.uint8))
            continue
        mask = shape_mask(rng, *SIZE, "ellipse" if k == 0 else "rectangle")
        img[mask > 0] = 255 - 40 * k - rng.integers(0, 20, (int(mask.sum()), 3))
        for earlier in masks if not painted_over else []:
            earlier[mask > 0] = 0
        masks.append(mask)
    return img, masks


def generators() -> dict[str, Drawer]:
    from mask_downloads import drawn

    return {
        "grey, painted over": lambda rng: grey(rng, True),
        "grey": lambda rng: grey(rng, False),
        "colour": lambda rng: drawn(rng, *SIZE, CLASSES, 0.6),
    }


def make(folder: Path, n: int, seed: int, draw: Drawer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n images written as PNGs: X (path, a column-order cell per class), y (class-major masks) and the images."""
    from mask_downloads import _write_png

    from pipeline.segmentation import rle

    rng = np.random.default_rng(seed)
    rows, ys, imgs = [], [], []
    for i in range(n):
        img, masks = draw(rng)
        path = folder / f"{seed}_{i:03d}.png"
        _write_png(path, img)
        rows.append([str(path), *(rle.encode(m, "column") for m in masks)])
        ys.append(np.stack(masks).reshape(-1))
        imgs.append(img)
    return np.array(rows, dtype=object), np.stack(ys).astype(np.uint8), np.stack(imgs)


def segmenter(seed: int, epochs: int, **overrides: Any) -> Any:
    from pipeline.segmentation.estimator import Segmenter
    from pipeline.segmentation.recipe import SMOKE_PRESET

    params = {k: v for k, v in SMOKE_PRESET.items() if k not in ("models", "holdout")}
    params |= {"encoder": SMOKE_PRESET["models"][0], "num_classes": CLASSES, "grid": SIZE, "order": "column"}
    return Segmenter(**(params | {"epochs": epochs, "seed": seed, "tta": False} | overrides))


def plain_loop(images: np.ndarray, y: np.ndarray, test: np.ndarray, seed: int, epochs: int) -> np.ndarray:
    """The reference: the smoke U-Net trained by a bare loop on the arrays (resized as the Segmenter resizes them),
    the trainer's loss, AdamW, 5% warm-up then cosine; test probabilities at the images' size."""
    import cv2
    import torch
    import torch.nn.functional as F

    from pipeline.segmentation.models import build_unet, input_size, normalisation
    from pipeline.segmentation.recipe import SMOKE_PRESET as P
    from pipeline.segmentation.trainer import seg_loss

    h, w = input_size(P["image_size"], SIZE)
    torch.manual_seed(seed)
    model, _ = build_unet(P["models"][0], CLASSES, P["decoder_channels"])
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) * 255 for v in normalisation(model))

    def prep(imgs: np.ndarray) -> torch.Tensor:
        small = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in imgs])
        return (torch.from_numpy(small).permute(0, 3, 1, 2).float() - mean) / std

    masks = y.reshape(len(y), CLASSES, *SIZE).transpose(0, 2, 3, 1)
    target = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in masks]).transpose(0, 3, 1, 2)
    x, t, bs = prep(images), torch.from_numpy(np.ascontiguousarray(target)).float(), P["batch_size"]
    opt = torch.optim.AdamW(model.parameters(), lr=P["lr"], weight_decay=1e-4)
    total = epochs * -(-len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, P["lr"], total_steps=total, pct_start=P["warmup"])
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for rows in torch.randperm(len(x), generator=g).split(bs):
            loss = seg_loss(model(x[rows]), t[rows], 1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        p = F.interpolate(torch.sigmoid(model(prep(test))), size=SIZE, mode="bilinear", align_corners=False)
    return p.numpy().reshape(len(p), -1)


RECIPES = {
    "smoke preset": {},
    "no brightness/contrast aug": {"color_p": 0.0},
    "BCE alone": {"dice_weight": 0.0},
}


def run_seed(gen: str, draw: Drawer, seed: int, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """Every recipe and the plain loop on one generator's images of one seed: a row each."""
    from pipeline.segmentation.metric import class_dice

    folder = tmp / f"{gen.replace(' ', '_').replace(',', '')}_{seed}"
    folder.mkdir()
    X, y, images = make(folder, args.train + args.test, 1000 + seed, draw)
    X, Xt, y, yt, images, test = (
        X[: args.train],
        X[args.train :],
        y[: args.train],
        y[args.train :],
        *np.split(images, [args.train]),
    )
    empty = class_dice(yt, np.zeros(yt.shape, np.float32), CLASSES)
    rows = []
    for name in [*RECIPES, "plain PyTorch loop"]:
        t0 = time.perf_counter()
        if name in RECIPES:
            pred = segmenter(seed, args.epochs, **RECIPES[name]).fit(X, y).predict(Xt)
        else:
            pred = plain_loop(images, y, test, seed, args.epochs)
        dice = class_dice(yt, pred, CLASSES)
        row = {"generator": gen, "recipe": name, "seed": seed, "class_dice": dice, "empty_dice": empty}
        rows.append(row | {"mean_dice": float(np.mean(dice)), "fit_seconds": time.perf_counter() - t0})
        print(f"{gen:18s} {name:26s} seed {seed}  {np.mean(dice):.4f}  {np.round(dice, 3)}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per generator and recipe: mean Dice (mean and std over seeds), each class's Dice, and in how many seeds every
    class beat its all-empty prediction by 0.05; per generator the all-empty prediction's."""
    summary: dict[str, Any] = {}
    for gen in generators():
        empty = np.mean([r["empty_dice"] for r in rows if r["generator"] == gen], axis=0)
        summary[gen] = {"all-empty": {"mean": float(np.mean(empty)), "class_dice": [float(v) for v in empty]}}
        for name in [*RECIPES, "plain PyTorch loop"]:
            mine = [r for r in rows if r["generator"] == gen and r["recipe"] == name]
            means = [r["mean_dice"] for r in mine]
            per_class = np.mean([r["class_dice"] for r in mine], axis=0)
            beats = sum(all(np.greater(r["class_dice"], np.add(r["empty_dice"], 0.05))) for r in mine)
            summary[gen][name] = {
                "mean": float(np.mean(means)),
                "std": float(np.std(means)),
                "class_dice": [float(v) for v in per_class],
                "seeds_every_class_beats_empty_by_0.05": int(beats),
            }
            line = f"{np.mean(means):.4f} ± {np.std(means):.4f}  {np.round(per_class, 3)}  {beats}/{len(mine)}"
            print(f"{gen:18s} {name:26s} {line}")
        print(f"{gen:18s} {'all-empty':26s} {np.mean(empty):.4f}  {np.round(empty, 3)}")
    return summary


def main() -> None:
    import torch
    from benchutil import save

    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=160)
    ap.add_argument("--test", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for gen, draw in generators().items():
                rows += run_seed(gen, draw, seed, args, Path(tmp))
    summary = summarise(rows)
    command = "python benchmarks/segmentation_classes.py " + " ".join(sys.argv[1:])
    save(
        "segmentation_classes", command.strip(), {"threads": torch.get_num_threads(), "summary": summary, "rows": rows}
    )


if __name__ == "__main__":
    main()
