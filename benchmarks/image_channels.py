"""Images of one file per channel: does the network read the fourth? A Human Protein Atlas layout (train/<Id>_red.png,
_green, _blue, _yellow; train.csv of Id and space-separated tags) made up so that tags 0 and 1 tell only from the
yellow channel (a bright square in yellow is tag 0, none tag 1) and tag 2 from green (tests/channel_downloads.py),
red and blue holding squares that tell nothing.

    python benchmarks/image_channels.py [--images 160] [--epochs 10] [--seeds 0,1]

`new` writes the competition (its Config's channels: red, green, blue, yellow); each seed runs it twice, the same
work each time (`--epochs` epochs, 2 folds, timm's test_resnet from random init at 32 px, crops of 90% of the image
at least, no colour jitter: `--preset fast`), once with `--set channels=red,green,blue` (yellow left out, as a
three-channel pipeline reads the download) and once with all four, the two interleaved. Each run's out-of-fold macro
F1 (Human Protein Atlas' metric, after the one cut of every tag fitted out of fold) and each tag's F1, beside the best
a network blind to yellow can do: tag 2 right on every image, tags 0 and 1 named on every image (their best
constant). Results: benchmarks/figures/image_channels.json.
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
from channel_downloads import TAGS, hpa  # noqa: E402

from pipeline import multilabel  # noqa: E402
from pipeline.cli import main  # noqa: E402

NAME = "hpa_channels_bench"
VARIANTS = {"red,green,blue": ("channels=red,green,blue",), "red,green,blue,yellow": ()}
QUICK = ("batch_size=8", "crop_scale=0.9", "color_jitter=0")


def tag_f1(y: np.ndarray, oof: np.ndarray) -> list[float]:
    """Each tag's F1 of the tags the out-of-fold probabilities name (pipeline.multilabel.named: above 0.5, or a row's
    likeliest), as the macro F1 averages them."""
    from sklearn.metrics import f1_score

    named = multilabel.named(oof)
    return [float(f1_score(y[:, k], named[:, k], zero_division=0.0)) for k in range(y.shape[1])]


def one_run(comp: Path, data: Path, seed: int, epochs: int, channels: tuple[str, ...]) -> dict[str, Any]:
    """One run: its out-of-fold macro F1 (after the cut), before the cut, and each tag's F1."""
    done = fast_run(comp, data, seed, 2, epochs, (*QUICK, *channels))
    # the blend's out-of-fold probabilities, remapped so that 0.5 is the cut where one was applied
    cut = done.run_dir / "oof" / "_threshold.npy"
    oof = np.load(cut if cut.is_file() else done.run_dir / "oof" / "_blend.npy")
    threshold = json.loads((done.run_dir / "threshold.json").read_text())
    return {
        "macro_f1": done.summary["cv"],
        "macro_f1_at_half": threshold.get("score_before"),
        "tag_f1": dict(zip(TAGS, tag_f1(np.asarray(done.y), oof), strict=True)),
        "seconds": round(done.seconds, 1),
    }


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=160, help="training images (and a quarter as many test)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0,1")
    a = parser.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    with scratch_cwd() as tmp:
        data, y = hpa(tmp / "human-protein-atlas", n_train=a.images, n_test=a.images // 4)
        assert main(["new", NAME, "--data", str(data), "--into", str(tmp / "comps"), "--metric", "f1_macro"]) == 0
        comp = tmp / "comps" / NAME
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for i, seed in enumerate(seeds):
            order = list(VARIANTS) if i % 2 == 0 else list(VARIANTS)[::-1]
            for variant in order:
                row = one_run(comp, data, seed, a.epochs, VARIANTS[variant])
                runs[variant].append({"seed": seed, **row})
                print(variant, row, flush=True)
        share = y[:, :2].mean(axis=0)
        results: dict[str, Any] = {
            "images": a.images,
            "epochs": a.epochs,
            "folds": 2,
            "tag_shares": dict(zip(TAGS, y.mean(axis=0).round(3).tolist(), strict=True)),
            "blind_to_yellow_best_macro_f1": float((1.0 + (2 * share / (1 + share)).sum()) / 3),
            "runs": runs,
            "mean_macro_f1": {v: float(np.mean([r["macro_f1"] for r in rows])) for v, rows in runs.items()},
            "memory": peak_memory(),
        }
    print(json.dumps(results, indent=1))
    save("image_channels", "python benchmarks/image_channels.py " + " ".join(argv or sys.argv[1:]), results)


if __name__ == "__main__":
    main_()
