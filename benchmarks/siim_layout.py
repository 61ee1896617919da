"""A run of a generated SIIM-ACR Pneumothorax-style download against its empty-everywhere submission, out of fold.

    python benchmarks/siim_layout.py [--train 96] [--test 8] [--empty 0.7] [--epochs 8] [--folds 3] [--seeds 0,1]

No SIIM download is at hand: this one is generated in its layout (tests/mask_downloads.py `siim_download`): 64 x 64
grey DICOM files nested as dicom-images-train/<study>/<series>/<id>.dcm, train-rle.csv `ImageId, EncodedPixels` of
relative column-wise runs, one row per bright region (an ellipse and up to two rectangles, often overlapping: each
image's mask is their union) and one " -1" row for an image with none (--empty of them, as most SIIM images are),
a sample of "-1". `new` writes its competition with no hand-written code; each seed runs it once with the smoke U-Net
(`--preset fast`: timm's test_resnet from random init, 64 px, flip TTA) on k folds for a fixed number of epochs. Every
figure is mean Dice over the training images' out-of-fold predictions, an empty truth and an empty prediction scoring
1, as Kaggle scores SIIM:
- empty everywhere: the submission of "-1" for every image (the sample's), on the same images;
- the run: its CV (the mask cut fitted out of fold where it beats 0.5, threshold.json), and at 0.5;
- split: the run's Dice on the images with a mask, and the share of the images without one it leaves empty.
Results: benchmarks/figures/siim_layout.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchutil import fast_run, peak_memory, save, scratch_cwd  # noqa: E402
from mask_downloads import siim_download  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.segmentation.metric import pair_dice  # noqa: E402

NAME = "siim_layout_bench"


def one_run(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run of the generated competition: its out-of-fold Dice beside the empty submission's on the same images."""
    r = fast_run(comp, data, seed, args.folds, args.epochs)
    run_dir, summary, module, cfg, y, seconds = r.run_dir, r.summary, r.module, r.cfg, r.y, r.seconds
    cut = json.loads((run_dir / "threshold.json").read_text())
    assert (np.load(run_dir / "folds.npy") >= 0).all()  # every image predicted out of fold
    final = run_dir / "oof" / "_threshold.npy"
    oof = np.load(final if final.is_file() else run_dir / "oof" / "_blend.npy")
    pairs = pair_dice(y, oof, 1, cfg.mask_threshold, module.FILES.min_pixels(cfg))[:, 0]  # as score cuts them
    assert abs(pairs.mean() - summary["cv"]) < 1e-9  # the CV is these predictions' Dice
    has = y.any(axis=1)
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "empty_everywhere": module.score(y, np.zeros(y.shape), cfg=cfg),
        "run_cv": summary["cv"],
        "run_at_0.5": cut["score_before"],
        "cut_applied": cut["applied"],
        "dice_on_images_with_a_mask": float(pairs[has].mean()),
        "images_without_a_mask_left_empty": float(pairs[~has].mean()),
        "images": int(len(y)),
        "images_with_a_mask": int(has.sum()),
    }


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=96, help="training images of the generated download")
    p.add_argument("--test", type=int, default=8, help="test images")
    p.add_argument("--empty", type=float, default=0.7, help="the share of images with no region")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", default="0,1", help="one run per seed, comma-separated")
    p.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    with scratch_cwd() as tmp:
        data, _ = siim_download(tmp / "siim-acr-pneumothorax-segmentation", args.train, args.test, p_empty=args.empty)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps")]) == 0
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(one_run(tmp / "comps" / NAME, data, args, seed))
            print(json.dumps(results[-1]), flush=True)
    keys = ("empty_everywhere", "run_cv", "run_at_0.5")
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    command = "python benchmarks/siim_layout.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "empty", "epochs", "folds", "threads")}
    path = save("siim_layout", command.strip(), {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
    print(f"mean {json.dumps(mean)}\n-> {path}")


if __name__ == "__main__":
    main_()
