"""A detector of several classes from a box CSV in VinBigData's layout: the fast preset's out-of-fold VOC mAP@0.4
against trivial answers, on one run's boxes.

    python benchmarks/box_classes.py [--train 90] [--test 10] [--epochs 6] [--folds 3] [--seeds 0,1] [--threads 1]
    python benchmarks/box_classes.py --readers 3 [...]
    python benchmarks/box_classes.py --nothing [--empty 0.7] [...]

No real multi-class detection data is at hand: the download is the tests' generated VinBigData layout
(tests/box_downloads.py vinbig_download: 64 px PNGs of 0 to 3 squares on dark noise, each square red, green or blue,
its class; "No finding" rows for the images with none; a sample of "14 1 0 0 1 1"). `new` writes its competition
(--metric voc_map40: three classes and the "nothing here" class 14); each seed runs it once with the tiny Faster
R-CNN from random init (`--preset fast` at the images' own 64 px, flip TTA fused by WBF), k folds, a fixed number of
epochs, the nothing class at one less the highest box confidence (nothing_classifier off). Every figure is voc_map40
over the same out-of-fold images:
- the run: its blend's out-of-fold boxes (its CV);
- class-blind: the run's own boxes, each relabelled as the commonest class (what the boxes are worth without the
  classes the detector learnt);
- nothing: no box at all, "14 1 0 0 1 1" on every image (the sample's default: scores the nothing class alone).

With `--readers 3` every finding is drawn by three readers, each corner moved by up to 1 px (tests/box_downloads.py
vinbig_readers_download, as VinBigData's three radiologists read each image), and each seed runs twice, interleaved:
with the readers' boxes fused (the generated Config's fuse_readers 0.5) and as given (fuse_readers 0). Each run's CV
is against its own truth (the fused boxes, or every reader's); both runs' out-of-fold boxes are also scored against
the generating truth, one box a finding, which is what compares them fairly.
With `--nothing` the download's images are empty at VinBigData's share (`--empty`, 0.7: its "No finding" images are
about 70% of the training set; at a quarter the detector alone already ranks the empty images first, nothing AP 1.0,
and there is nothing for a classifier to add), and each seed runs twice, interleaved, on the same folds: the
generated Config with nothing_classifier off (the nothing box at one less the highest box confidence) and on with the
filter off (nothing_drop 0: every box kept, the nothing box at the classifier's out-of-fold p(no finding)); the
classifier's filters are applied to that run's out-of-fold boxes after (pipeline/detection/nothing.py with_classifier,
the function its predict applies), since the detector's boxes are the same (`same_boxes`): drop (an image below
p(finding) 0.05 keeps only its nothing box) and drop + weight (the other boxes times p(finding)).
torch trains on one thread (`--threads`), as benchmarks/box_cut.py does on shared cores.
Results: benchmarks/figures/box_classes.json (with --readers: box_readers.json, box_readers_<n>epochs.json for
--epochs n other than 6; with --nothing: box_nothing.json, box_nothing_<n>epochs.json).
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
from box_downloads import COLOURS, vinbig_download, vinbig_readers_download  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.contract import load_competition  # noqa: E402
from pipeline.detection.boxes import SLOT, pack, unpack_all  # noqa: E402
from pipeline.detection.nothing import findings, p_finding, with_classifier  # noqa: E402
from pipeline.detection.voc_map import IOU, class_aps, with_nothing  # noqa: E402

NAME = "vinbig_box_classes"


def run_once(comp: Path, data: Path, args: argparse.Namespace, seed: int, *more: str) -> tuple[Path, float]:
    """One run of the generated competition (`more`: further --set values): its folder and its seconds."""
    runs = comp.parent.parent / "runs" / NAME
    before = set(runs.glob("*"))
    t0 = time.perf_counter()
    sets = ["image_size=64", "holdout=0", f"epochs={args.epochs}", "tta=true", *more]
    command = ["run", str(comp), "--data", str(data), "--preset", "fast", "--folds", str(args.folds)]
    assert main([*command, *(a for s in sets for a in ("--set", s)), "--seed", str(seed), "--quiet"]) == 0
    seconds = time.perf_counter() - t0
    (run_dir,) = set(runs.glob("*")) - before
    return run_dir, seconds


def one_run(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One run of the generated competition, and its out-of-fold boxes scored beside the trivial answers."""
    run_dir, seconds = run_once(comp, data, args, seed, "nothing_classifier=false")  # as before the classifier
    summary = json.loads((run_dir / "summary.json").read_text())
    module = load_competition(str(comp))
    y = module.load(module.Config(), data).y
    scored = np.load(run_dir / "folds.npy") >= 0
    oof = np.load(run_dir / "oof" / "_blend.npy")[scored]
    commonest = np.bincount(y[:, 5::SLOT][np.isfinite(y[:, 5::SLOT])].astype(int)).argmax()
    blind = oof.copy()
    blind[:, 5::SLOT] = np.where(np.isfinite(blind[:, 5::SLOT]), float(commonest), np.nan)
    n = int(scored.sum())
    nothing = pack([np.zeros((0, 4))] * n, [np.zeros(0)] * n, [np.zeros(0, np.int64)] * n)
    names = [*module.FILES.class_names, f"nothing ({module.FILES.nothing_class})"]
    truth, boxes = with_nothing(y[scored], oof, len(module.FILES.class_names))
    per_class = class_aps(truth, boxes, IOU["voc_map40"])
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "cv": summary["cv"],
        "run": float(module.score(y[scored], oof)),
        "class_blind": float(module.score(y[scored], blind)),
        "nothing": float(module.score(y[scored], nothing)),
        "per_class": {names[k]: round(v, 4) for k, v in per_class.items()},
    }


def truth_rows(module: Any, data: Path, truth: dict[str, list[Any]]) -> np.ndarray:
    """The generating truth packed in the order of the competition's training images, one box a finding."""
    keys = module.load(module.Config(), data).info["train_ids"]
    boxes = [np.array([b for _, b in truth[k]], float).reshape(-1, 4) for k in keys]
    classes = [np.array([COLOURS[n][1] for n, _ in truth[k]], np.int64) for k in keys]
    return pack(boxes, [np.ones(len(b)) for b in boxes], classes)


def readers_runs(comp: Path, data: Path, truth: dict[str, list[Any]], args: argparse.Namespace, seed: int) -> dict:
    """One seed's runs with the readers' boxes fused and as given, interleaved: each one's CV (against its own
    truth) and its out-of-fold boxes scored against the generating truth."""
    module = load_competition(str(comp))
    y_true = truth_rows(module, data, truth)
    out: dict[str, Any] = {"seed": seed}
    for name, iou in (("fused", module.Config().fuse_readers), ("as_given", 0.0)):
        run_dir, seconds = run_once(comp, data, args, seed, f"fuse_readers={iou}", "nothing_classifier=false")
        scored = np.load(run_dir / "folds.npy") >= 0
        oof = np.load(run_dir / "oof" / "_blend.npy")[scored]
        cv = json.loads((run_dir / "summary.json").read_text())["cv"]
        out[name] = {"seconds": round(seconds, 1), "cv": cv, "vs_truth": float(module.score(y_true[scored], oof))}
    return out


def readers_main(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """--readers: each seed's pair of runs on a download whose every finding `args.readers` readers drew."""
    root = tmp / "vinbigdata-chest-xray-abnormalities-detection"
    data, truth = vinbig_readers_download(root, args.train, args.test, seed=4, readers=args.readers)
    assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps"), "--metric", "voc_map40"]) == 0
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        results.append(readers_runs(tmp / "comps" / NAME, data, truth, args, seed))
        print(json.dumps(results[-1]), flush=True)
    return results


def _nothing_ap(module: Any, y: np.ndarray, oof: np.ndarray) -> float:
    """The nothing class's own AP of out-of-fold boxes."""
    index = len(module.FILES.class_names)
    truth, boxes = with_nothing(y, oof, index)
    return round(class_aps(truth, boxes, IOU["voc_map40"])[index], 4)


def nothing_runs(comp: Path, data: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One seed's runs without and with the classifier, interleaved on the same folds, and the classifier's filters
    applied to the second run's out-of-fold boxes: each one's out-of-fold voc_map40 and nothing AP."""
    from sklearn.metrics import roc_auc_score

    module = load_competition(str(comp))
    y = module.load(module.Config(), data).y
    index = len(module.FILES.class_names)
    oofs, out = {}, {"seed": seed}
    for name, on in (("max_box", "false"), ("classifier", "true")):
        run_dir, seconds = run_once(comp, data, args, seed, f"nothing_classifier={on}", "nothing_drop=0")
        scored = np.load(run_dir / "folds.npy") >= 0
        oofs[name] = np.load(run_dir / "oof" / "_blend.npy")[scored]
        cv = json.loads((run_dir / "summary.json").read_text())["cv"]
        out[name] = {"seconds": round(seconds, 1), "cv": cv, "nothing_ap": _nothing_ap(module, y[scored], oofs[name])}
    p = p_finding(oofs["classifier"], index)
    out["classifier"]["auc"] = round(float(roc_auc_score(findings(y[scored]), p)), 4)
    out["same_boxes"] = same_boxes(oofs["max_box"], oofs["classifier"], index)
    for name, weight in (("drop", False), ("drop_weight", True)):
        filtered = with_classifier(oofs["classifier"], p, index, 0.05, weight)
        out[name] = {
            "cv": float(module.score(y[scored], filtered)),
            "nothing_ap": _nothing_ap(module, y[scored], filtered),
        }
    return out


def same_boxes(plain: np.ndarray, classified: np.ndarray, index: int) -> bool:
    """Whether the run with the classifier predicted the same boxes as the one without, its nothing box aside."""
    for (b, s, c), (b2, s2, c2) in zip(unpack_all(plain), unpack_all(classified), strict=True):
        keep = c2 != index
        if len(b) != keep.sum() or not (np.allclose(b, b2[keep]) and np.allclose(s, s2[keep])):
            return False
        if not np.array_equal(c, c2[keep]):
            return False
    return True


def nothing_main(args: argparse.Namespace, command: str, settings: dict[str, Any]) -> None:
    """--nothing: each seed's pair of runs on a download whose images are `args.empty` empty, and the filters."""
    results = []
    with scratch_cwd() as tmp:
        root = tmp / "vinbigdata-chest-xray-abnormalities-detection"
        data = vinbig_download(root, args.train, args.test, empty=args.empty)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps"), "--metric", "voc_map40"]) == 0
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(nothing_runs(tmp / "comps" / NAME, data, args, seed))
            print(json.dumps(results[-1]), flush=True)
    mean = {
        f"{v}_{k}": float(np.mean([r[v][k] for r in results]))
        for v in ("max_box", "classifier", "drop", "drop_weight")
        for k in ("cv", "nothing_ap")
    }
    mean["classifier_auc"] = float(np.mean([r["classifier"]["auc"] for r in results]))
    settings = settings | {"empty": args.empty}
    name = "box_nothing" if args.epochs == 6 else f"box_nothing_{args.epochs}epochs"
    path = save(name, command, {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
    print(f"mean {json.dumps(mean)}\n-> {path}")


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=90, help="training images of the generated download")
    p.add_argument("--test", type=int, default=10, help="test images")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seeds", default="0,1", help="one run per seed, comma-separated")
    p.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    p.add_argument("--readers", type=int, default=0, help="readers a finding, fused and not (0: one reader an image)")
    p.add_argument("--nothing", action="store_true", help="the nothing class from max box confidence vs a classifier")
    p.add_argument("--empty", type=float, default=0.7, help="--nothing: the share of images with no box")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    command = "python benchmarks/box_classes.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = {k: getattr(args, k) for k in ("train", "test", "epochs", "folds", "threads", "readers")}
    if args.nothing:
        nothing_main(args, command.strip(), {k: v for k, v in settings.items() if k != "readers"})
        return
    if args.readers:
        with scratch_cwd() as tmp:
            results = readers_main(args, tmp)
        mean = {
            f"{v}_{k}": float(np.mean([r[v][k] for r in results]))
            for v in ("fused", "as_given")
            for k in ("cv", "vs_truth")
        }
        name = "box_readers" if args.epochs == 6 else f"box_readers_{args.epochs}epochs"
        path = save(name, command.strip(), {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
        print(f"mean {json.dumps(mean)}\n-> {path}")
        return
    with scratch_cwd() as tmp:
        data = vinbig_download(tmp / "vinbigdata-chest-xray-abnormalities-detection", args.train, args.test)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps"), "--metric", "voc_map40"]) == 0
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(one_run(tmp / "comps" / NAME, data, args, seed))
            print(json.dumps(results[-1]), flush=True)
    mean = {k: float(np.mean([r[k] for r in results])) for k in ("run", "class_blind", "nothing")}
    settings.pop("readers")
    path = save("box_classes", command.strip(), {"settings": settings, "runs": results, "mean": mean, **peak_memory()})
    print(f"mean {json.dumps(mean)}\n-> {path}")


if __name__ == "__main__":
    main_()
