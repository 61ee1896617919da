"""Several labels per image: a sigmoid per tag (ImageMultiLabel, CsvImageTargets) against one class per combination
of tags (ImageClassifier over the combinations: what `new` wrote for Planet-style tags before), on real photos.

    python benchmarks/image_tags.py [--data ../shared/data/cifar-10.zip] [--mosaics 2000] [--epochs 8] [--repeats 2]
        [--grouped] [--kinds tags,combinations]

The download: Kaggle's CIFAR-10 training images, four to a 64 px mosaic (2 x 2), tagged with the classes in it (one
to four tags of ten; the layout of Planet's train_v2.csv: image_name,tags). Those tags are alike, each on about a
third of the mosaics; `--grouped` adds five of uneven shares, as Planet's are (from its 93% `primary` to tags of a
few images), where a cut per tag has more to find: an animal (97% of the mosaics), a vehicle (87%), a class twice
or more (50%), only animals (13%), only vehicles (3%) (results: benchmarks/figures/image_tags_grouped.json). Both
competitions train the same network from random init (timm's test_resnet) for the same fixed work (`--epochs`
epochs, 2 folds, batch 64, AdamW 3e-3, cosine, flips and light crops, no TTA) on the same folds and are scored the
same way, by mean F2 over the images (Planet's metric) of their out-of-fold tags:
- tags: each tag's probability, cut at one threshold fitted out of fold (pipeline/multilabel.py: each fold's rows at a
  cut fitted on the other fold's; applied only when the out-of-fold score improves) -- and at 0.5, before the cut;
  the run has Config.threshold "per_tag", so the same run also fits a cut per tag (pipeline/tag_cuts.py), by the same
  rules, kept only when it beats the one cut out of fold;
- combinations: the likeliest combination seen in training, its tags.
Beside them: each run's mean ROC AUC over the tags (how well it ranks the images by each tag, whatever the cut; a
combination run's tag probability is the sum of its combinations'), and the F2 of naming every tag.
The cut rules side by side (`cut_rules`): on the tags run's own out-of-fold probabilities, each fold's rows at 0.5, at
one cut and at a cut per tag, the cuts fitted on the other fold's rows for that metric, by mean F2 and by mean F1
(f1_samples): the same network outputs for every rule, so the comparison is exact. The F2 ones are the run's own
threshold.json's. The runs alternate (`--repeats`). Results: benchmarks/figures/image_tags.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchutil import ROOT, peak_memory, save, scratch_cwd  # noqa: E402

from pipeline import multilabel, tag_cuts  # noqa: E402
from pipeline.blend import refit_per_group  # noqa: E402
from pipeline.cli import main  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar-10.zip"
ANIMALS = ("bird", "cat", "deer", "dog", "frog", "horse")
GROUPED = ("animal", "vehicle", "only_animals", "only_vehicles", "a_class_twice")  # --grouped's tags
COMMON = '''"""{doc}"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import albumentations as A

from pipeline.contract import Metric
from pipeline.vision.backbones import networks
from pipeline.vision.recipe import FineTuneRecipe
{imports}

KAGGLE_SLUG = "cifar-mosaics"
METRIC = {metric}
FOLDS = "kfold"
EXPECTED_FILES = [{csv!r}, "sample_submission.csv", "train-jpg", "test-jpg"]
FILES = {files}
load, load_test, score = FILES.load, FILES.load_test, FILES.score
write_submission, validate = FILES.write_submission, FILES.validate


@dataclass(frozen=True)
class Config(FineTuneRecipe):
    archs: tuple[str, ...] = ("test_resnet",)
    pretrained: bool = False
    image_size: int = 64
    folds: int = 2
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    drop_path: float = 0.0
    label_smoothing: float = 0.0
    freeze_epochs: int = 0
    layer_decay: float | None = None
    tta: tuple[str, ...] = ()
{config_extra}

def transforms(cfg: Any, train: bool) -> Any:
    if not train:
        return A.Compose([])
    return A.Compose([A.HorizontalFlip(), A.RandomResizedCrop(size=(64, 64), scale=(0.85, 1.0))])


def models(cfg: Config) -> dict[str, Any]:
    return networks(cfg, transforms, {kind})
'''
TAGS = dict(
    doc="CIFAR mosaics, a sigmoid per tag.",
    imports="from pipeline.vision.csv_targets import CsvImageTargets\n"
    "from pipeline.vision.multioutput import ImageMultiLabel",
    metric='Metric("f2_samples", greater_is_better=True)',
    files='CsvImageTargets("train_v2.csv", "image_name", tags_column="tags", metric="f2_samples", '
    'image_path="train-jpg/{}.png", test_image_path="test-jpg/{}.png")',
    kind="ImageMultiLabel",
    csv="train_v2.csv",
    config_extra='    threshold: bool | str = "per_tag"\n',
)
COMBINATIONS = dict(
    doc="CIFAR mosaics, one class per combination of tags.",
    imports="from pipeline.vision.csv_images import CsvImages\nfrom pipeline.vision.estimator import ImageClassifier",
    metric='Metric("accuracy", greater_is_better=True)',
    files='CsvImages("train_v2.csv", "image_name", "tags", image_path="train-jpg/{}.png", '
    'test_image_path="test-jpg/{}.png")',
    kind="ImageClassifier",
    csv="train_v2.csv",
    config_extra="",
)


def cifar(data: Path, scratch: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Kaggle's CIFAR-10 training images (extracted from the download's train.7z) and their class indices."""
    from pipeline.archives import extract_inner, extract_zip

    raw = scratch / "cifar"
    extract_zip(data, raw)
    extract_inner(raw)
    labels = pd.read_csv(raw / "trainLabels.csv", dtype=str)
    classes = sorted(set(labels["label"]))
    paths = [raw / "train" / f"{i}.png" for i in labels["id"]]
    return paths, labels["label"].map({c: k for k, c in enumerate(classes)}).to_numpy(), classes


def grouped_tags(tiles_of: np.ndarray, classes: list[str]) -> np.ndarray:
    """GROUPED's tags of each mosaic (rows x 5 of 0/1) from its four classes: an animal, a vehicle, only animals,
    only vehicles, a class twice or more."""
    animal = np.isin(np.asarray(classes), ANIMALS)[tiles_of]
    twice = np.array([len(set(row)) < len(row) for row in tiles_of])
    columns = [animal.any(axis=1), (~animal).any(axis=1), animal.all(axis=1), (~animal).all(axis=1), twice]
    return np.column_stack(columns).astype(int)


def mosaics(
    paths: list[Path], y: np.ndarray, classes: list[str], n: int, dest: Path, grouped: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """n training and n // 5 test mosaics of four different images each (no image used twice): the download, the
    training mosaics' tags (rows x tags of 0/1: the classes, then GROUPED's with `grouped`) and every mosaic's four
    classes (rows x 4, training rows first)."""
    import cv2

    rng = np.random.default_rng(0)
    n_test = n // 5
    if 4 * (n + n_test) > len(paths):
        raise SystemExit(
            f"--mosaics {n}: {n} + {n_test} mosaics need {4 * (n + n_test)} images; there are {len(paths)}."
        )
    order = rng.permutation(len(paths))[: 4 * (n + n_test)]
    tags = np.zeros((n + n_test, len(classes)), dtype=int)
    tiles_of = y[order].reshape(n + n_test, 4)
    for m in range(n + n_test):
        quad = order[4 * m : 4 * m + 4]
        tiles = [cv2.imread(str(paths[i])) for i in quad]
        image = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
        folder = dest / ("train-jpg" if m < n else "test-jpg")
        folder.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / f"m{m}.png"), image)
        tags[m, y[quad]] = 1
    if grouped:
        tags = np.hstack([tags, grouped_tags(tiles_of, classes)])
    cells = [" ".join(np.asarray(tag_names(classes, grouped))[row == 1]) for row in tags]
    names = [f"m{m}" for m in range(n + n_test)]
    pd.DataFrame({"image_name": names[:n], "tags": cells[:n]}).to_csv(dest / "train_v2.csv", index=False)
    pd.DataFrame({"image_name": names[n:], "tags": classes[0]}).to_csv(dest / "sample_submission.csv", index=False)
    return tags[:n], tiles_of


def tag_names(classes: list[str], grouped: bool) -> list[str]:
    """The tags in the order of `mosaics`' columns: the classes, then GROUPED's with `grouped`."""
    return list(classes) + (list(GROUPED) if grouped else [])


def run(competition: Path, data: Path, epochs: int, sets: list[str] | None = None) -> tuple[Path, float]:
    """One run of a competition for `epochs` epochs (and `sets`, more --set values); its run folder and wall seconds."""
    t0 = time.perf_counter()
    args = ["run", str(competition), "--data", str(data), "--quiet", "--seed", "0", "--set", f"epochs={epochs}"]
    for value in sets or []:
        args += ["--set", value]
    assert main(args) == 0, f"run {competition} failed"
    seconds = time.perf_counter() - t0
    return max((Path("runs") / competition.name).glob("*"), key=lambda p: p.stat().st_mtime), seconds


def mean_auc(tags: np.ndarray, proba: np.ndarray) -> float:
    """Each tag's ROC AUC of its out-of-fold probabilities, averaged: how well a run ranks the images by each tag,
    whatever the cut."""
    from pipeline.tabular.metrics import binary_auc

    return float(np.mean([binary_auc(tags[:, j] == 1, proba[:, j]) for j in range(tags.shape[1])]))


def combination_scores(run_dir: Path, tags: np.ndarray, classes: list[str]) -> dict[str, float]:
    """The combinations run's out-of-fold mean F2 (each row's likeliest combination, as its tags) and mean tag AUC
    (a tag's probability: the sum of its combinations')."""
    combos = sorted({" ".join(np.asarray(classes)[row == 1]) for row in tags})  # the classifier's classes, in order
    member = np.array([[c in combo.split() for c in classes] for combo in combos], dtype=float)  # combos x tags
    oof = np.load(run_dir / "oof" / "test_resnet.npy")
    guess = member[oof.argmax(axis=1)]
    return {"f2": multilabel.f_score("f2_samples", tags, guess), "mean_tag_auc": mean_auc(tags, oof @ member)}


def cut_rules(run_dir: Path, tags: np.ndarray) -> dict[str, dict[str, float]]:
    """The tags run's out-of-fold probabilities scored by mean F2 and mean F1, each fold's rows at 0.5, at one cut and
    at a cut per tag fitted for that metric on the other folds' rows (as the runner fits them: blend.refit_per_group
    over the folds, which are the one model's nested groups)."""
    oof, folds = np.load(run_dir / "oof" / "test_resnet.npy"), np.load(run_dir / "folds.npy")
    nested = [
        {"held": np.flatnonzero(folds == f), "fit": np.flatnonzero(folds != f), "fit_pred": oof[folds != f]}
        for f in np.unique(folds[folds >= 0])
    ]
    return {metric: rule_scores(metric, nested, oof, tags) for metric in ("f2_samples", "f1_samples")}


def rule_scores(metric: str, nested: list[dict[str, Any]], oof: np.ndarray, tags: np.ndarray) -> dict[str, float]:
    """`metric` of the out-of-fold probabilities at 0.5, at one cut and at a cut per tag fitted for it out of fold."""

    def score(a: np.ndarray, b: np.ndarray) -> float:
        return multilabel.f_score(metric, a, b)

    one, _ = refit_per_group(nested, oof, tags, lambda p, y: multilabel.fit_cut(p, y, score), multilabel.shift)
    each, _ = refit_per_group(nested, oof, tags, lambda p, y: tag_cuts.fit_tag_cuts(p, y, metric), tag_cuts.shift_tags)
    return {"at_0.5": score(tags, oof), "one_cut": score(tags, one), "per_tag": score(tags, each)}


def tags_row(run_dir: Path, tags: np.ndarray) -> dict[str, Any]:
    """A tags run's figures: its cv (the cuts it kept), the one cut's and the per-tag cuts' records, each cut rule's
    out-of-fold mean F2 and F1 (`cut_rules`) and its mean tag AUC."""
    cut = json.loads((run_dir / "threshold.json").read_text())
    per_tag = cut["per_tag"]
    row: dict[str, Any] = {"f2": json.loads((run_dir / "summary.json").read_text())["cv"]}
    row |= {"f2_at_0.5": cut["score_before"], "threshold": cut["threshold"], "cut_applied": cut["applied"]}
    row |= {"f2_one_cut": cut["score_after"], "f2_per_tag": per_tag["score_after"]}
    row |= {"tag_thresholds": per_tag["thresholds"], "per_tag_applied": per_tag["applied"]}
    row["cut_rules"] = cut_rules(run_dir, tags)
    row["mean_tag_auc"] = mean_auc(tags, np.load(run_dir / "oof" / "test_resnet.npy"))
    return row


def arguments(doc: str, argv: list[str] | None, tags: bool = False) -> argparse.Namespace:
    """The mosaic benchmarks' command line (this one's, with `tags`, and image_values.py's)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--mosaics", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    if tags:
        p.add_argument("--grouped", action="store_true", help="five more tags of uneven shares: GROUPED")
        p.add_argument("--kinds", default="tags,combinations", help="the competitions run, of tags,combinations")
    return p.parse_args(argv)


def main_(argv: list[str] | None = None) -> None:
    a = arguments(__doc__, argv, tags=True)
    kinds = [k for k in ("tags", "combinations") if k in a.kinds.split(",")]
    with scratch_cwd() as tmp:
        paths, y, classes = cifar(a.data.resolve(), tmp)
        download = tmp / "mosaics"
        tags, _ = mosaics(paths, y, classes, a.mosaics, download, a.grouped)
        names = tag_names(classes, a.grouped)
        columns = np.argsort(names)  # the competition's tags are sorted by name (multilabel.tags_in)
        tags, names = tags[:, columns], [names[j] for j in columns]
        comps = {"tags": tmp / "comps" / "mosaic_tags", "combinations": tmp / "comps" / "mosaic_combinations"}
        for kind, fields in (("tags", TAGS), ("combinations", COMBINATIONS)):
            comps[kind].mkdir(parents=True)
            (comps[kind] / "__init__.py").write_text(COMMON.format(**fields))
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for r in range(a.repeats):
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                run_dir, seconds = run(comps[kind], download, a.epochs)
                row: dict[str, Any] = {"seconds": round(seconds, 1)}
                if kind == "tags":
                    row |= tags_row(run_dir, tags)
                else:
                    row |= combination_scores(run_dir, tags, names)
                runs[kind].append(row)
                print(kind, row, flush=True)
        results: dict[str, Any] = {
            "data": a.data.name,
            "mosaics": a.mosaics,
            "epochs": a.epochs,
            "grouped": a.grouped,
            "tags_per_mosaic": float(tags.sum(axis=1).mean()),
            "tag_shares": dict(zip(names, tags.mean(axis=0).round(4).tolist(), strict=True)),
            "combinations_in_training": len({tuple(row) for row in tags}),
            "every_tag_f2": multilabel.f_score("f2_samples", tags, np.ones(tags.shape)),
            "runs": runs,
            "memory": peak_memory(),
        }
        mean = {k: float(np.mean([x["seconds"] for x in v])) for k, v in runs.items()}
        if len(mean) == 2:
            results["seconds_ratio_tags_to_combinations"] = round(mean["tags"] / mean["combinations"], 2)
    print(json.dumps(results, indent=1))
    name = "image_tags_grouped" if a.grouped else "image_tags"
    save(name, "python benchmarks/image_tags.py " + " ".join(argv or sys.argv[1:]), results)


if __name__ == "__main__":
    main_()
