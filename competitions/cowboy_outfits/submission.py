"""answer.json (a COCO detection list with the original ids) inside answer.zip, and its validator."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from competitions.cowboy_outfits.data import CATEGORIES, CATEGORY_IDS
from pipeline.contract import Data
from pipeline.detection.boxes import unpack, xywh_to_xyxy
from pipeline.submission import SubmissionError

SUBMISSION_FILE = "answer.zip"
ANSWER = "answer.json"
TOLERANCE = 1e-6  # pixels a box may reach past the border (float rounding)


def records(data: Data, pred: np.ndarray) -> list[dict[str, Any]]:
    """Packed test predictions -> COCO result records: original ids, boxes clipped to the image, scores in [0,1]."""
    pred = np.atleast_2d(np.asarray(pred, float))
    if len(pred) != len(data.test_ids):
        raise SubmissionError(f"{len(pred)} prediction rows for {len(data.test_ids)} images to predict.")
    sizes = data.info["test_sizes"]
    out = []
    for iid, row, (W, H) in zip(data.test_ids, pred, sizes, strict=True):
        boxes, scores, classes = unpack(row)
        xyxy = xywh_to_xyxy(boxes)
        xyxy[:, [0, 2]] = np.round(xyxy[:, [0, 2]].clip(0, W), 2)
        xyxy[:, [1, 3]] = np.round(xyxy[:, [1, 3]].clip(0, H), 2)
        for (x1, y1, x2, y2), s, c in zip(xyxy, scores, classes, strict=True):
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                continue  # nothing left of the box inside the image
            out.append(
                {
                    "image_id": int(iid),
                    "category_id": CATEGORY_IDS[int(c)],
                    "bbox": [float(x1), float(y1), round(float(x2 - x1), 2), round(float(y2 - y1), 2)],
                    "score": round(float(min(max(s, 0.0), 1.0)), 5),
                }
            )
    return out


def write_submission(data: Data, pred: np.ndarray, path: Path) -> None:
    """Write answer.json into the zip at `path` (the file CodaLab took)."""
    text = json.dumps(records(data, pred), separators=(",", ":"))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ANSWER, text)


def _problem(i: int, r: Any, known: dict[int, tuple[int, int]]) -> str | None:
    if not isinstance(r, dict):
        return f"expected an object, got {type(r).__name__}"
    keys = {"image_id", "category_id", "bbox", "score"}
    if set(r) != keys:
        return f"keys must be exactly {sorted(keys)}, got {sorted(r)}"
    iid, cat, box, score = r["image_id"], r["category_id"], r["bbox"], r["score"]
    if not isinstance(iid, int) or isinstance(iid, bool) or iid not in known:
        return f"image_id {iid!r} is not an image of the split predicted"
    if cat not in CATEGORIES or isinstance(cat, bool):
        return f"category_id {cat!r} is not one of {CATEGORY_IDS}"
    if not (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in box)
    ):
        return f"bbox must be 4 finite numbers [x, y, w, h], got {box!r}"
    x, y, w, h = box
    W, H = known[iid]
    if w <= 0 or h <= 0 or x < -TOLERANCE or y < -TOLERANCE or x + w > W + TOLERANCE or y + h > H + TOLERANCE:
        return f"bbox {box} is not a box inside the {W}x{H} image {iid}"
    if not isinstance(score, int | float) or isinstance(score, bool) or not (0.0 <= score <= 1.0):
        return f"score {score!r} is not a number in [0, 1]"
    return None


def validate(data: Data, path: Path) -> int:
    """Check the zip: answer.json at its root, a list of records with known ids, the five categories, boxes inside
    their image, scores in [0, 1]. Returns the number of records."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            if ANSWER not in zf.namelist():
                raise SubmissionError(f"{path.name}: no {ANSWER} at the root of the zip (members: {zf.namelist()}).")
            doc = json.loads(zf.read(ANSWER))
    except (zipfile.BadZipFile, OSError) as e:
        raise SubmissionError(f"{path.name}: not a readable zip ({e}).") from None
    except json.JSONDecodeError as e:
        raise SubmissionError(f"{path.name}: {ANSWER} is not valid JSON ({e}).") from None
    if not isinstance(doc, list):
        raise SubmissionError(f"{path.name}: {ANSWER} must be a JSON list of detections, got {type(doc).__name__}.")
    if not doc:
        raise SubmissionError(
            f"{path.name}: {ANSWER} is an empty list: no detections at all (the COCO scorer cannot score it); "
            "was the prediction step skipped?"
        )
    known = {int(i): (int(w), int(h)) for i, (w, h) in zip(data.test_ids, data.info["test_sizes"], strict=True)}
    problems = [(i, p) for i, r in enumerate(doc) if (p := _problem(i, r, known)) is not None]
    if problems:
        shown = "; ".join(f"record {i}: {p}" for i, p in problems[:5])
        raise SubmissionError(f"{path.name}/{ANSWER}: {len(problems)} invalid record(s): {shown}.")
    return len(doc)
