"""The segmentation model on drawn shapes: BCE + soft Dice against BCE alone, each with and without flip TTA.

    python benchmarks/segmentation_shapes.py [--train 96] [--test 64] [--epochs 20] [--seeds 0 1 2]

No segmentation download is at hand: the images are the tests' (tests/test_segmentation_model.py `shapes`: a red
circle, class 0, and a blue rectangle, class 1, on noise, each in three images of four, 64 x 128, their masks as
run-length cells). The Segmenter of SMOKE_PRESET (timm's test_resnet from random init, 64 px, 20 epochs, CPU) is
fitted on --train images for each seed, the two losses interleaved (dice_weight 1 and 0: the same seed, data and
epochs), and scored on --test other images by mean Dice at the grid (cut at 0.5, empty with empty scoring 1), beside
the all-empty and the all-full prediction. Writes benchmarks/figures/segmentation_shapes.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    import torch
    from benchutil import save
    from test_segmentation_model import shapes, smoke

    from pipeline.segmentation.estimator import grid_dice

    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=96)
    ap.add_argument("--test", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    rows: list[dict[str, float | int | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        X, y = shapes(Path(tmp) / "train", args.train, seed=100)
        Xt, yt = shapes(Path(tmp) / "test", args.test, seed=200)
        base = {"empty": grid_dice(yt, np.zeros(yt.shape), 2), "full": grid_dice(yt, np.ones(yt.shape), 2)}
        for seed in args.seeds:
            for loss, dice_weight in (("bce+dice", 1.0), ("bce", 0.0)):
                est = smoke(epochs=args.epochs, seed=seed, dice_weight=dice_weight)
                t0 = time.perf_counter()
                est.fit(X, y)
                seconds = time.perf_counter() - t0
                for tta in (False, True):
                    est.tta = tta
                    dice = grid_dice(yt, est.predict(Xt), 2)
                    rows.append({"seed": seed, "loss": loss, "tta": tta, "dice": dice, "fit_seconds": seconds})
                    print(f"seed {seed}  {loss:8s}  tta {tta!s:5s}  dice {dice:.4f}  fit {seconds:.1f}s", flush=True)
    summary = {}
    for loss in ("bce+dice", "bce"):
        for tta in (False, True):
            d = [r["dice"] for r in rows if r["loss"] == loss and r["tta"] == tta]
            summary[f"{loss}, tta={tta}"] = {"mean": float(np.mean(d)), "std": float(np.std(d))}
            print(f"{loss:8s} tta {tta!s:5s}: {np.mean(d):.4f} ± {np.std(d):.4f}")
    print(f"all-empty {base['empty']:.4f}, all-full {base['full']:.4f}")
    command = "python benchmarks/segmentation_shapes.py " + " ".join(sys.argv[1:])
    results = {"threads": torch.get_num_threads(), "baselines": base, "summary": summary, "rows": rows}
    save("segmentation_shapes", command.strip(), results)


if __name__ == "__main__":
    main()
