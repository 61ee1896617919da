"""A value per image: ImageRegressor's two losses against the best constant, on real photos.

    python benchmarks/image_values.py [--data ../shared/data/cifar-10.zip] [--mosaics 2000] [--epochs 8] [--repeats 2]

The download: Kaggle's CIFAR-10 training images four to a 64 px mosaic, as in benchmarks/image_tags.py, in PetFinder
Pawpularity's layout (train.csv Id,Pawpularity; a sample of Id,Pawpularity), the value to predict being 25 x the
number of animals among the four photos (0 to 100: a bounded score of what the image shows). The same network from
random init (timm's test_resnet), the same fixed work (`--epochs` epochs, 2 folds, batch 64, AdamW 3e-3, cosine,
flips and light crops, no TTA) and folds, with `loss` mse (standardised targets, squared error: the default) and
bce (targets scaled to [0, 1] by the training range, binary cross-entropy: Pawpularity's winning loss); each scored
by its out-of-fold RMSE, beside the RMSE of the training mean. The runs have `clip_values` off, so their predictions
are the networks' own; each is scored again with each fold's rows clipped to the range of that fold's training
values (what ImageRegressor's `clip_values`, the default, predicts): the same predictions with and without clipping.
The runs alternate (`--repeats`). Results: benchmarks/figures/image_values.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchutil import peak_memory, save, scratch_cwd  # noqa: E402
from image_tags import ANIMALS, COMMON, arguments, cifar, mosaics, run  # noqa: E402

VALUES = dict(
    doc="CIFAR mosaics, 25 x the animals in each.",
    imports="from pipeline.vision.csv_targets import CsvImageTargets\n"
    "from pipeline.vision.multioutput import ImageRegressor",
    metric='Metric("rmse", greater_is_better=False)',
    files='CsvImageTargets("train.csv", "Id", columns=("Pawpularity",), metric="rmse", '
    'image_path="train-jpg/{}.png", test_image_path="test-jpg/{}.png")',
    kind="ImageRegressor",
    csv="train.csv",
    config_extra='    loss: str = "mse"\n    clip_values: bool = False\n',
)


def values_download(tags_download: Path, tiles: np.ndarray, classes: list[str], n: int, dest: Path) -> np.ndarray:
    """The mosaics of `tags_download` as a value per image (25 x its animals): dest's CSVs beside links to the images;
    the training values."""
    animal = np.isin(np.asarray(classes), ANIMALS)
    score = 25 * animal[tiles].sum(axis=1)
    names = [f"m{m}" for m in range(len(tiles))]
    dest.mkdir()
    for folder in ("train-jpg", "test-jpg"):
        (dest / folder).symlink_to(tags_download / folder)
    pd.DataFrame({"Id": names[:n], "Pawpularity": score[:n]}).to_csv(dest / "train.csv", index=False)
    pd.DataFrame({"Id": names[n:], "Pawpularity": 50}).to_csv(dest / "sample_submission.csv", index=False)
    return score[:n]


def clipped_rmse(run_dir: Path, score: np.ndarray) -> float:
    """The run's out-of-fold RMSE with each fold's rows clipped to the range of the values its model trained on."""
    oof, folds = np.load(run_dir / "oof" / "test_resnet.npy").ravel(), np.load(run_dir / "folds.npy")
    clipped = oof.copy()
    for f in np.unique(folds[folds >= 0]):
        trained = score[(folds != f) & (folds >= 0)]
        clipped[folds == f] = np.clip(oof[folds == f], trained.min(), trained.max())
    rows = folds >= 0
    return float(np.sqrt(np.mean((clipped[rows] - score[rows]) ** 2)))


def main_(argv: list[str] | None = None) -> None:
    a = arguments(__doc__, argv)
    with scratch_cwd() as tmp:
        paths, y, classes = cifar(a.data.resolve(), tmp)
        _, tiles = mosaics(paths, y, classes, a.mosaics, tmp / "mosaics")
        score = values_download(tmp / "mosaics", tiles, classes, a.mosaics, tmp / "values")
        comp = tmp / "comps" / "mosaic_values"
        comp.mkdir(parents=True)
        (comp / "__init__.py").write_text(COMMON.format(**VALUES))
        runs: dict[str, list[dict[str, Any]]] = {"mse": [], "bce": []}
        for r in range(a.repeats):
            for loss in ("mse", "bce") if r % 2 == 0 else ("bce", "mse"):
                t0 = time.perf_counter()
                run_dir, seconds = run(comp, tmp / "values", a.epochs, [f"loss={loss}"])
                summary = json.loads((run_dir / "summary.json").read_text())
                oof = np.load(run_dir / "oof" / "test_resnet.npy").ravel()
                row = {
                    "rmse": summary["cv"],
                    "rmse_clipped": clipped_rmse(run_dir, score),
                    "seconds": round(seconds, 1),
                    "oof_range": [float(oof.min()), float(oof.max())],
                    "outside_range": int(((oof < score.min()) | (oof > score.max())).sum()),
                }
                runs[loss].append(row)
                print(loss, row, round(time.perf_counter() - t0, 1), flush=True)
        results: dict[str, Any] = {
            "data": a.data.name,
            "mosaics": a.mosaics,
            "epochs": a.epochs,
            "values": {str(v): int(c) for v, c in zip(*np.unique(score, return_counts=True), strict=True)},
            "training_mean_rmse": float(np.std(score)),
            "runs": runs,
            "memory": peak_memory(),
        }
    print(json.dumps(results, indent=1))
    save("image_values", "python benchmarks/image_values.py " + " ".join(argv or sys.argv[1:]), results)


if __name__ == "__main__":
    main_()
