"""Generated downloads of run-length masks, in the layouts of Carvana (`img,rle_mask`, one row per image, row order),
TGS Salt (`id,rle_mask`, empty cells, column order, mask PNGs beside the images), Severstal Steel Defect
(`ImageId,ClassId,EncodedPixels`, only the masks there are, four classes; or its older `ImageId_ClassId` ids),
SIIM-ACR Pneumothorax (nested DICOM files, relative runs, a row per region) and Airbus Ship Detection (JPEGs, a row
per ship): small images of drawn shapes (ellipses and rectangles, bright on dark noise, a colour per class) whose
masks are what the image shows of the shapes, in either pixel order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.segmentation.rle import encode

Masks = dict[str, list[np.ndarray]]  # each training image's masks per class, by the image's id in the CSV


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def shape_mask(rng: np.random.Generator, height: int, width: int, kind: str) -> np.ndarray:
    """One drawn shape's mask: an ellipse or a rectangle, a quarter to a half of the image's sides, anywhere in it."""
    h, w = int(rng.integers(height // 4, height // 2 + 1)), int(rng.integers(width // 4, width // 2 + 1))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    mask = np.zeros((height, width), np.uint8)
    if kind == "rectangle":
        mask[top : top + h, left : left + w] = 1
        return mask
    yy, xx = np.mgrid[:height, :width]
    inside = ((yy - top - h / 2 + 0.5) / (h / 2)) ** 2 + ((xx - left - w / 2 + 0.5) / (w / 2)) ** 2 <= 1
    mask[inside] = 1
    return mask


# each class's colour (RGB, less up to 20 per channel): white, then red, green, blue; told apart by hue, which the
# recipe's brightness/contrast augmentation keeps (shades of one grey 40 apart it shifts into each other)
COLOURS = ((255, 255, 255), (255, 70, 70), (70, 255, 70), (70, 70, 255))


def drawn(
    rng: np.random.Generator, height: int, width: int, classes: int, p_empty: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """An RGB image of dark noise and each class's mask: class k, where present, a bright shape of its own colour
    (COLOURS; an ellipse for class 0, rectangles after); a class is absent with probability p_empty. A later class is
    drawn over an earlier one, and the earlier mask loses those pixels: each mask is what the image shows of it."""
    if classes > len(COLOURS):
        raise ValueError(f"drawn: at most {len(COLOURS)} classes, got {classes}.")
    img = rng.integers(0, 50, (height, width, 3)).astype(np.uint8)
    masks: list[np.ndarray] = []
    for k in range(classes):
        if rng.random() < p_empty:
            masks.append(np.zeros((height, width), np.uint8))
            continue
        mask = shape_mask(rng, height, width, "ellipse" if k == 0 else "rectangle")
        img[mask > 0] = np.array(COLOURS[k]) - rng.integers(0, 20, (int(mask.sum()), 3))
        for earlier in masks:
            earlier[mask > 0] = 0
        masks.append(mask)
    return img, masks


def images(
    folder: Path, prefix: str, n: int, seed: int, size: tuple[int, int], classes: int = 1, p_empty: float = 0.2
) -> dict[str, list[np.ndarray]]:
    """n images written as folder/<id>.png (size: height, width); each id's masks per class."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        img, masks = drawn(rng, *size, classes, p_empty)
        key = f"{prefix}{i:03d}{rng.integers(0, 1 << 16):04x}"
        _write_png(folder / f"{key}.png", img)
        out[key] = masks
    return out


def carvana_download(root: Path, n_train: int = 32, n_test: int = 8, order: str = "row") -> tuple[Path, Masks]:
    """Carvana's layout: train/ and test/ of images named with their suffix in the CSVs ("<id>.png"), 40x64 (not
    square), train_masks.csv `img,rle_mask` listing every image with its mask, sample_submission.csv
    `img,rle_mask` of "1 1". Returns the folder and the training masks."""
    train = images(root / "train", "c", n_train, 0, (40, 64), p_empty=0.0)
    test = images(root / "test", "d", n_test, 1, (40, 64))
    lines = ["img,rle_mask", *(f"{k}.png,{encode(m[0], order)}" for k, m in train.items())]
    (root / "train_masks.csv").write_text("\n".join(lines) + "\n")
    (root / "sample_submission.csv").write_text("img,rle_mask\n" + "".join(f"{k}.png,1 1\n" for k in test))
    return root, {f"{k}.png": m for k, m in train.items()}


def tgs_download(
    root: Path, n_train: int = 40, n_test: int = 8, order: str = "column", size: int = 48
) -> tuple[Path, Masks]:
    """TGS Salt's layout: train/images/ and train/masks/ (the masks as PNGs too), test/images/, train.csv
    `id,rle_mask` with an empty cell for an image with no salt, depths.csv `id,z`, sample_submission.csv
    `id,rle_mask` of "1 1"; square images."""
    train = images(root / "train" / "images", "s", n_train, 2, (size, size), p_empty=0.3)
    test = images(root / "test" / "images", "u", n_test, 3, (size, size))
    for key, masks in train.items():
        _write_png(root / "train" / "masks" / f"{key}.png", masks[0] * 255)
    lines = ["id,rle_mask", *(f"{k},{encode(m[0], order)}" for k, m in train.items())]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    depths = [f"{k},{100 + i}" for i, k in enumerate([*train, *test])]
    (root / "depths.csv").write_text("id,z\n" + "\n".join(depths) + "\n")
    (root / "sample_submission.csv").write_text("id,rle_mask\n" + "".join(f"{k},1 1\n" for k in test))
    return root, train


def severstal_download(
    root: Path, n_train: int = 32, n_test: int = 6, order: str = "column", old: bool = False
) -> tuple[Path, Masks]:
    """Severstal's layout: train_images/ and test_images/ of 32x128 images (ids with their suffix), four classes.
    train.csv `ImageId,ClassId,EncodedPixels` lists only the masks there are (images with none not at all),
    sample_submission.csv `ImageId,EncodedPixels,ClassId` one row per image and class; `old`: both CSVs
    `ImageId_ClassId,EncodedPixels`, every (image, class) a row, "<image>_<class>"."""
    train = images(root / "train_images", "f", n_train, 4, (32, 128), classes=4, p_empty=0.6)
    test = images(root / "test_images", "g", n_test, 5, (32, 128), classes=4)
    if old:
        lines = ["ImageId_ClassId,EncodedPixels"]
        lines += [f"{k}.png_{c + 1},{encode(m, order)}" for k, ms in train.items() for c, m in enumerate(ms)]
        sample = ["ImageId_ClassId,EncodedPixels", *(f"{k}.png_{c},1 1" for k in test for c in range(1, 5))]
    else:
        lines = ["ImageId,ClassId,EncodedPixels"]
        lines += [f"{k}.png,{c + 1},{encode(m, order)}" for k, ms in train.items() for c, m in enumerate(ms) if m.any()]
        sample = ["ImageId,EncodedPixels,ClassId", *(f"{k}.png,1 1,{c}" for k in test for c in range(1, 5))]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    (root / "sample_submission.csv").write_text("\n".join(sample) + "\n")
    return root, {f"{k}.png": m for k, m in train.items()}


def write_gray_dcm(path: Path, gray: np.ndarray) -> None:
    """An 8-bit MONOCHROME2 DICOM file of a grey image, no window: read as stored (pipeline/dicom.py)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.set_pixel_data(np.ascontiguousarray(gray, dtype=np.uint8), "MONOCHROME2", 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def siim_images(
    folder: Path, n: int, seed: int, size: int, p_empty: float
) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """n grey DICOM images, each at folder/<study>/<series>/<id>.dcm as SIIM nests them (ids of dotted numbers), dark
    noise with up to three bright regions (none with probability p_empty); each id's regions and their union."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        key = f"1.2.276.0.7230010.3.1.4.{seed}.{i}.{rng.integers(1 << 20)}"
        img = rng.integers(0, 60, (size, size)).astype(np.uint8)
        regions = [] if rng.random() < p_empty else [shape_mask(rng, size, size, "ellipse")]
        regions += [shape_mask(rng, size, size, "rectangle") for _ in range(int(rng.integers(0, 3)) if regions else 0)]
        union = np.zeros((size, size), np.uint8)
        for region in regions:
            union |= region
        img[union > 0] = 200 + rng.integers(0, 40, int(union.sum()))
        write_gray_dcm(folder / f"{key}.1" / f"{key}.2" / f"{key}.dcm", img)
        out[key] = (regions, union)
    return out


def siim_download(
    root: Path, n_train: int = 40, n_test: int = 8, size: int = 64, p_empty: float = 0.5, seed: int = 6
) -> tuple[Path, dict[str, np.ndarray]]:
    """SIIM-ACR Pneumothorax's layout: dicom-images-train/ and dicom-images-test/ of nested DICOM files, train-rle.csv
    `ImageId, EncodedPixels` (the leading space as Kaggle shipped it) of relative column-wise runs, one row per region
    (an image of several regions on several rows, an image of none on one row of " -1"), and
    stage_2_sample_submission.csv `ImageId,EncodedPixels` of "-1". Returns the folder and each training image's mask
    (the union of its regions)."""
    train = siim_images(root / "dicom-images-train", n_train, seed, size, p_empty)
    test = siim_images(root / "dicom-images-test", n_test, seed + 1, size, p_empty)
    lines = ["ImageId, EncodedPixels"]
    for key, (regions, _) in train.items():
        lines += [f"{key}, {encode(r, 'column', 'relative')}" for r in regions] or [f"{key}, -1"]
    (root / "train-rle.csv").write_text("\n".join(lines) + "\n")
    sample = ["ImageId,EncodedPixels", *(f"{k},-1" for k in test)]
    (root / "stage_2_sample_submission.csv").write_text("\n".join(sample) + "\n")
    return root, {k: union for k, (_, union) in train.items()}


def ships(
    rng: np.random.Generator, size: int, most: int = 3, touching: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """An RGB image of dark noise and 0 to `most` bright rectangles ("ships"), one in each of up to 4 quadrants of
    its own, two pixels clear of the quadrant's edges, so that no two ships touch; each ship's mask. `touching`: the
    first rectangle, where 6 rows or more, is two ships moored side by side, its top half and its bottom half (the
    bottom one dimmer, so that the seam shows), the random draws as without."""
    img = rng.integers(0, 50, (size, size, 3)).astype(np.uint8)
    half = size // 2
    quadrants = rng.permutation(4)[: int(rng.integers(0, most + 1))]
    out = []
    for q in quadrants:
        h, w = int(rng.integers(4, half - 6)), int(rng.integers(4, half - 6))
        top = (q // 2) * half + 2 + int(rng.integers(0, half - 4 - h + 1))
        left = (q % 2) * half + 2 + int(rng.integers(0, half - 4 - w + 1))
        mask = np.zeros((size, size), np.uint8)
        mask[top : top + h, left : left + w] = 1
        img[mask > 0] = 235 - rng.integers(0, 20, (int(mask.sum()), 3))
        if touching and not out and h >= 6:
            twin = np.zeros_like(mask)
            twin[top + h // 2 : top + h, left : left + w] = 1
            mask[twin > 0] = 0
            img[twin > 0] -= 90
            out.append(twin)
        out.append(mask)
    return img, out


def airbus_download(
    root: Path,
    n_train: int = 40,
    n_test: int = 8,
    size: int = 64,
    seed: int = 8,
    touching: bool = False,
    test_ships: dict[str, list[np.ndarray]] | None = None,
) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """Airbus Ship Detection's layout: train_v2/ and test_v2/ of JPEGs ("<id>.jpg", the suffix in the CSVs),
    train_ship_segmentations_v2.csv `ImageId,EncodedPixels` of absolute column-wise runs, one row per ship (an image
    of none on one row of an empty cell), and sample_submission_v2.csv `ImageId,EncodedPixels` listing each test image
    once with an empty cell. `touching`: most images with ships have two that touch (`ships`). Returns the folder and
    each training image's ships; `test_ships`, given, is filled with each test image's."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    lines, train = ["ImageId,EncodedPixels"], {}
    for folder, n in (("train_v2", n_train), ("test_v2", n_test)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, masks = ships(rng, size, touching=touching)
            key = f"{folder[:2]}{i:03d}{int(rng.integers(0, 1 << 16)):04x}.jpg"
            Image.fromarray(img).save(root / folder / key, quality=95)
            if folder == "test_v2" and test_ships is not None:
                test_ships[key] = masks
            if folder == "train_v2":
                train[key] = masks
                lines += [f"{key},{encode(m, 'column')}" for m in masks] or [f"{key},"]
    (root / "train_ship_segmentations_v2.csv").write_text("\n".join(lines) + "\n")
    tests = sorted((root / "test_v2").iterdir())
    (root / "sample_submission_v2.csv").write_text("ImageId,EncodedPixels\n" + "".join(f"{p.name},\n" for p in tests))
    return root, train
