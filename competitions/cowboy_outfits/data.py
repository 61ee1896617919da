"""CowBoy Outfits: read images/, train.json (COCO), valid.csv and test.csv exactly as shipped, checking every record.

Image ids are 64-bit integers (beyond int32, some possibly beyond int64): they stay Python ints, never numpy or
floats. Internally an image is its row number; the original ids travel in `Data.info` and `Data.test_ids`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import ContractError, Data
from pipeline.detection.boxes import CROWD, pack
from pipeline.imagefiles import likely_cause
from pipeline.listing import listed

# The five original category ids; a class index is the position in this sorted list.
CATEGORIES: dict[int, str] = {87: "belt", 131: "boot", 318: "cowboy_hat", 588: "jacket", 1034: "sunglasses"}
CATEGORY_IDS: list[int] = sorted(CATEGORIES)
CLASS_NAMES: tuple[str, ...] = tuple(CATEGORIES[c] for c in CATEGORY_IDS)
KNOWN = ", ".join(f"{c} ({n})" for c, n in CATEGORIES.items())  # as messages list them
EXPECTED_FILES = ["train.json", "valid.csv", "test.csv", "images"]
SPLITS = ("test", "valid")


class CowboyDataError(ContractError):
    """A record of train.json, valid.csv or test.csv is malformed or points at a missing image."""


def remap_ids(ids: list[Any]) -> tuple[dict[int, int], list[int]]:
    """Original image ids -> row numbers 0..n-1 (and the originals, exactly, as Python ints)."""
    originals = [int(i) for i in ids]
    return {orig: row for row, orig in enumerate(originals)}, originals


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _shown(file_name: Any) -> str:
    """An image's name as the messages quote it: images/<name>, quoted so that a stray space shows."""
    return repr(f"images/{file_name}")


def _fail(where: str, problem: str) -> CowboyDataError:
    return CowboyDataError(f"train.json {where}: {problem}")


def _images(doc: dict[str, Any], image_dir: Path) -> tuple[list[int], list[str], np.ndarray]:
    ids, paths, sizes, seen, files = [], [], [], set(), {}
    if not doc["images"]:
        raise _fail("images", "the list is empty: no image to train on.")
    for i, im in enumerate(doc["images"]):
        where = f"images[{i}]"
        if not isinstance(im, dict):
            raise _fail(where, f"expected an object, got {type(im).__name__}.")
        missing = [k for k in ("id", "file_name", "width", "height") if k not in im]
        if missing:
            raise _fail(
                f"{where} (id {im.get('id')})",
                f"missing field(s) {', '.join(missing)}; an image needs id, file_name, width, height.",
            )
        iid, w, h = _int(im["id"]), _int(im["width"]), _int(im["height"])
        if iid is None:
            raise _fail(where, f"id {im['id']!r} is not an integer.")
        where = f"{where} (id {iid})"
        if iid in seen:
            raise _fail(where, "duplicate image id.")
        if w is None or h is None or w <= 0 or h <= 0:
            raise _fail(where, f"width/height must be positive integers, got {im['width']!r} x {im['height']!r}.")
        path = image_dir / str(im["file_name"])
        if not path.is_file():
            raise _fail(
                where,
                f"image file {_shown(im['file_name'])} not found{likely_cause(image_dir, Path(str(im['file_name'])))}.",
            )
        if (first := files.setdefault(str(im["file_name"]), i)) != i:  # one picture twice could sit on both sides
            raise _fail(where, f"file_name {_shown(im['file_name'])} is already images[{first}]'s.")  # of a fold
        if (found := _header_size(path)) is not None and found != (w, h):  # boxes are given in the file's frame
            raise _fail(
                where,
                f"width x height {w} x {h} differ from images/{im['file_name']}'s {found[0]} x {found[1]}: its boxes "
                "would not fall on the image.",
            )
        seen.add(iid)
        ids.append(iid)
        paths.append(str(path))
        sizes.append((w, h))
    return ids, paths, np.array(sizes, dtype=np.int64).reshape(-1, 2)


def _header_size(path: Path) -> tuple[int, int] | None:
    """The image's width and height as stored (its header; no EXIF rotation), or None when unreadable (the image
    check before training names such a file)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception:
        return None


def _name_key(name: Any) -> str:
    """A category name as compared: case, spaces and hyphens aside ('Cowboy hat' is cowboy_hat)."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def check_categories(doc: dict[str, Any]) -> None:
    """train.json's categories are the five the recipe predicts and answer.json names by id: each id once, under
    its name (CATEGORIES). A download that calls 87 anything but a belt, or lacks a category, is not the data the
    recipe's class order and the submission's ids were written for."""
    cats = doc.get("categories")
    if not isinstance(cats, list):
        raise CowboyDataError(f"train.json: no 'categories' list; expected the five categories {KNOWN}.")
    first: dict[int, int] = {}
    for i, c in enumerate(cats):
        where = f"categories[{i}]"
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise _fail(where, f"expected an object with id and name, got {c!r}.")
        cid = _int(c["id"])
        if cid not in CATEGORIES:
            raise _fail(where, f"unknown category id {c['id']!r}; valid: {KNOWN}.")
        where = f"{where} (id {cid})"
        if (seen := first.setdefault(cid, i)) != i:
            raise _fail(where, f"duplicate category id: categories[{seen}] has it too.")
        if _name_key(c["name"]) != _name_key(CATEGORIES[cid]):
            owner = [k for k, n in CATEGORIES.items() if _name_key(n) == _name_key(c["name"])]
            whose = f" ({CATEGORIES[owner[0]]!r} is {owner[0]}'s)" if owner else ""
            raise _fail(
                where,
                f"named {c['name']!r}{whose}, but category {cid} is {CATEGORIES[cid]!r} to the recipe and in "
                f"answer.json; this download's categories disagree with the competition's: {KNOWN}.",
            )
    if missing := [c for c in CATEGORY_IDS if c not in first]:
        raise _fail(
            "categories",
            f"lacks {', '.join(f'{c} ({CATEGORIES[c]})' for c in missing)}; the recipe predicts, and answer.json "
            f"names, the five categories {KNOWN}.",
        )


def _annotations(doc: dict[str, Any], row_of: dict[int, int], sizes: np.ndarray) -> tuple[list[list[Any]], int]:
    """Per image a list of (xywh, class index, crowd); boxes reaching past the border are clipped (counted).

    A crowd region (iscrowd 1, COCO's one box around many objects) is kept as such: no training target, ignored by
    the metric (see pipeline/detection/boxes.py CROWD)."""
    per_image: list[list[Any]] = [[] for _ in row_of]
    clipped = 0
    for j, a in enumerate(doc["annotations"]):
        where = f"annotations[{j}]"
        if not isinstance(a, dict):
            raise _fail(where, f"expected an object, got {type(a).__name__}.")
        where = f"{where} (id {a.get('id')})"
        missing = [k for k in ("image_id", "category_id", "bbox") if k not in a]
        if missing:
            raise _fail(
                where, f"missing field(s) {', '.join(missing)}; an annotation needs image_id, category_id, bbox."
            )
        iid, cat = _int(a["image_id"]), _int(a["category_id"])
        if iid is None or iid not in row_of:
            raise _fail(where, f"image_id {a['image_id']!r} is not an image of train.json.")
        if cat not in CATEGORIES:
            raise _fail(where, f"unknown category_id {a['category_id']!r}; valid: {KNOWN}.")
        crowd = a.get("iscrowd", 0)
        if isinstance(crowd, bool) or crowd not in (0, 1):
            raise _fail(where, f"iscrowd {crowd!r} must be 0 (an object) or 1 (a crowd region).")
        box = a["bbox"]
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box)
        ):
            raise _fail(where, f"bbox must be [x_min, y_min, width, height] (4 finite numbers), got {box!r}.")
        x, y, w, h = (float(v) for v in box)
        if w <= 0 or h <= 0:
            raise _fail(where, f"bbox {box} has a non-positive width or height.")
        row = row_of[iid]
        W, H = sizes[row]
        x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, float(W)), min(y + h, float(H))
        if x2 <= x1 or y2 <= y1:
            raise _fail(where, f"bbox {box} lies outside its {W}x{H} image.")
        clipped += (x1, y1, x2, y2) != (x, y, x + w, y + h)
        per_image[row].append(([x1, y1, x2 - x1, y2 - y1], CATEGORY_IDS.index(cat), crowd == 1))
    return per_image, clipped


def read_train(path: Path, image_dir: Path) -> dict[str, Any]:
    """Parse and check train.json: ids, paths, sizes and packed ground truth (images x K*6)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CowboyDataError(f"Cannot read {path.name}: {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise CowboyDataError(f"{path.name}: expected a COCO object with lists 'images' and 'annotations'.")
    check_categories(doc)
    ids, paths, sizes = _images(doc, image_dir)
    row_of, originals = remap_ids(ids)
    per_image, clipped = _annotations(doc, row_of, sizes)
    crowds = sum(crowd for a in per_image for _, _, crowd in a)
    if not any(not crowd for a in per_image for _, _, crowd in a):
        only = f" (only {crowds} crowd region(s), which are no objects)" if crowds else ""
        raise _fail("annotations", f"no box over the {len(ids)} images{only}: nothing to learn to detect.")
    y = pack(
        [np.array([b for b, _, _ in a]).reshape(-1, 4) for a in per_image],
        [np.array([CROWD if crowd else 1.0 for _, _, crowd in a]) for a in per_image],
        [np.array([c for _, c, _ in a], dtype=np.int64) for a in per_image],
    )
    return {
        "ids": originals,
        "paths": paths,
        "sizes": sizes,
        "y": y,
        "clipped": clipped,
        "n_boxes": sum(len(a) for a in per_image) - crowds,
        "n_crowd": crowds,
    }


def read_split(path: Path, image_dir: Path) -> tuple[list[int], list[str], np.ndarray]:
    """valid.csv / test.csv (id,file_name): original ids as Python ints, image paths and sizes (read from headers)."""
    from PIL import Image

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)  # str: ids beyond int64 must not become floats
    except Exception as e:
        raise CowboyDataError(f"Cannot read {path.name}: {e}") from None
    if list(df.columns[:2]) != ["id", "file_name"]:
        raise CowboyDataError(f"{path.name}: expected columns id,file_name; got {','.join(df.columns)}.")
    if df.empty:
        raise CowboyDataError(f"{path.name}: no rows (only a header): no image to predict.")
    ids, paths, sizes, seen, files = [], [], [], set(), {}
    for i, (raw, name) in enumerate(zip(df["id"], df["file_name"], strict=True)):
        where = f"{path.name} line {i + 2}"
        iid = _int(raw)
        if iid is None:
            raise CowboyDataError(f"{where}: id {raw!r} is not an integer.")
        if iid in seen:
            raise CowboyDataError(f"{where}: duplicate id {iid}.")
        if (first := files.setdefault(name, i + 2)) != i + 2:
            raise CowboyDataError(f"{where} (id {iid}): file_name {_shown(name)} is already line {first}'s.")
        p = image_dir / name
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
        except FileNotFoundError:
            hint = likely_cause(image_dir, Path(name))
            raise CowboyDataError(f"{where} (id {iid}): image file {_shown(name)} not found{hint}.") from None
        except Exception as e:
            raise CowboyDataError(f"{where} (id {iid}): images/{name} is not a readable image ({e}).") from None
        seen.add(iid)
        ids.append(iid)
        paths.append(str(p))
    return ids, paths, np.array(sizes, dtype=np.int64).reshape(-1, 2)


SHOWN_OVERLAPS = 5  # overlapping rows a message quotes (then their count)


def check_overlap(train: dict[str, Any], split_csv: Path, image_dir: Path, ids: list[int], paths: list[str]) -> None:
    """Refuse listed images that are also training images: the same file, or the same image id. (The same bytes under
    another name is a picture published twice, which a real download may hold: the run warns of it, naming the rows,
    pipeline/imagedigests.py.)

    A picture on both sides is predicted by models that trained on its boxes, and an id on both sides names two
    images in answer.json; either way the listing and train.json disagree about which images are which.
    """
    file_row = {os.path.normpath(p): i for i, p in enumerate(train["paths"])}
    id_row = {iid: i for i, iid in enumerate(train["ids"])}
    hits = []
    for line, (iid, path) in enumerate(zip(ids, paths, strict=True), start=2):
        name = _shown(os.path.relpath(path, image_dir))
        if (row := file_row.get(os.path.normpath(path))) is not None:
            hits.append(f"line {line} (id {iid}): {name} is train.json images[{row}]")
        elif (row := id_row.get(iid)) is not None:
            hits.append(f"line {line} (id {iid}): the id of train.json images[{row}]")
    if hits:
        raise CowboyDataError(
            f"{split_csv.name}: {len(hits)} listed image(s) are also training images of train.json: "
            f"{listed(hits, SHOWN_OVERLAPS, '; ')}. A picture on both sides is predicted by models that learned "
            f"its boxes; remove those rows from {split_csv.name} or those images from train.json."
        )


def rarest_class(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Per image the rarest class (by box count) among its boxes, crowd regions aside; num_classes for images
    without boxes."""
    slots = y.reshape(len(y), -1, 6)
    cls = np.where(slots[..., 4] == CROWD, np.nan, slots[..., 5])
    counts = np.array([(cls == k).sum() for k in range(num_classes)])
    rank = np.argsort(np.argsort(counts, kind="stable"), kind="stable")  # 0 = rarest
    out = np.full(len(y), num_classes)
    for i, row in enumerate(cls):
        present = np.unique(row[np.isfinite(row)]).astype(int)
        if len(present):
            out[i] = present[np.argmin(rank[present])]
    return out


CHUNKS_PER_FOLD = 4  # stratified groups per fold: the runner's seeded GroupKFold draws which ones go together


def stratified_groups(strata: np.ndarray, k: int) -> np.ndarray:
    """k groups that each hold every class, the rarest first, in proportion (one StratifiedKFold split, fixed seed).

    load() makes CHUNKS_PER_FOLD groups per fold and hands them to the runner as Data.groups: its seeded GroupKFold
    then draws which groups make up each fold, so the folds change with --seed while every fold stays stratified.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    groups = np.zeros(len(strata), dtype=np.int64)
    k = min(k, len(strata))  # fewer images than groups: one image a group, so a small set still makes its folds
    if k < 2:
        return groups
    stratify = np.unique(strata, return_counts=True)[1].max() >= k  # else no class fills the groups: at random
    splitter = StratifiedKFold(k, shuffle=True, random_state=0) if stratify else KFold(k, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class with fewer images than groups is spread as far as it goes
        for f, (_, valid) in enumerate(splitter.split(strata, strata)):
            groups[valid] = f
    return groups


def split_csv(cfg: Any, data_dir: Path) -> Path:
    """The listing of the split to predict (cfg.predict_split): test.csv or valid.csv."""
    if cfg.predict_split not in SPLITS:
        raise ContractError(f"predict_split must be one of {', '.join(SPLITS)}, got {cfg.predict_split!r}.")
    return Path(data_dir) / f"{cfg.predict_split}.csv"


def load_test(cfg: Any, data_dir: Path) -> Data:
    """The images of the split to predict alone, without train.json (X and y are None): what `predict` reads of a new
    test set, for which a folder holding the listing (test.csv, or valid.csv) and images/ is enough."""
    listing, image_dir = split_csv(cfg, data_dir), Path(data_dir) / "images"
    if missing := [f"{p.name}{'/' if p == image_dir else ''}" for p in (listing, image_dir) if not p.exists()]:
        raise CowboyDataError(
            f"{data_dir}: no {' and no '.join(missing)}; the images to predict are listed in {listing.name} "
            "(id,file_name) and kept in images/."
        )
    ids, paths, sizes = read_split(listing, image_dir)
    return Data(
        X=None,
        y=None,
        X_test=np.array(paths, dtype=object),
        test_ids=np.array(ids, dtype=object),
        sample_submission=listing,
        classes=None,
        data_dir=Path(data_dir),
        info={
            "test_sizes": sizes,
            "class_names": list(CLASS_NAMES),
            "category_ids": CATEGORY_IDS,
            "predict_split": cfg.predict_split,
        },
    )


def load(cfg: Any, data_dir: Path) -> Data:
    """Train images + packed boxes, and the images of the split to predict (cfg.predict_split, as load_test)."""
    split_csv(cfg, data_dir)  # a wrong predict_split is named before train.json is read
    data_dir = Path(data_dir)
    image_dir = data_dir / "images"
    train = read_train(data_dir / "train.json", image_dir)
    test = load_test(cfg, data_dir)
    check_overlap(train, test.sample_submission, image_dir, list(test.test_ids), list(test.X_test))
    strata = rarest_class(train["y"], len(CATEGORY_IDS))
    return dataclasses.replace(
        test,
        X=np.array(train["paths"], dtype=object),
        y=train["y"],
        groups=stratified_groups(strata, cfg.folds * CHUNKS_PER_FOLD),
        info=test.info
        | {
            "train_ids": train["ids"],
            "train_sizes": train["sizes"],
            "strata": strata,
            "boxes": train["n_boxes"],
            "crowd_boxes": train["n_crowd"],
            "clipped_boxes": train["clipped"],
        },
    )
