"""A segmentation run of a generated download: its CV Dice against the all-empty prediction, and the mask cut fitted
out of fold (Config.fit_mask_cut, pipeline/segmentation/mask_cut.py) against mask_threshold 0.5 and min_area 0.

    python benchmarks/segmentation.py [--train 200] [--test 16] [--epochs 8] [--folds 3] [--seeds 0,1,2] [--threads 2]

No segmentation download is at hand: this one is generated in Severstal's layout (train.csv
`ImageId,ClassId,EncodedPixels` of the masks there are, a sample of one row per image and class), 48 x 48 PNGs of
dark noise with two classes: "blob", a bright ellipse in 60% of the images, and "speck", one or two bright 4 x 4
squares in 40% of them, while half the images hold a decoy of the same colour, 2 x 2 and in no mask, that a small
network takes for a speck: tiny false positives on images without the class, which mean Dice scores 0 per pair.
`new` writes its competition (fit_mask_cut on); each seed runs it once with the smoke U-Net (`--preset fast`: timm's
test_resnet from random init, 64 px, flip TTA) on k folds for a fixed number of epochs. Each run's own out-of-fold
probabilities give every figure, so the comparison is exact (the same network outputs for every cut):
- all empty: the score of predicting no mask anywhere;
- at 0.5 / min_area 0: the blend's out-of-fold Dice cut at the Config's cut (threshold.json's score_before);
- fitted out of fold: each fold's images cut at the cut fitted on the other folds' images (score_after: the run's CV
  when it beats the Config's cut, which it must to be applied), and per class;
- fitted in sample: the cut fitted on every image, scored on those same images: flattering, shown for the gap.
Results: benchmarks/figures/segmentation.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchutil import fast_run, peak_memory, save, scratch_cwd  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.segmentation.mask_cut import remap  # noqa: E402
from pipeline.segmentation.rle import encode  # noqa: E402

NAME = "shapes_mask_cut"
SIZE = 48


def _draw(rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """One image and its two masks (blob, speck), as the module docstring draws them."""
    img = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
    blob, speck = np.zeros((SIZE, SIZE), np.uint8), np.zeros((SIZE, SIZE), np.uint8)
    if rng.random() < 0.6:
        h, w = rng.integers(8, 20, 2)
        cy, cx = rng.integers(h, SIZE - h), rng.integers(w, SIZE - w)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        blob[((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2 <= 1] = 1
        img[blob > 0] = (200, 120, 60)
    if rng.random() < 0.4:
        for _ in range(int(rng.integers(1, 3))):
            top, left = rng.integers(0, SIZE - 4, 2)
            speck[top : top + 4, left : left + 4] = 1
    if rng.random() < 0.5:  # the decoy: a speck's colour, smaller, in no mask
        top, left = rng.integers(0, SIZE - 2, 2)
        img[top : top + 2, left : left + 2] = (60, 220, 255)
    img[speck > 0] = (60, 220, 255)
    return img, [blob, speck]


def download(root: Path, n_train: int, n_test: int, seed: int = 7) -> Path:
    """The generated download in Severstal's layout (column-ordered runs)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    lines, sample = ["ImageId,ClassId,EncodedPixels"], ["ImageId,EncodedPixels,ClassId"]
    for folder, n in (("train_images", n_train), ("test_images", n_test)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, masks = _draw(rng)
            key = f"{folder[:2]}{i:04d}.png"
            Image.fromarray(img).save(root / folder / key)
            if folder == "train_images":
                lines += [f"{key},{c + 1},{encode(m, 'column')}" for c, m in enumerate(masks) if m.any()]
            else:
                sample += [f"{key},1 1,{c}" for c in (1, 2)]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    (root / "sample_submission.csv").write_text("\n".join(sample) + "\n")
    return root


def _per_class_out_of_fold(module: Any, cfg: Any, cut: dict[str, Any], oof: np.ndarray, folds: np.ndarray) -> Any:
    """The blend's OOF probabilities with each fold's images cut at that fold's fitted cut (threshold.json's
    fold_cuts: one model and k folds, the nested groups are the folds)."""
    out = np.array(oof, copy=True)
    for k, fold_cut in enumerate(cut["fold_cuts"]):
        rows = folds == k
        pixels = [module.FILES.min_pixels(dataclasses.replace(cfg, min_area=a)) for a in fold_cut["min_areas"]]
        out[rows] = remap(oof[rows], len(pixels), fold_cut["thresholds"], pixels, cfg.mask_threshold)
    return out


def one_run(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run of the generated competition; the cut's record, the all-empty score and the per-class Dice."""
    r = fast_run(comp, data, seed, args.folds, args.epochs)
    run_dir, summary, module, cfg, y, seconds = r.run_dir, r.summary, r.module, r.cfg, r.y, r.seconds
    cut = json.loads((run_dir / "threshold.json").read_text())
    folds = np.load(run_dir / "folds.npy")
    oof = np.load(run_dir / "oof" / "_blend.npy")
    cut_oof = _per_class_out_of_fold(module, cfg, cut, oof, folds)
    assert abs(module.score(y, cut_oof, cfg=cfg) - cut["score_after"]) < 1e-9  # the stage's own out-of-fold score
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "all_empty": module.score(y, np.zeros(y.shape), cfg=cfg),
        "at_0.5_min_area_0": cut["score_before"],
        "fitted_out_of_fold": cut["score_after"],
        "fitted_in_sample": cut["in_sample_score"],
        "per_class_at_0.5": module.FILES.class_scores(y, oof, cfg),
        "per_class_fitted_out_of_fold": module.FILES.class_scores(y, cut_oof, cfg),
        "fitted": cut["fitted"],
        "fold_cuts": cut["fold_cuts"],
        "applied": cut["applied"],
        "cv": summary["cv"],
    }


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=200, help="training images of the generated download")
    p.add_argument("--test", type=int, default=16, help="test images")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", default="0,1,2", help="one run per seed, comma-separated")
    p.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    with scratch_cwd() as tmp:
        data = download(tmp / "shapes-download", args.train, args.test)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps")]) == 0
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(one_run(tmp / "comps" / NAME, data, args, seed))
            print(json.dumps(results[-1]), flush=True)
    keys = ("all_empty", "at_0.5_min_area_0", "fitted_out_of_fold", "fitted_in_sample", "cv")
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    command = "python benchmarks/segmentation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "epochs", "folds", "threads")}
    path = save("segmentation", command.strip(), {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
    print(f"mean {json.dumps(mean)}\n-> {path}")


if __name__ == "__main__":
    main_()
