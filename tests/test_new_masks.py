"""`python -m pipeline new` on downloads of run-length masks in Carvana's, TGS Salt's and Severstal's layouts
(tests/mask_downloads.py): the file it writes (ruff, the contract, `list`), the pixel order it tells from the images
in either order, the grid, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import new_refuses
from mask_downloads import carvana_download, severstal_download, shape_mask, tgs_download

from pipeline.cli import main
from pipeline.commands.list import rows
from pipeline.commands.new import MASK_METRIC_NAMES
from pipeline.contract import load_competition
from pipeline.segmentation.csv_masks import METRICS
from pipeline.segmentation.infer_order import decide
from pipeline.segmentation.rle import encode

LAYOUTS = {
    "carvana": lambda root, order: carvana_download(root, order=order),
    "tgs": lambda root, order: tgs_download(root, order=order),
    "severstal": lambda root, order: severstal_download(root, order=order),
    "severstal_old": lambda root, order: severstal_download(root, order=order, old=True),
}


def new(tmp_path: Path, name: str, data: Path, *extra: str) -> int:
    return main(["new", name, "--data", str(data), "--into", str(tmp_path / "comps"), *extra])


def test_the_metric_names_new_knows_are_the_loaders() -> None:
    assert MASK_METRIC_NAMES == METRICS


@pytest.mark.parametrize("order", ["row", "column"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_new_writes_a_segmentation_competition_in_the_downloads_order(
    tmp_path: Path, capsys: pytest.CaptureFixture, layout: str, order: str
) -> None:
    data, masks = LAYOUTS[layout](tmp_path / f"{layout}-download", order)
    name = f"masks_{layout}_{order}"
    assert new(tmp_path, name, data) == 0
    out = capsys.readouterr().out
    assert f"pixel order: {order} (" in out and "set FILES' order=" in out and "metric dice" in out
    path = tmp_path / "comps" / name / "__init__.py"
    for cmd in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([sys.executable, "-m", "ruff", *cmd, str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    module = load_competition(str(path.parent))
    files = module.FILES
    height, width = next(iter(masks.values()))[0].shape
    assert (files.order, files.grid, files.shape) == (order, (height, width), (height, width))
    assert module.METRIC.name == "dice" and module.FOLDS == "kfold"
    listed = {r[0]: r[1:] for r in rows([str(tmp_path / "comps")])}
    assert listed[str(path.parent)] == (f"{layout}-download", "dice (higher is better)", "cpu, fast")
    several = layout.startswith("severstal")
    assert files.classes == (("1", "2", "3", "4") if several else ("mask",))
    assert (files.unlisted, files.joined) == (layout == "severstal", "_" if layout == "severstal_old" else None)
    d = module.load(module.Config(), data)
    ids = list(d.info["train_ids"])
    assert sorted(ids) == sorted(masks)
    y = d.y.reshape(len(ids), len(files.classes), height, width)
    assert all(y[i, k].tolist() == masks[key][k].tolist() for i, key in enumerate(ids) for k in range(len(masks[key])))


def test_the_order_from_the_images_alone(tmp_path: Path) -> None:
    """Square images (the wrong order is the transpose, as compact): the edges tell; images without edges and masks
    symmetric about the diagonal do not, and Kaggle's usual is taken, said to be undecided."""
    rng = np.random.default_rng(0)
    samples = {o: [] for o in ("row", "column")}
    for _ in range(8):
        mask = shape_mask(rng, 40, 40, "rectangle")
        gray = rng.integers(0, 40, (40, 40)).astype(np.float32) + 200 * mask
        for order in samples:
            samples[order].append((gray, encode(mask, order)))
    for order, found in samples.items():
        evidence = decide(found)
        assert (evidence.order, evidence.decided) == (order, True)
    flat = np.zeros((40, 40), np.float32)
    square = np.zeros((40, 40), np.uint8)
    square[10:20, 10:20] = 1
    evidence = decide([(flat, encode(square, "row"))])
    assert (evidence.order, evidence.decided) == ("column", False) and "undecided" in evidence.note()


def test_refusals_are_named(tmp_path: Path) -> None:
    data, _ = severstal_download(tmp_path / "sev", n_train=12, n_test=3)
    for metric in ("iou_map", "rmse", "f1_samples"):
        new_refuses(
            tmp_path,
            "sev_metric",
            data,
            f"--metric {metric}: a submission of run-length masks is scored by dice",
            "--metric",
            metric,
        )
    new_refuses(tmp_path, "sev_task", data, "holds masks to segment: --task", "--task", "binary")
    csv = data / "train.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, lines[1]]) + "\n")  # an instance of the same class again: Airbus's ships
    image, klass = lines[1].split(",")[:2]
    new_refuses(tmp_path, "sev_twice", data, rf"train.csv line {len(lines) + 1}: {image} class {klass} is listed twice")
    first = lines[1].split(",")
    csv.write_text("\n".join([lines[0], f"{first[0]},{first[1]},5 3 1 2", *lines[2:]]) + "\n")
    new_refuses(tmp_path, "sev_bad", data, r"train.csv line 2, column EncodedPixels: .*overlaps or precedes")


def test_a_download_too_large_for_its_grid_gets_a_smaller_one_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = carvana_download(tmp_path / "carvana-download")  # 40 images of 40x64, one class
    monkeypatch.setattr("pipeline.segmentation.grid.BUDGET_BYTES", 8 * 40 * 20 * 32)  # room for a quarter of 40x64
    assert new(tmp_path, "masks_budget", data) == 0
    out = capsys.readouterr().out
    assert "grid: masks learnt and scored at 20x32 (most training images are 40x64)" in out
    assert (
        "grid: smaller than 40x64 for 40 images x 1 classes, so that one model's predictions at it take 0.0 GB" in out
    )
    assert load_competition(str(tmp_path / "comps" / "masks_budget")).FILES.grid == (20, 32)


def test_the_file_fits_the_images_size_and_names_one_class_plainly(tmp_path: Path) -> None:
    data, _ = tgs_download(tmp_path / "tgs-download")  # 48x48 images, one class of no name
    assert new(tmp_path, "masks_small", data) == 0
    path = tmp_path / "comps" / "masks_small" / "__init__.py"
    module = load_competition(str(path.parent))
    assert module.Config().image_size == 64 and module.PRESETS["cpu"]["image_size"] == 64  # no upscaling to 256
    assert "Task: segment masks in images" in " ".join(path.read_text().split())
    asked: list[str] = []

    class Trial:
        def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
            asked.append(name)
            return low

    assert set(module.search_space(Trial())) == set(asked)
    assert "lr" in asked and "mask_threshold" not in asked  # fit_mask_cut fits each class's out of fold
