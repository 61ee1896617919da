"""Photos and their metadata: the image network, the table of the metadata and their blend, on one download.

    python benchmarks/image_metadata.py [--data ../shared/data/cifar-10.zip] [--mosaics N] [--epochs E] [--repeats R]

The download: Kaggle's CIFAR-10 training images four to a 64 px mosaic (as benchmarks/image_values.py), in PetFinder
Pawpularity's layout (train.csv: Id, metadata columns, Pawpularity; test.csv: Id and the metadata; a sample of
Id,Pawpularity), the value being the sum of a part only the pixels show (12.5 x the animals among the four photos),
a part only the metadata shows (four 0/1 flags worth 12, 8, 6 and 4, and a number from 0 to 1 worth 10 times its
square) and noise (sd 5), rounded: what the winners of SIIM-ISIC and Pawpularity faced, photos and columns that each
explain part of the answer. The commands a user types:

    python -m pipeline new mosaic_images --data DOWNLOAD                # the image competition
    python -m pipeline new mosaic_table --data DOWNLOAD --kind table    # the table of its metadata
    python -m pipeline run comps/mosaic_images ... ; python -m pipeline run comps/mosaic_table ...
    python -m pipeline ensemble IMAGE_RUN TABLE_RUN

Fixed work: the image network from random init (`--preset fast`: timm's test_resnet) at 64 px for `--epochs` epochs,
batch 64, crops of 85% and more, no colour jitter; the table's generated recipe as `new` writes it; 2 folds, the same
for both (one seed). Each repeat uses another seed (other folds, other initialisations): image run, table run, their
ensemble. Every score is the out-of-fold RMSE; beside them, the training mean's and the noise's.
Results: benchmarks/figures/image_metadata.json.
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
from image_tags import arguments, cifar, mosaics  # noqa: E402
from image_values import ANIMALS  # noqa: E402

from pipeline.cli import main  # noqa: E402

FLAGS = {"Eyes": 12.0, "Face": 8.0, "Near": 6.0, "Group": 4.0}  # each 0/1 flag's part of the value
NOISE = 5.0
IMAGE_SETS = ("epochs={epochs}", "image_size=64", "batch_size=64", "crop_scale=0.85", "color_jitter=0")


def metadata_download(tiles: np.ndarray, classes: list[str], n: int, dest: Path) -> dict[str, Any]:
    """The mosaics in `dest` (written there by image_tags.mosaics) as Pawpularity's layout with metadata columns: the
    CSVs, and the parts of the training values (their standard deviations)."""
    rng = np.random.default_rng(1)
    rows = len(tiles)
    pixels = 12.5 * np.isin(np.asarray(classes), ANIMALS)[tiles].sum(axis=1)
    meta = {name: rng.integers(0, 2, rows) for name in FLAGS} | {"Light": rng.uniform(0, 1, rows).round(3)}
    metadata = sum(w * meta[name] for name, w in FLAGS.items()) + 10 * meta["Light"] ** 2
    value = np.round(pixels + metadata + rng.normal(0, NOISE, rows)).astype(int)
    frame = pd.DataFrame({"Id": [f"m{m}" for m in range(rows)], **meta, "Pawpularity": value})
    (dest / "train_v2.csv").unlink()  # the tags of image_tags' layout
    frame.iloc[:n].to_csv(dest / "train.csv", index=False)
    frame.iloc[n:, :-1].to_csv(dest / "test.csv", index=False)
    frame.iloc[n:][["Id"]].assign(Pawpularity=50).to_csv(dest / "sample_submission.csv", index=False)
    return {
        "pixels_sd": float(np.std(pixels[:n])),
        "metadata_sd": float(np.std(metadata[:n])),
        "noise_sd": NOISE,
        "training_mean_rmse": float(np.std(value[:n])),
    }


def command(*args: str) -> Path | None:
    """One `python -m pipeline` command, checked; the run folder it made (None for `new`)."""
    before = set(Path("runs").glob("*/*"))
    assert main([*args, "--quiet"] if args[0] != "new" else list(args)) == 0, f"{' '.join(args)} failed"
    made = set(Path("runs").glob("*/*")) - before
    return made.pop().resolve() if made else None


def one_seed(download: Path, seed: int, epochs: int) -> dict[str, Any]:
    """The image run, the table run and their ensemble with one seed: each one's out-of-fold RMSE and seconds, and
    the ensemble's weights per run."""
    sets = [f"--set={s.format(epochs=epochs)}" for s in IMAGE_SETS]
    common = ["--data", str(download), "--folds", "2", "--seed", str(seed)]
    found: dict[str, Any] = {}
    runs: dict[str, Path] = {}
    for name, extra in (("images", ["--preset", "fast", *sets]), ("table", [])):
        t0 = time.perf_counter()
        run_dir = command("run", f"comps/mosaic_{name}", *common, *extra)
        assert run_dir is not None
        runs[name] = run_dir
        summary = json.loads((run_dir / "summary.json").read_text())
        found[name] = {"rmse": summary["cv"], "seconds": round(time.perf_counter() - t0, 1)}
    assert np.array_equal(np.load(runs["images"] / "folds.npy"), np.load(runs["table"] / "folds.npy"))
    t0 = time.perf_counter()
    ens = command("ensemble", str(runs["images"]), str(runs["table"]), "--tag", f"seed{seed}")
    assert ens is not None
    summary = json.loads((ens / "summary.json").read_text())
    weights = summary["blend"]["weights"]
    found["ensemble"] = {
        "rmse": summary["cv"],
        "equal_weights_rmse": summary["blend"].get("equal_score"),
        "seconds": round(time.perf_counter() - t0, 1),
        "weight_images": round(sum(w for k, w in weights.items() if k.startswith(runs["images"].name)), 3),
        "weight_table": round(sum(w for k, w in weights.items() if k.startswith(runs["table"].name)), 3),
    }
    return found


def main_(argv: list[str] | None = None) -> None:
    a = arguments(__doc__, argv)
    with scratch_cwd() as tmp:
        paths, y, classes = cifar(a.data.resolve(), tmp)
        download = tmp / "cifar-mosaics-metadata"
        _, tiles = mosaics(paths, y, classes, a.mosaics, download)
        parts = metadata_download(tiles, classes, a.mosaics, download)
        command("new", "mosaic_images", "--data", str(download), "--into", "comps")
        command("new", "mosaic_table", "--data", str(download), "--into", "comps", "--kind", "table")
        seeds = []
        for seed in range(a.repeats):
            seeds.append(one_seed(download, seed, a.epochs))
            print(seed, seeds[-1], flush=True)
    results = {
        "data": a.data.name,
        "mosaics": a.mosaics,
        "epochs": a.epochs,
        "parts": parts,
        "seeds": seeds,
        "mean_rmse": {k: float(np.mean([s[k]["rmse"] for s in seeds])) for k in ("images", "table", "ensemble")},
        "memory": peak_memory(),
    }
    print(json.dumps(results, indent=1))
    save("image_metadata", "python benchmarks/image_metadata.py " + " ".join(argv or sys.argv[1:]), results)


if __name__ == "__main__":
    main_()
