"""The built-in sample: drawn cowboys whose hat, sunglasses, jacket, belt and boots are boxed, in the real layout
(images/<16 hex>.jpg, COCO train.json with 64-bit image ids and category ids 87/131/318/588/1034, valid.csv and
test.csv). Deterministic: the same files every time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from competitions.cowboy_outfits.data import CATEGORIES

N_TRAIN, N_VALID, N_TEST = 96, 12, 24
COLORS = {
    "jacket": (40, 70, 160),
    "cowboy_hat": (150, 95, 40),
    "boot": (60, 35, 20),
    "belt": (200, 170, 60),
    "sunglasses": (10, 10, 10),
}
CAT_OF = {name: cid for cid, name in CATEGORIES.items()}
# How often each part is drawn: belts are rare, as in the real data.
P_PART = {"cowboy_hat": 0.8, "sunglasses": 0.5, "jacket": 0.85, "belt": 0.2, "boot": 0.6}


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    top, bottom = rng.integers(120, 240, 3), rng.integers(60, 200, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    img = top * (1 - t) + bottom * t + rng.normal(0, 8, (h, w, 3))
    return np.broadcast_to(img, (h, w, 3)).copy()


def _figure(img: np.ndarray, rng: np.random.Generator, x0: float, y0: float, fh: float) -> list[tuple[str, list]]:
    """Draw one cowboy of height fh at (x0, y0); return the labelled parts as (name, [x, y, w, h])."""
    import cv2

    fw = 0.45 * fh
    cx = x0 + fw / 2
    parts: list[tuple[str, list]] = []

    def rect(name: str | None, x: float, y: float, w: float, h: float, color: tuple) -> None:
        x1, y1, x2, y2 = (round(v) for v in (x, y, x + w, y + h))
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), color, -1)
        if name:
            parts.append((name, [x1, y1, x2 - x1, y2 - y1]))

    jitter = tuple(int(v) for v in rng.integers(-25, 25, 3))
    cv2.ellipse(
        img, (round(cx), round(y0 + 0.22 * fh)), (round(0.13 * fh), round(0.09 * fh)), 0, 0, 360, (225, 180, 150), -1
    )  # head (not labelled)
    rect(None, cx - 0.3 * fw, y0 + 0.66 * fh, 0.6 * fw, 0.2 * fh, (50, 50, 70))  # legs (not labelled)
    if rng.random() < P_PART["jacket"]:
        rect(
            "jacket",
            cx - 0.45 * fw,
            y0 + 0.31 * fh,
            0.9 * fw,
            0.33 * fh,
            tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(COLORS["jacket"], jitter, strict=True)),
        )
    if rng.random() < P_PART["belt"]:
        rect("belt", cx - 0.42 * fw, y0 + 0.62 * fh, 0.84 * fw, 0.07 * fh, COLORS["belt"])
        cv2.rectangle(
            img,
            (round(cx - 0.05 * fw), round(y0 + 0.62 * fh)),
            (round(cx + 0.05 * fw), round(y0 + 0.69 * fh)),
            (250, 230, 80),
            -1,
        )
    if rng.random() < P_PART["cowboy_hat"]:
        x1, y1 = cx - 0.42 * fw, y0
        cv2.ellipse(
            img,
            (round(cx), round(y0 + 0.12 * fh)),
            (round(0.42 * fw), round(0.035 * fh)),
            0,
            0,
            360,
            COLORS["cowboy_hat"],
            -1,
        )  # brim
        cv2.rectangle(
            img,
            (round(cx - 0.2 * fw), round(y0)),
            (round(cx + 0.2 * fw), round(y0 + 0.12 * fh)),
            COLORS["cowboy_hat"],
            -1,
        )  # crown
        parts.append(("cowboy_hat", [round(x1), round(y1), round(0.84 * fw), round(0.155 * fh)]))
    if rng.random() < P_PART["sunglasses"]:
        r = 0.07 * fw
        for dx in (-1, 1):
            cv2.circle(img, (round(cx + dx * 1.5 * r), round(y0 + 0.21 * fh)), round(r * 1.1), COLORS["sunglasses"], -1)
        parts.append(
            ("sunglasses", [round(cx - 2.6 * r), round(y0 + 0.21 * fh - 1.1 * r), round(5.2 * r), round(2.2 * r)])
        )
    if rng.random() < P_PART["boot"]:
        for dx in (-0.28, 0.04):
            bx, by = cx + dx * fw, y0 + 0.86 * fh
            rect("boot", bx, by, 0.26 * fw, 0.14 * fh, COLORS["boot"])
    return parts


def _image(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, list]]]:
    h, w = int(rng.integers(100, 144)), int(rng.integers(100, 160))
    img = _background(rng, h, w)
    parts: list[tuple[str, list]] = []
    n = 1 if rng.random() < 0.75 else 2
    for k in range(n):
        fh = rng.uniform(0.55, 0.9) * h if n == 1 else rng.uniform(0.45, 0.7) * h
        fw = 0.45 * fh
        lo, hi = (k * w / n, (k + 1) * w / n - fw) if n > 1 else (0, w - fw)
        x0 = rng.uniform(lo, max(lo, hi))
        y0 = rng.uniform(0, h - fh)
        parts += _figure(img, rng, x0, y0, fh)
    return np.clip(img, 0, 255).astype(np.uint8), parts


def _id(rng: np.random.Generator, used: set[int]) -> int:
    while True:  # 64-bit ids, a third of them beyond int64, like the real ids they must survive as exact ints
        v = int(rng.integers(1 << 40, 1 << 63)) * (2 if rng.random() < 0.33 else 1) + int(rng.integers(0, 2))
        if v not in used:
            used.add(v)
            return v


def sample(dest: Path) -> None:
    """Write images/, train.json, valid.csv and test.csv in the competition's layout into dest."""
    import cv2

    rng = np.random.default_rng(20210716)
    dest = Path(dest)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    used: set[int] = set()
    images, anns, rows = [], [], {"valid": [], "test": []}
    for i in range(N_TRAIN + N_VALID + N_TEST):
        img, parts = _image(rng)
        iid = _id(rng, used)
        name = f"{int(rng.integers(0, 1 << 63)):016x}.jpg"
        cv2.imwrite(str(dest / "images" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if i < N_TRAIN:
            images.append({"id": iid, "file_name": name, "width": img.shape[1], "height": img.shape[0]})
            for part, box in parts:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": iid,
                        "category_id": CAT_OF[part],
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                        "segmentation": [],
                    }
                )
        else:
            rows["valid" if i < N_TRAIN + N_VALID else "test"].append(f"{iid},{name}")
    cats = [{"id": cid, "name": name, "supercategory": "none"} for cid, name in CATEGORIES.items()]
    (dest / "train.json").write_text(
        json.dumps(
            {"info": {"description": "generated sample"}, "images": images, "annotations": anns, "categories": cats}
        )
    )
    for split, lines in rows.items():
        (dest / f"{split}.csv").write_text("id,file_name\n" + "\n".join(lines) + "\n")
