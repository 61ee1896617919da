"""How close the fine-tuning recipes' evaluation resize comes to the antialiased resize pretrained weights saw.

    python benchmarks/resize_fidelity.py [--photos 200]

timm's and torchvision's pretrained weights were trained and scored on images resized by PIL, which averages the
pixels it shrinks (antialiased, bicubic for most timm models). Each recipe's evaluation transform, run on `--photos`
generated 500x375 JPEGs (a typical dog-breeds photo) and, for leaves, 224x224 ones (Kaggle's leaf images), is compared
with the same resize done by PIL (shorter side, or both sides for leaves, to image_size, bicubic; then the same
centre crop): PSNR in dB over all pixels, higher is closer. "bilinear" is the same transform with its
`area_for_downscale` set to None (cv2's INTER_LINEAR, which samples 4 pixels whatever the scale), "area" the recipes'
setting (INTER_AREA when shrinking). The figures are deterministic; they go to benchmarks/figures/resize_fidelity.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photo_epochs import write_photos  # noqa: E402


def pil_reference(image: np.ndarray, size: int, shorter_side: bool) -> np.ndarray:
    """PIL's antialiased bicubic resize (what torchvision's Resize does to a PIL image), then the centre crop."""
    from PIL import Image

    h, w = image.shape[:2]
    if shorter_side:
        scale = size / min(h, w)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
    else:
        new = (size, size)
    out = np.asarray(Image.fromarray(image).resize(new, Image.BICUBIC))
    top, left = (out.shape[0] - size) // 2, (out.shape[1] - size) // 2
    return out[top : top + size, left : left + size]


def psnr(transform: Any, images: list[np.ndarray], size: int, shorter_side: bool) -> float:
    errors = [
        np.mean((transform(image=im)["image"].astype(float) - pil_reference(im, size, shorter_side)) ** 2)
        for im in images
    ]
    return float(10 * np.log10(255.0**2 / np.mean(errors)))


def bilinear(transform: Any) -> Any:
    """The same Compose with every resize's INTER_AREA switched off (what the recipes did before)."""
    import copy

    out = copy.deepcopy(transform)
    for t in out.transforms:
        if hasattr(t, "area_for_downscale"):
            t.area_for_downscale = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    import competitions.dog_breeds as dogs
    import competitions.leaves as leaves
    from pipeline.vision.data import read_image

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = [read_image(p) for p in write_photos(Path(tmp) / "dogs", args.photos)]
        leaf_images = [read_image(p) for p in write_photos(Path(tmp) / "leaves", args.photos, (224, 224))]
        cases = [
            ("dog_breeds", "default", dogs, {}, photos, True),
            ("dog_breeds", "cpu", dogs, dogs.PRESETS["cpu"], photos, True),
            ("leaves", "cpu", leaves, leaves.PRESETS["cpu"], leaf_images, False),
        ]
        for name, preset, module, overrides, images, shorter in cases:
            cfg = module.Config(**{k: v for k, v in overrides.items() if k in module.Config.__dataclass_fields__})
            transform = module.transforms(cfg, train=False)
            row = {"competition": name, "preset": preset, "image_size": cfg.image_size}
            row |= {"bilinear": psnr(bilinear(transform), images, cfg.image_size, shorter)}
            row |= {"area": psnr(transform, images, cfg.image_size, shorter)}
            rows.append(row)
            size = f"{name} {preset} ({cfg.image_size} px)"
            print(f"{size}: bilinear {row['bilinear']:.1f} dB, area {row['area']:.1f} dB")
    from benchutil import save

    save("resize_fidelity", f"python benchmarks/resize_fidelity.py --photos {args.photos}", {"rows": rows})


if __name__ == "__main__":
    main()
