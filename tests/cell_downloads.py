"""A generated download in the layout of Sartorius Cell Instance Segmentation: train/ and test/ of greyscale PNGs
named by a 12-hex id, train.csv of one row per cell (`id,annotation,width,height,cell_type,plate_time,sample_date,
sample_id,elapsed_timedelta`, the annotation absolute row-wise runs, as Sartorius's), and sample_submission.csv
`id,predicted` listing each test image once. Each image holds many small cells (ellipses, bright domes fading to their
rims on dark noise, so that two touching cells show a dimmer seam), most of them in clusters where cells touch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.segmentation.rle import encode

CELL_TYPES = ("shsy5y", "astro", "cort")  # Sartorius's, one per image; the competition has no use for them


def _ellipse(
    height: int, width: int, centre: tuple[float, float], axes: tuple[float, float], angle: float
) -> np.ndarray:
    """Each pixel's squared normalised distance from an ellipse's centre: 1 on its rim, under 1 inside."""
    yy, xx = np.mgrid[:height, :width]
    dy, dx = yy - centre[0], xx - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (dx * c + dy * s) / axes[1], (-dx * s + dy * c) / axes[0]
    return u**2 + v**2


def cells(
    rng: np.random.Generator, height: int, width: int, count: tuple[int, int] = (8, 14), touch: float = 0.7
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A greyscale image of dark noise and a number in `count` of small cells, and each cell's mask (apart: a cell
    drawn over another's pixels leaves them to it). A cell is placed against an earlier one with probability `touch`
    (its centre that far from it that their rims meet), else anywhere; one that would cover a third of another, or
    lie past the edge, is drawn again."""
    img = rng.normal(35, 8, (height, width))
    taken = np.zeros((height, width), bool)
    masks: list[np.ndarray] = []
    centres: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        for _try in range(30):
            axes = (float(rng.uniform(3.0, 5.0)), float(rng.uniform(4.0, 7.0)))
            if centres and rng.random() < touch:
                y0, x0, r0 = centres[int(rng.integers(len(centres)))]
                turn = rng.uniform(0, 2 * np.pi)
                gap = r0 + min(axes) - 0.5
                centre = (y0 + gap * np.sin(turn), x0 + gap * np.cos(turn))
            else:
                centre = (float(rng.uniform(0, height)), float(rng.uniform(0, width)))
            if not (axes[1] <= centre[0] < height - axes[1] and axes[1] <= centre[1] < width - axes[1]):
                continue
            dist = _ellipse(height, width, centre, axes, float(rng.uniform(0, np.pi)))
            inside = dist <= 1
            if (inside & taken).sum() * 3 > inside.sum():
                continue
            mask = inside & ~taken
            img[mask] = rng.uniform(170, 230) * (1 - 0.45 * dist[mask]) + rng.normal(0, 6, int(mask.sum()))
            taken |= mask
            masks.append(mask.astype(np.uint8))
            centres.append((centre[0], centre[1], min(axes)))
            break
    return np.clip(img, 0, 255).astype(np.uint8), masks


def sartorius_download(
    root: Path,
    n_train: int = 24,
    n_test: int = 4,
    size: tuple[int, int] = (72, 96),
    seed: int = 11,
    test_cells: dict[str, list[np.ndarray]] | None = None,
) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """Sartorius's layout (the module docstring) at `size` (height, width; Sartorius's are 520 x 704). Returns the
    folder and each training image's cells; `test_cells`, given, is filled with each test image's."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    header = "id,annotation,width,height,cell_type,plate_time,sample_date,sample_id,elapsed_timedelta"
    lines, train = [header], {}
    height, width = size
    for folder, n in (("train", n_train), ("test", n_test)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, masks = cells(rng, height, width)
            key = f"{int(rng.integers(0, 1 << 40)):010x}{i:02x}"
            Image.fromarray(img, mode="L").save(root / folder / f"{key}.png")
            if folder == "test" and test_cells is not None:
                test_cells[key] = masks
            if folder == "train":
                train[key] = masks
                kind, hours = CELL_TYPES[i % 3], 11 + 12 * (i % 2)
                meta = f"{kind},{hours}h30m00s,2019-06-{16 + i % 5},{kind}[diff]_F10_T{i:02d},0 days {hours}:30:00"
                lines += [f"{key},{encode(m, 'row')},{width},{height},{meta}" for m in masks]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    tests = sorted(p.stem for p in (root / "test").iterdir())
    (root / "sample_submission.csv").write_text("id,predicted\n" + "".join(f"{k},\n" for k in tests))
    return root, train
