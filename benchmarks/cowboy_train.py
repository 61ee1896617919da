"""CowBoy Outfits sample: training images/s, mAP@[.5:.95] and AP50 after a fixed wall-clock budget, and the mAP
change from flip TTA (views fused by WBF) and from WBF of two models.

    python benchmarks/cowboy_train.py --budget 180

Two tiny Faster R-CNNs (seeds 0 and 1) each get half the budget (wall-clock seconds, the trainer's deadline) on 72
sample images. The trainer's per-epoch monitoring (which also measures prediction speed for the deadline) runs on
12 of those training images; the 24 held-out images are used for nothing but the final scores, so the single-model,
TTA and WBF figures are all measured on images no part of the fit has seen. Peak memory (RSS, and CUDA max
allocated on a GPU) is reported. Numbers depend on the machine and its load: compare runs on one machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import peak_memory, reset_cuda_peak, save  # noqa: E402

from competitions.cowboy_outfits import CLASS_NAMES, Config, load, sample  # noqa: E402
from pipeline.contract import FitContext  # noqa: E402
from pipeline.detection.estimator import Detector  # noqa: E402
from pipeline.detection.metric import coco_eval  # noqa: E402
from pipeline.detection.wbf import fuse_rows  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=180.0, help="wall-clock seconds for both models together")
    p.add_argument("--arch", default="fasterrcnn_tiny")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cowboy_bench_"))
    sample(work / "data")
    data = load(Config(), work / "data")
    tr, va = np.arange(72), np.arange(72, 96)
    rows, preds = {}, {}
    reset_cuda_peak()
    for seed in (0, 1):
        est = Detector(
            arch=args.arch,
            num_classes=5,
            class_names=CLASS_NAMES,
            image_size=args.image_size,
            epochs=200,
            batch_size=4,
            lr=0.02,
            warmup=0.05,
            valid_loss=False,
            eval_every=5,  # monitoring only (no selection), on training images; measures prediction speed
            seed=seed,
            tta=False,
        )
        ctx = FitContext(
            workdir=work / f"model{seed}",
            seed=seed,
            deadline=time.monotonic() + args.budget / 2,
            eval_set=(data.X[tr[:12]], data.y[tr[:12]]),  # not the scored images
            log=lambda s: None,
            progress=False,
            predict_rows=2 * len(va),
        )
        t0 = time.perf_counter()
        est.fit(data.X[tr], data.y[tr], context=ctx)
        fit_s = time.perf_counter() - t0
        plain = est.predict(data.X[va])
        est.tta = True
        t0 = time.perf_counter()
        tta = est.predict(data.X[va])
        tta_s = time.perf_counter() - t0
        preds[seed] = {"plain": plain, "tta": tta}
        h = est.history_
        rows[f"seed{seed}"] = {
            "epochs": len(h),
            "fit_s": round(fit_s, 1),
            "train_images_per_s": round(float(np.mean([r["images_per_s"] for r in h])), 1),
            "predict_tta_images_per_s": round(len(va) / tta_s, 1),
            **{
                f"{k}_{name}": round(coco_eval(data.y[va], pr, 5)[k], 4)
                for name, pr in (("plain", plain), ("tta", tta))
                for k in ("mAP", "AP50")
            },
        }
    for view in ("plain", "tta"):
        fused = fuse_rows([preds[0][view], preds[1][view]], iou_thr=0.55)
        res = coco_eval(data.y[va], fused, 5)
        rows[f"wbf_2_models_{view}"] = {
            "mAP": round(res["mAP"], 4),
            "AP50": round(res["AP50"], 4),
            "per_class": dict(zip(CLASS_NAMES, np.round(res["per_class"], 3).tolist(), strict=True)),
        }
    rows["memory"] = peak_memory()
    print(json.dumps({"arch": args.arch, "image_size": args.image_size, "budget_s": args.budget, **rows}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    cmd = f"python benchmarks/cowboy_train.py --budget {args.budget:g}"
    save("cowboy_train", cmd, {"arch": args.arch, "image_size": args.image_size, "wall_budget_s": args.budget, **rows})


if __name__ == "__main__":
    main()
