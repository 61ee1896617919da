"""A run of a generated Sartorius Cell Instance Segmentation-style download, `touching` off against on, each at the
Config's cut and at the cut fitted to ap_iou, out of fold, against the true cells.

    python benchmarks/cells_layout.py [--train 48] [--test 4] [--epochs 40] [--folds 3] [--seed 0]

No Sartorius download is at hand: this one is generated in its layout (tests/cell_downloads.py `sartorius_download`):
72 x 96 greyscale PNGs in train/ and test/, train.csv of one row per cell (row-wise runs, with Sartorius's width,
height, cell_type, ... columns) and sample_submission.csv `id,predicted`; 8 to 14 small cells an image (ellipses of
6 to 14 pixels across, bright domes fading to their rims), most of them touching another. `new` writes the
competition with no hand-written code (the folder's name gives metric ap_iou, and `touching` on). The seed's two runs,
one after the other on the same folds, seed and epochs, use the smoke U-Net (`--preset fast`: timm's test_resnet
from random init, flip TTA) at the images' own size (image_size 96) with fit_mask_cut on: `touching` off (the union
learnt, each connected component one cell) and on (the contact map learnt too, every mask split at it). Each blend is
scored at the Config's cut (mask_threshold 0.5, min_area 0) and at the threshold and min_area fitted to ap_iou out
of fold (each fold's images cut at the cut fitted on the other folds', as the run's threshold stage does). Every
figure is ap_iou against the true cells, each CSV row one object (not the run's own targets: touching off's are the
components of the union, a cluster of touching cells one object).

Before any training, the ceiling of each setting: ap_iou of the true objects each one scores against, against the
true cells: the components of the union (touching off) and the union split at its contact map (touching on) for a
contact radius of 1, 2 (contact.GRID_PIXELS, what the runs use) and 3 grid pixels; at the grid of the images' size
(cells 6 to 14 grid pixels across) and at half of it (3 to 7: a cell 10 to 20 pixels across in Sartorius's 704 x
520 images is 4 to 7 grid pixels across at the 189 x 256 grid `new` gives them). Results:
benchmarks/figures/cells_layout.json.
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchutil import fast_run, peak_memory, save, scratch_cwd  # noqa: E402
from cell_downloads import sartorius_download  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.segmentation import mask_cut  # noqa: E402
from pipeline.segmentation.contact import GRID_PIXELS, contact_cell  # noqa: E402
from pipeline.segmentation.instances import components, image_score  # noqa: E402
from pipeline.segmentation.object_cut import channels_of  # noqa: E402
from pipeline.segmentation.rle import decode, encode  # noqa: E402

NAME = "cells_layout_bench"
Cells = dict[str, list[np.ndarray]]


def ceilings(cells: Cells, ids: list[str], shape: tuple[int, int], step: int = 1) -> dict[str, float]:
    """ap_iou against the true cells of the objects each setting scores against: the union's components (touching
    off), and the union split at its contact map of each radius (grid pixels), at a grid of the images' size or, with
    `step` 2, half of it (each cell's mask every other pixel: cells half as many grid pixels across)."""
    out = {}
    truth = [[m[::step, ::step] > 0 for m in cells[k] if m[::step, ::step].any()] for k in ids]
    unions = [sum(t) > 0 for t in truth]
    grid = (-(-shape[0] // step), -(-shape[1] // step))
    off = [image_score(t, components(u), "ap_iou") for t, u in zip(truth, unions, strict=True)]
    out["touching_off"] = float(np.mean(off))
    for radius in (1, 2, 3):
        scores = []
        for t, u in zip(truth, unions, strict=True):
            cell = contact_cell([encode(m, "row") for m in t], *grid, "row", radius)
            contact = decode(cell, *grid, "row").astype(float) if cell else None
            scores.append(image_score(t, components(u, 0, contact), "ap_iou"))
        out[f"touching_on_radius_{radius}"] = float(np.mean(scores))
    return out


def against_cells(pred: np.ndarray, r: Any, on: bool, truth: list[list[np.ndarray]]) -> dict[str, Any]:
    """ap_iou of a blend's probabilities cut at the Config's cut (split at their contact maps where `on`) against the
    true cells; predicted cells counted."""
    files = r.module.FILES
    probs, maps = channels_of(pred, files.grid, on)
    found = [
        components(p > r.cfg.mask_threshold, files.min_pixels(r.cfg), None if maps is None else maps[i])
        for i, p in enumerate(probs)
    ]
    images = [image_score(t, f, "ap_iou") for t, f in zip(truth, found, strict=True)]
    return {"ap_iou": float(np.mean(images)), "predicted_cells": int(sum(len(f) for f in found))}


def fitted_out_of_fold(r: Any, y: np.ndarray, oof: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The blend (one model) cut fold by fold at the cut fitted to ap_iou on the other folds' images, as the run's
    threshold stage cuts it (mask_cut.out_of_fold), whether or not the run applied it; each fold's cut."""
    folds = np.load(r.run_dir / "folds.npy")
    search = mask_cut._Search(r.module, r.cfg, y)
    table = search.table(y, oof)
    out, cuts = np.array(oof, copy=True), []
    for f in np.unique(folds):
        fit = np.flatnonzero(folds != f)
        cut = search.cut(mask_cut.best(table[fit], np.arange(len(fit))))
        out[folds == f] = search.remap(oof[folds == f], cut)
        cuts.append({k: cut[k] for k in ("thresholds", "min_areas")})
    return out, cuts


def one_run(comp: Path, data: Path, args: argparse.Namespace, on: bool, cells: Cells) -> dict[str, Any]:
    """One run with `touching` off or on and fit_mask_cut on: its blend at both cuts against the true cells."""
    ids = list(cells)
    truth = [[m > 0 for m in cells[k]] for k in ids]
    sets = ("fit_mask_cut=true", f"touching={str(on).lower()}", f"image_size={args.image_size}")
    r = fast_run(comp, data, args.seed, args.folds, args.epochs, sets)
    cfg = r.module.Config(touching=on)
    loaded = r.module.load(cfg, data)
    assert list(loaded.info["train_ids"]) == ids  # the out-of-fold rows in the generated images' order
    r, y = dataclasses.replace(r, cfg=cfg, y=loaded.y), loaded.y
    cut = json.loads((r.run_dir / "threshold.json").read_text())
    oof = np.load(r.run_dir / "oof" / "_blend.npy")
    assert abs(r.module.score(y, oof, cfg=r.cfg) - cut["score_before"]) < 1e-9
    fitted, fold_cuts = fitted_out_of_fold(r, y, oof)
    assert abs(r.module.score(y, fitted, cfg=r.cfg) - cut["score_after"]) < 1e-9  # the run's own stage, redone
    return {
        "touching": on,
        "seconds": round(r.seconds, 1),
        "run_cv": r.summary["cv"],  # against the run's own targets
        "configured": against_cells(oof, r, on, truth),
        "fitted_out_of_fold": against_cells(fitted, r, on, truth),
        "fold_cuts": fold_cuts,
        "applied": cut["applied"],
        "in_sample_score": cut["in_sample_score"],
    }


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=48, help="training images of the generated download")
    p.add_argument("--test", type=int, default=4, help="test images")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=96, help="the network's input (the images are 72 x 96)")
    p.add_argument("--threads", type=int, default=2, help="torch's CPU threads")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with scratch_cwd() as tmp:
        data, cells = sartorius_download(tmp / "sartorius-cell-instance-segmentation", args.train, args.test)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps")]) == 0
        comp = tmp / "comps" / NAME
        ids = list(cells)
        figures: dict[str, Any] = {"contact_grid_pixels": GRID_PIXELS, "ceilings": ceilings(cells, ids, (72, 96))}
        figures["ceilings_at_half_the_grid"] = ceilings(cells, ids, (72, 96), step=2)
        figures["cells"] = {"images": len(ids), "cells": sum(len(cells[k]) for k in ids)}
        figures["cells"]["objects_of_the_unions"] = sum(len(components(sum(cells[k]) > 0)) for k in ids)
        print(json.dumps(figures), flush=True)
        runs = []
        for on in (False, True):
            runs.append(one_run(comp, data, args, on, cells))
            print(json.dumps(runs[-1]), flush=True)
    figures["runs"] = runs
    command = "python benchmarks/cells_layout.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "epochs", "folds", "seed", "image_size", "threads")}
    path = save("cells_layout", command.strip(), {"settings": settings, **figures, **peak_memory()})
    print(f"-> {path}")


if __name__ == "__main__":
    main_()
