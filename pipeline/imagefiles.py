"""Image files listed in a competition's CSV: each must exist and be a readable image, checked before training."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.contract import ContractError


class ImageFileError(ContractError):
    """An image listed in a CSV is missing or is not a readable image."""


def check_image_files(
    root: Path, names: Sequence[str], source: str, first_line: int = 2, read_headers: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Paths root/name and their (width, height); fail naming the CSV line and the file that is missing or unreadable.

    `source` names the CSV for messages and `first_line` is the line of names[0] in it (2: after the header). Only
    headers are read (PIL opens lazily: about 0.1 ms per image), so a JPEG damaged past its header is caught later,
    when the trainer decodes it, still naming the file. read_headers=False checks existence only (sizes are 0).
    """
    root = Path(root)
    listing: dict[Path, set[str]] = {}
    missing = []
    for i, name in enumerate(names):
        rel = Path(name)
        folder = root / rel.parent
        if folder not in listing:
            listing[folder] = set(os.listdir(folder)) if folder.is_dir() else set()
        if rel.name not in listing[folder]:
            missing.append(i)
    if missing:
        i = missing[0]
        shown = ", ".join(str(names[j]) for j in missing[:5])
        raise ImageFileError(
            f"{source} line {i + first_line}: image {names[i]} not found in {root}"
            f" ({len(missing)} missing image(s) in all, first: {shown})."
        )
    paths = np.array([str(root / n) for n in names], dtype=object)
    sizes = np.zeros((len(names), 2), dtype=np.int64)
    if read_headers:
        from PIL import Image

        for i, p in enumerate(paths):
            try:
                with Image.open(p) as im:
                    sizes[i] = im.size
            except Exception as e:
                raise ImageFileError(
                    f"{source} line {i + first_line}: image {names[i]} is not a readable image "
                    f"({type(e).__name__}: {e}); replace the file or remove its row."
                ) from None
    return paths, sizes
