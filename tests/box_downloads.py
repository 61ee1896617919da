"""Generated downloads of boxes in a CSV, in Global Wheat Detection's layout and in RSNA Pneumonia's columns: 64x64
PNGs of bright squares on a dark background, 0 to 3 squares an image, some images with none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 64


COUNTS = (0.25, 0.3, 0.25, 0.2)  # the chances of 0, 1, 2 and 3 squares an image


def squares(rng: np.random.Generator, empty: float | None = None) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One image and its boxes (x, y, w, h): 0 to 3 bright squares apart from each other on dark noise; `empty`: the
    chance of none (default COUNTS'), the others' chances in COUNTS' proportions."""
    img = rng.integers(0, 40, (SIZE, SIZE, 3)).astype(np.uint8)
    boxes: list[tuple[int, int, int, int]] = []
    p = list(COUNTS) if empty is None else [empty, *(c * (1 - empty) / (1 - COUNTS[0]) for c in COUNTS[1:])]
    for _ in range(int(rng.choice(4, p=p))):
        side = int(rng.integers(12, 20))
        for _try in range(20):
            x, y = (int(v) for v in rng.integers(0, SIZE - side, 2))
            if all(
                x + side + 2 <= bx or bx + bw + 2 <= x or y + side + 2 <= by or by + bh + 2 <= y
                for bx, by, bw, bh in boxes
            ):
                img[y : y + side, x : x + side] = rng.integers(200, 256)
                boxes.append((x, y, side, side))
                break
    return img, boxes


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def images(folder: Path, prefix: str, n: int, seed: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """n images written as folder/<id>.png; each id's boxes."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        img, boxes = squares(rng)
        key = f"{prefix}{i:03d}{rng.integers(0, 1 << 16):04x}"
        _write_png(folder / f"{key}.png", img)
        out[key] = boxes
    return out


def wheat_download(root: Path, n_train: int = 48, n_test: int = 12) -> Path:
    """Global Wheat's layout: train/ and test/ of images, train.csv `image_id,width,height,bbox,source` of one row per
    box (images with no box in train/ only), sample_submission.csv `image_id,PredictionString`."""
    train = images(root / "train", "w", n_train, 0)
    test = images(root / "test", "t", n_test, 1)
    lines = ["image_id,width,height,bbox,source"]
    for key, boxes in train.items():
        lines += [f'{key},{SIZE},{SIZE},"[{x}.0, {y}.0, {w}.0, {h}.0]",usask_1' for x, y, w, h in boxes]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    (root / "sample_submission.csv").write_text(
        "image_id,PredictionString\n" + "".join(f"{k},1.0 0 0 50 50\n" for k in test)
    )
    return root


def rsna_download(root: Path, n_train: int = 48, n_test: int = 12) -> Path:
    """RSNA Pneumonia's columns: stage_2_train_labels.csv `patientId,x,y,width,height,Target` (a Target 0 row, its box
    cells empty, for an image with no box), stage_2_detailed_class_info.csv, stage_2_sample_submission.csv; PNGs in
    stage_2_train_images/ and stage_2_test_images/."""
    train = images(root / "stage_2_train_images", "p", n_train, 2)
    test = images(root / "stage_2_test_images", "q", n_test, 3)
    lines, info = ["patientId,x,y,width,height,Target"], ["patientId,class"]
    for key, boxes in train.items():
        lines += [f"{key},{x}.0,{y}.0,{w}.0,{h}.0,1" for x, y, w, h in boxes] or [f"{key},,,,,0"]
        info += [f"{key},{'Lung Opacity' if boxes else 'Normal'}"] * max(len(boxes), 1)
    (root / "stage_2_train_labels.csv").write_text("\n".join(lines) + "\n")
    (root / "stage_2_detailed_class_info.csv").write_text("\n".join(info) + "\n")
    (root / "stage_2_sample_submission.csv").write_text(
        "patientId,PredictionString\n" + "".join(f"{k},0.5 0 0 100 100\n" for k in test)
    )
    return root


# VinBigData's classes as a generated download draws them: each a colour of square, its class_id, and the image-level
# "No finding" class (14) of an image with nothing to find
COLOURS = {"Red square": ("0", 0), "Green square": ("1", 1), "Blue square": ("2", 2)}
NO_FINDING = ("No finding", "14")


def coloured(
    rng: np.random.Generator, empty: float | None = None
) -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]:
    """One image of squares() with each square one of COLOURS' colours, and its (class name, box) list."""
    img, boxes = squares(rng, empty)
    out = []
    for x, y, w, h in boxes:
        name = str(rng.choice(list(COLOURS)))
        img[y : y + h, x : x + w] = 30
        img[y : y + h, x : x + w, COLOURS[name][1]] = int(rng.integers(200, 256))
        out.append((name, (x, y, w, h)))
    return img, out


def vinbig_download(root: Path, n_train: int = 60, n_test: int = 12, seed: int = 4, empty: float | None = None) -> Path:
    """VinBigData Chest X-ray Abnormalities Detection's layout: train.csv
    `image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max` of one row per box (squares of three colours, each
    a class, each image's drawn by one reader) and, for an image with none, "No finding" rows of class_id 14 and empty
    box cells from two readers; train/ and test/ of PNGs; sample_submission.csv `image_id,PredictionString` of
    "14 1 0 0 1 1". `empty`: the chance of an image with no square (None: a quarter, squares()')."""
    return _vinbig(root, n_train, n_test, seed, 0, empty)[0]


Finding = tuple[str, tuple[int, int, int, int]]  # a class name and its box (x, y, w, h)


def vinbig_readers_download(
    root: Path, n_train: int = 48, n_test: int = 8, seed: int = 5, readers: int = 3
) -> tuple[Path, dict[str, list[Finding]]]:
    """vinbig_download's layout as VinBigData reads its images: every finding drawn by each of `readers` readers
    (rad_id R0, R1, ...), each corner moved by -1, 0 or 1 px (within the image), and "No finding" from each reader for
    an image with none. Returns the download and the generating truth: each training image's findings, unmoved."""
    return _vinbig(root, n_train, n_test, seed, readers)


def _moved(rng: np.random.Generator, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
    """The corners x_min, y_min, x_max, y_max of box x, y, w, h, each moved by -1, 0 or 1 px within the image."""
    d = rng.integers(-1, 2, 4)
    x0, y0 = max(x + int(d[0]), 0), max(y + int(d[1]), 0)
    return x0, y0, min(x + w + int(d[2]), SIZE), min(y + h + int(d[3]), SIZE)


def _vinbig(
    root: Path, n_train: int, n_test: int, seed: int, readers: int, empty: float | None = None
) -> tuple[Path, dict[str, list[Finding]]]:
    """The VinBigData download and its training images' findings; `readers` 0: each image's boxes drawn once, by one
    reader (vinbig_download), else by each of that many readers (vinbig_readers_download)."""
    rng, jitter = np.random.default_rng(seed), np.random.default_rng(seed + 1000)
    lines = ["image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max"]
    truth: dict[str, list[Finding]] = {}
    for i in range(n_train + n_test):
        img, boxes = coloured(rng, empty)
        key = f"{'v' if i < n_train else 'u'}{i:03d}{rng.integers(0, 1 << 16):04x}"
        _write_png(root / ("train" if i < n_train else "test") / f"{key}.png", img)
        if i >= n_train:
            continue
        truth[key] = boxes
        if not readers:
            lines += [f"{key},{n},{COLOURS[n][0]},R{i % 3},{x},{y},{x + w},{y + h}" for n, (x, y, w, h) in boxes]
        for r in range(readers):
            lines += [f"{key},{n},{COLOURS[n][0]},R{r},{','.join(map(str, _moved(jitter, *b)))}" for n, b in boxes]
        if not boxes:  # "No finding" from each reader (vinbig_download: from R1 and R2)
            lines += [
                f"{key},{NO_FINDING[0]},{NO_FINDING[1]},R{r},,,," for r in (range(readers) if readers else (1, 2))
            ]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    tests = sorted(p.stem for p in (root / "test").glob("*.png"))
    (root / "sample_submission.csv").write_text(
        "image_id,PredictionString\n" + "".join(f"{k},14 1 0 0 1 1\n" for k in tests)
    )
    return root, truth
