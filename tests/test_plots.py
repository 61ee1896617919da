"""Run plots: residuals, confusion matrix and learning curves are readable PNG images of a sensible size."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from pipeline import plots


def assert_png(path: Path, min_side: int = 300, max_side: int = 4000) -> Image.Image:
    """A complete PNG (decodes fully), neither a thumbnail nor a poster, and not blank."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as im:
        im.verify()  # checksums and structure
    im = Image.open(path)
    im.load()
    w, h = im.size
    assert min_side <= w <= max_side and min_side <= h <= max_side, (path, im.size)
    assert len(np.unique(np.asarray(im.convert("L")))) > 2, f"{path} is blank"
    return im


def test_confusion_matrix_png_shows_every_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    proba = np.eye(3)[y] * 0.7 + rng.random((60, 3)) * 0.5
    plots.confusion(y, proba, ["cat", "dog", "bird"], tmp_path / "cm.png")
    small = assert_png(tmp_path / "cm.png")
    classes = [f"c{i}" for i in range(25)]
    y = np.arange(250) % 25
    plots.confusion(y, np.eye(25)[y], classes, tmp_path / "cm25.png")
    assert assert_png(tmp_path / "cm25.png").size[0] > small.size[0]  # grows with the classes


def test_learning_curves_png_from_histories(tmp_path: Path) -> None:
    for fold in (0, 1):
        folder = tmp_path / "checkpoints" / "net" / f"fold{fold}"
        folder.mkdir(parents=True)
        rows = [
            {"epoch": e, "train_loss": 2.0 / e, "valid_loss": 2.2 / e, "valid_score": 0.1 * e + 0.01 * fold}
            for e in range(1, 6)
        ]
        (folder / "history.json").write_text(json.dumps(rows))
    assert plots.learning_curves(tmp_path, tmp_path / "plots" / "lc.png")
    assert_png(tmp_path / "plots" / "lc.png")
    assert not plots.learning_curves(tmp_path / "nothing", tmp_path / "none.png")  # no histories: no plot
    assert not (tmp_path / "none.png").exists()


def test_run_plots_picks_the_plot_for_the_task(tmp_path: Path) -> None:
    folds = np.arange(40) % 2
    y = np.arange(40) % 4
    cls = SimpleNamespace(classes=["a", "b", "c", "d"])
    plots.run_plots(object(), cls, y, folds, np.eye(4)[y], tmp_path / "cls")
    assert_png(tmp_path / "cls" / "plots" / "confusion_matrix.png")
    assert not (tmp_path / "cls" / "plots" / "residuals.png").exists()
    price = np.linspace(1e5, 3e5, 40)
    plots.run_plots(object(), SimpleNamespace(classes=None), price, folds, (price * 1.05)[:, None], tmp_path / "reg")
    assert_png(tmp_path / "reg" / "plots" / "residuals.png")
    assert not (tmp_path / "reg" / "plots" / "confusion_matrix.png").exists()
