"""Does `new` make a working image competition of a real download? CIFAR-10's, against the hand-written recipe.

    python benchmarks/image_new.py [--data ../shared/data/cifar-10.zip] [--epochs 8]

`new cifar_gen --data cifar-10.zip` (no hand-written code), then, in one run of this script:
- what it inferred, and whether its `load` reads the same training images, labels and test ids, in the same order,
  as the hand-written competitions/cifar10's (the classes map name for name);
- both competitions run on the download with the same network from random init (timm's test_resnet) for the same
  fixed work (`--epochs` epochs, 2 folds, batch 64, lr 3e-3 under AdamW as the generated `fast` preset trains), each
  with its own augmentation: the generated file's random resized crops, flips and colour jitter, the hand-written
  recipe's reflect-pad crops, flips and cutout. Out-of-fold accuracy and wall time, side by side (the two runs
  interleaved with `--repeats`).
Results: benchmarks/figures/image_new.json.
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

from benchutil import ROOT, peak_memory, save, scratch_cwd  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.contract import load_competition  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar-10.zip"


def same_reading(generated: Any, written: Any, data_dir: Path) -> dict[str, Any]:
    """Whether the two competitions' load reads the same rows: image files, labels (by class name), test ids."""
    g, w = generated.load(generated.Config(), data_dir), written.load(written.Config(), data_dir)
    names = {"generated": list(g.classes), "hand-written": list(w.classes)}
    return {
        "train_images": [Path(p).resolve() for p in g.X] == [Path(p).resolve() for p in w.X],
        "labels": bool(np.all(np.asarray(g.classes)[g.y] == np.asarray(w.classes)[w.y])),
        "test_ids": [str(i) for i in g.test_ids] == [str(i) for i in w.test_ids],
        "classes": names,
        "rows": [len(g.y), len(g.test_ids)],
    }


def run(competition: str, data: Path, overrides: list[str]) -> dict[str, Any]:
    """One run; its CV, wall seconds and the folder's summary fields this figure quotes."""
    args = ["run", competition, "--data", str(data), "--quiet", "--seed", "0"]
    for o in overrides:
        args += ["--set", o]
    t0 = time.perf_counter()
    assert main(args) == 0, f"run {competition} failed"
    seconds = time.perf_counter() - t0
    name = Path(competition).name
    newest = max((Path("runs") / name).glob("*"), key=lambda p: p.stat().st_mtime)
    summary = json.loads((newest / "summary.json").read_text())
    return {"cv": summary["cv"], "seconds": round(seconds, 1), "submission": summary["published"] is not None}


def main_(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=1)
    a = p.parse_args(argv)
    data = a.data.resolve()
    common = [f"epochs={a.epochs}", "folds=2", "holdout=0.0", "batch_size=64", "tta=[]"]
    generated_set = ['archs=["test_resnet"]', "pretrained=false", "image_size=32", "freeze_epochs=0"]
    generated_set += ["layer_decay=null", "lr=0.003", "drop_path=0.0", "label_smoothing=0.0", *common]
    written_set = ["arch=test_resnet", "optimizer=adamw", "lr=0.003", "weight_decay=0.01", "schedule=cosine"]
    written_set += ["warmup=0.1", "label_smoothing=0.0", *common]
    results: dict[str, Any] = {"data": data.name, "epochs": a.epochs, "settings": {}}
    with scratch_cwd() as tmp:
        t0 = time.perf_counter()
        assert main(["new", "cifar_gen", "--data", str(data), "--into", str(tmp / "comps")]) == 0
        results["new_seconds"] = round(time.perf_counter() - t0, 1)
        generated = load_competition(str(tmp / "comps" / "cifar_gen"))
        results["inferred"] = {k: str(v) for k, v in vars(generated.FILES).items()} | {
            "metric": generated.METRIC.name,
            "folds": generated.FOLDS,
        }
        runs: dict[str, list[dict[str, Any]]] = {"generated": [], "hand-written": []}
        for r in range(a.repeats):
            order = [("generated", str(tmp / "comps" / "cifar_gen"), generated_set)]
            order.append(("hand-written", str(ROOT / "competitions" / "cifar10"), written_set))
            for label, comp, overrides in order if r % 2 == 0 else order[::-1]:
                runs[label].append(run(comp, data, overrides))
                print(label, runs[label][-1], flush=True)
        data_dir = next(Path("data").glob("cifar*"))
        results["same_reading"] = same_reading(generated, load_competition("cifar10"), data_dir)
        results["settings"] = {"generated": generated_set, "hand-written": written_set}
        results["runs"] = runs
        mean = {k: float(np.mean([x["seconds"] for x in v])) for k, v in runs.items()}
        results["seconds_ratio_generated_to_written"] = round(mean["generated"] / mean["hand-written"], 2)
        results["memory"] = peak_memory()
    print(json.dumps({k: v for k, v in results.items() if k != "settings"}, indent=1, default=str))
    save("image_new", "python benchmarks/image_new.py " + " ".join(argv or sys.argv[1:]), results)


if __name__ == "__main__":
    main_()
