"""The confidence below which a detection run submits no box, under Kaggle's IoU metric: min_score 0.5 (what `new`
writes) against the cut fitted out of fold (Config.fit_min_score, pipeline/detection/box_cut.py), on one run's boxes.

    python benchmarks/box_cut.py [--train 120] [--test 20] [--epochs 4,10] [--folds 3] [--seeds 0,1] [--threads 1]

No real detection data is at hand: the download is the tests' generated Global Wheat layout (tests/box_downloads.py:
64 px PNGs of 0 to 3 bright squares on dark noise, a quarter of the images with none), larger. `new` writes its
competition (iou_map, fit_min_score on); each seed runs it once per training length (`--epochs`: a detector stopped
early and one trained on) with the tiny Faster R-CNN from random init (`--preset fast` at the images' own 64 px, flip
TTA fused by WBF), k folds, the runs interleaved. Each run's own out-of-fold boxes give every figure, so the
comparison is exact (the same network outputs for every cut):
- min_score 0.5: the blend's out-of-fold iou_map with its boxes cut at 0.5 (threshold.json's score_before);
- fitted out of fold: each fold's images cut at the cut fitted on the other folds' images (score_after: the run's CV
  when it beats 0.5, which it must to be applied);
- fitted in sample: the cut fitted on every image, scored on those same images (in_sample_score): flattering, beside
  them only to show by how much;
- the curve the fit searches: iou_map over every out-of-fold image at each candidate cut.
torch trains on one thread (`--threads`): on cores other work shares, a thread pool as wide as the cores waits on
them at every step (an epoch here went from 3 s to 45 s when another process took a core).
Results: benchmarks/figures/box_cut.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from box_downloads import wheat_download  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.contract import load_competition  # noqa: E402
from pipeline.detection.box_cut import candidates  # noqa: E402
from pipeline.detection.iou_map import cut_scores  # noqa: E402

NAME = "wheat_box_cut"


def one_run(comp: Path, data: Path, args: argparse.Namespace, seed: int, epochs: int) -> dict[str, Any]:
    """One run of the generated competition; its cut's record and the iou_map curve over its out-of-fold boxes."""
    runs = comp.parent.parent / "runs" / NAME
    before = set(runs.glob("*"))
    t0 = time.perf_counter()
    sets = ["image_size=64", "holdout=0", f"epochs={epochs}", "tta=true"]
    command = ["run", str(comp), "--data", str(data), "--preset", "fast", "--folds", str(args.folds)]
    assert main([*command, *(a for s in sets for a in ("--set", s)), "--seed", str(seed), "--quiet"]) == 0
    seconds = time.perf_counter() - t0
    (run_dir,) = set(runs.glob("*")) - before
    cut = json.loads((run_dir / "threshold.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    module = load_competition(str(comp))
    y = module.load(module.Config(), data).y
    scored = np.load(run_dir / "folds.npy") >= 0
    (model,) = summary["models"]
    boxes = np.load(run_dir / "oof" / f"{model}.npy")  # the detector's boxes before any cut (one model: the blend)
    cuts = np.sort(candidates(cut["configured_min_score"]))
    curve = np.nanmean(cut_scores(y[scored], boxes[scored], cuts), axis=0)
    return {
        "seed": seed,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "min_score_0.5": cut["score_before"],
        "fitted_out_of_fold": cut["score_after"],
        "fitted_in_sample": cut["in_sample_score"],
        "fitted_cut": cut["fitted_min_score"],
        "fold_cuts": cut["fold_min_scores"],
        "applied": cut["applied"],
        "cv": summary["cv"],
        "curve": {f"{c:g}": round(float(v), 5) for c, v in zip(cuts, curve, strict=True)},
    }


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=120, help="training images of the generated download")
    p.add_argument("--test", type=int, default=20, help="test images")
    p.add_argument("--epochs", default="4,10", help="training lengths, comma-separated: one run of each per seed")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", default="0,1", help="one run per seed, comma-separated")
    p.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    with scratch_cwd() as tmp:
        data = wheat_download(tmp / "global-wheat-detection", n_train=args.train, n_test=args.test)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps")]) == 0
        for seed in (int(s) for s in args.seeds.split(",")):
            for epochs in (int(e) for e in args.epochs.split(",")):
                results.append(one_run(tmp / "comps" / NAME, data, args, seed, epochs))
                print(json.dumps({k: v for k, v in results[-1].items() if k != "curve"}), flush=True)
    keys = ("min_score_0.5", "fitted_out_of_fold", "fitted_in_sample", "cv")
    mean = {
        f"epochs={e}": {k: float(np.mean([r[k] for r in results if r["epochs"] == e])) for k in keys}
        for e in sorted({r["epochs"] for r in results})
    }
    command = "python benchmarks/box_cut.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "epochs", "folds", "threads")}
    path = save("box_cut", command.strip(), {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
    print(f"mean {json.dumps(mean)}\n-> {path}")


if __name__ == "__main__":
    main_()
