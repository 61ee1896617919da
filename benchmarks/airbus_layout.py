"""A run of a generated Airbus Ship Detection-style download against its all-empty submission, out of fold.

    python benchmarks/airbus_layout.py [--train 64] [--test 8] [--epochs 10] [--folds 3] [--seeds 0] [--cut]
        [--touching]

No Airbus download is at hand: this one is generated in its layout (tests/mask_downloads.py `airbus_download`):
64 x 64 JPEGs in train_v2/ and test_v2/, train_ship_segmentations_v2.csv `ImageId,EncodedPixels` of absolute
column-wise runs, one row per ship (0 to 3 bright rectangles on dark noise, each in a quadrant of its own, so no two
touch) and one empty row for an image with none, and sample_submission_v2.csv listing each test image once. `new`
writes its competition with no hand-written code (the folder's name, airbus-ship-detection, gives metric f2_iou);
each seed runs it once with the smoke U-Net (`--preset fast`: timm's test_resnet from random init, 64 px, flip TTA)
on k folds for a fixed number of epochs. Every figure is Kaggle's F2 over IoU thresholds 0.5 to 0.95 per image,
averaged over the training images' out-of-fold predictions, on instances: the connected components of the
out-of-fold masks against those of the unioned truth:
- all empty: the submission of one empty row per image, on the same images (an image without ships scores 1, one
  with ships 0);
- the run: its CV; split into the images with ships and those without; predicted and true objects counted.
The run is at the Config's cut (mask_threshold 0.5, min_area 0: fit_mask_cut off). Results:
benchmarks/figures/airbus_layout.json.

With --cut, each seed runs once with fit_mask_cut on (what `new` writes) and the one blend is scored at both cuts, on
the same folds and models: the Config's (mask_threshold 0.5, min_area 0) and the threshold and min_area fitted to F2
(pipeline/segmentation/mask_cut.py), scored out of fold (each nested group cut at the cut fitted on the others), with
its in-sample score beside it; each split into the images with ships and those without, predicted objects counted.
Results: benchmarks/figures/airbus_cut.json.

With --touching, the download's images with ships mostly have two that touch (`airbus_download(touching=True)`: the
first rectangle two ships side by side, the second dimmer), and each seed runs twice, interleaved, with the same
folds, seed and epochs at the Config's cut (fit_mask_cut off): `touching` off (the union learnt, objects its
components) and on (the contact map learnt too, objects split at it: instances.label_objects). Both are scored
against the true ships, each CSV row one object (the truth split at its contact map), over every image and over
those with touching ships; objects counted. Results: benchmarks/figures/airbus_touching.json.
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
from mask_downloads import airbus_download  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.segmentation.instances import components, image_score  # noqa: E402
from pipeline.segmentation.object_cut import channels_of  # noqa: E402

NAME = "airbus_layout_bench"


def one_run(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run of the generated competition: its out-of-fold F2-IoU beside the all-empty submission's."""
    r = fast_run(comp, data, seed, args.folds, args.epochs, ("fit_mask_cut=false",))
    run_dir, summary, module, cfg, y, seconds = r.run_dir, r.summary, r.module, r.cfg, r.y, r.seconds
    grid = module.FILES.grid
    assert (np.load(run_dir / "folds.npy") >= 0).all()  # every image predicted out of fold
    oof = np.load(run_dir / "oof" / "_blend.npy")
    truth = [components(t.reshape(grid) > 0.5) for t in y]
    pred = [components(p.reshape(grid) > cfg.mask_threshold, module.FILES.min_pixels(cfg)) for p in oof]
    images = np.array([image_score(t, p) for t, p in zip(truth, pred, strict=True)])
    assert abs(images.mean() - summary["cv"]) < 1e-9  # the CV is these instances' F2-IoU
    has = np.array([bool(t) for t in truth])
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "all_empty": module.score(y, np.zeros(y.shape), cfg=cfg),
        "run_cv": summary["cv"],
        "run_on_images_with_ships": float(images[has].mean()),
        "run_on_images_without": float(images[~has].mean()),
        "true_ships": int(sum(len(t) for t in truth)),
        "predicted_ships": int(sum(len(p) for p in pred)),
        "images": int(len(y)),
        "images_with_ships": int(has.sum()),
    }


def instance_scores(module: Any, cfg: Any, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """F2-IoU of `pred` at the Config's cut, over every image, those with ships and those without; objects counted."""
    grid = module.FILES.grid
    truth = [components(t.reshape(grid) > 0.5) for t in y]
    found = [components(p.reshape(grid) > cfg.mask_threshold, module.FILES.min_pixels(cfg)) for p in pred]
    images = np.array([image_score(t, p) for t, p in zip(truth, found, strict=True)])
    has = np.array([bool(t) for t in truth])
    return {
        "f2": float(images.mean()),
        "with_ships": float(images[has].mean()),
        "without": float(images[~has].mean()),
        "predicted_ships": int(sum(len(p) for p in found)),
    }


def cut_run(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run with fit_mask_cut on: its blend at the Config's cut and at the cut fitted to F2 out of fold."""
    r = fast_run(comp, data, seed, args.folds, args.epochs, ("fit_mask_cut=true",))
    cut = json.loads((r.run_dir / "threshold.json").read_text())
    blend = np.load(r.run_dir / "oof" / "_blend.npy")
    at_config = instance_scores(r.module, r.cfg, r.y, blend)
    assert abs(at_config["f2"] - cut["score_before"]) < 1e-9
    out = {"seed": seed, "seconds": round(r.seconds, 1), "configured": at_config, "run_cv": r.summary["cv"]}
    fitted = r.run_dir / "oof" / "_threshold.npy"  # the out-of-fold cut's probabilities, written when applied
    if fitted.exists():
        out["fitted_out_of_fold"] = instance_scores(r.module, r.cfg, r.y, np.load(fitted))
        assert abs(out["fitted_out_of_fold"]["f2"] - cut["score_after"]) < 1e-9
    else:
        out["fitted_out_of_fold"] = {"f2": cut.get("score_after")}
    out |= {k: cut.get(k) for k in ("fitted", "fold_cuts", "in_sample_score", "applied")}
    assert out["run_cv"] == (cut["score_after"] if cut["applied"] else cut["score_before"])
    return out


def touching_runs(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One seed's runs with `touching` off and on, each scored against the true ships (each row one object)."""
    from pipeline.contract import load_competition

    module = load_competition(str(comp))
    files, cfg = module.FILES, module.Config(touching=True)
    masks, contacts = channels_of(module.load(cfg, data).y, files.grid, True)
    truth = [components(m > 0.5, 0, c) for m, c in zip(masks, contacts, strict=True)]
    pairs = np.array([len(t) > len(components(m > 0.5)) for t, m in zip(truth, masks, strict=True)])
    out: dict[str, Any] = {"seed": seed, "true_ships": int(sum(len(t) for t in truth)), "images": len(truth)}
    out["images_with_touching_ships"] = int(pairs.sum())
    for name, on in (("off", False), ("on", True)):
        r = fast_run(comp, data, seed, args.folds, args.epochs, ("fit_mask_cut=false", f"touching={str(on).lower()}"))
        probs, maps = channels_of(np.load(r.run_dir / "oof" / "_blend.npy"), files.grid, on)
        found = [
            components(p > r.cfg.mask_threshold, files.min_pixels(r.cfg), None if maps is None else maps[i])
            for i, p in enumerate(probs)
        ]
        images = np.array([image_score(t, p) for t, p in zip(truth, found, strict=True)])
        if on:
            assert abs(images.mean() - r.summary["cv"]) < 1e-9  # the run's CV is this score
        out[name] = {
            "f2": float(images.mean()),
            "on_images_with_touching_ships": float(images[pairs].mean()),
            "on_the_others": float(images[~pairs].mean()),
            "predicted_ships": int(sum(len(p) for p in found)),
            "seconds": round(r.seconds, 1),
        }
    return out


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=64, help="training images of the generated download")
    p.add_argument("--test", type=int, default=8, help="test images")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", default="0", help="one run per seed, comma-separated")
    p.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    p.add_argument("--cut", action="store_true", help="the Config's cut against the one fitted to F2 out of fold")
    p.add_argument("--touching", action="store_true", help="touching ships: the setting touching off against on")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    with scratch_cwd() as tmp:
        data, _ = airbus_download(tmp / "airbus-ship-detection", args.train, args.test, touching=args.touching)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps")]) == 0
        run = touching_runs if args.touching else cut_run if args.cut else one_run
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(run(tmp / "comps" / NAME, data, args, seed))
            print(json.dumps(results[-1]), flush=True)
    if args.touching:
        mean = {k: float(np.mean([r[k]["f2"] for r in results])) for k in ("off", "on")}
    elif args.cut:
        mean = {
            "configured": float(np.mean([r["configured"]["f2"] for r in results])),
            "fitted_out_of_fold": float(np.mean([r["fitted_out_of_fold"]["f2"] for r in results])),
            "in_sample_score": float(np.mean([r["in_sample_score"] for r in results])),
            "run_cv": float(np.mean([r["run_cv"] for r in results])),
        }
    else:
        mean = {k: float(np.mean([r[k] for r in results])) for k in ("all_empty", "run_cv")}
    command = "python benchmarks/airbus_layout.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "epochs", "folds", "threads")}
    figures = {"settings": settings, "runs": results, "mean": mean, **peak_memory()}
    name = "airbus_touching" if args.touching else "airbus_cut" if args.cut else "airbus_layout"
    path = save(name, command.strip(), figures)
    print(f"mean {json.dumps(mean)}\n-> {path}")


if __name__ == "__main__":
    main_()
