"""COCO mAP evaluation time: the framework (packed arrays -> pycocotools in memory) against pycocotools called the
usual way (COCO json files -> COCO, loadRes, COCOeval), on the same synthetic boxes; the two mAPs must agree.

    python benchmarks/cowboy_eval.py --images 1000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.detection.boxes import pack, unpack  # noqa: E402
from pipeline.detection.metric import coco_eval  # noqa: E402

CATS = [87, 131, 318, 588, 1034]


def synthetic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n images of ~6 true boxes; predictions: jittered true boxes plus false positives, 100 per image."""
    tb, ts, tc, pb, ps, pc = [], [], [], [], [], []
    for _ in range(n):
        m = int(rng.integers(1, 12))
        b = np.column_stack([rng.uniform(0, 800, (m, 2)), rng.uniform(10, 300, (m, 2))])
        c = rng.integers(0, 5, m)
        tb.append(b), ts.append(np.ones(m)), tc.append(c)
        k = 100 - m
        fp = np.column_stack([rng.uniform(0, 800, (k, 2)), rng.uniform(10, 300, (k, 2))])
        pb.append(np.vstack([b + rng.normal(0, 6, b.shape), fp]))
        ps.append(np.concatenate([rng.uniform(0.3, 1, m), rng.uniform(0, 0.6, k)]))
        pc.append(np.concatenate([c, rng.integers(0, 5, k)]))
    return pack(tb, ts, tc), pack(pb, ps, pc, 100)


def direct(y: np.ndarray, pred: np.ndarray, folder: Path) -> tuple[float, float]:
    """Write COCO files with large image ids and the original category ids, then evaluate them with pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    base = 7_000_000_000_000_000_000  # large ids, as in the real train.json
    images, anns, dets = [], [], []
    for i, (ry, rp) in enumerate(zip(y, pred, strict=True)):
        images.append({"id": base + i, "file_name": f"{i}.jpg", "width": 1100, "height": 1100})
        for b, _, c in zip(*unpack(ry), strict=True):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": base + i,
                    "category_id": CATS[c],
                    "bbox": b.tolist(),
                    "area": float(b[2] * b[3]),
                    "iscrowd": 0,
                }
            )
        for b, s, c in zip(*unpack(rp), strict=True):
            dets.append({"image_id": base + i, "category_id": CATS[c], "bbox": b.tolist(), "score": float(s)})
    (folder / "gt.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": c} for c in CATS]})
    )
    (folder / "dt.json").write_text(json.dumps(dets))
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(folder / "gt.json"))
        ev = COCOeval(gt, gt.loadRes(str(folder / "dt.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return time.perf_counter() - t0, float(ev.stats[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    y, pred = synthetic(args.images, np.random.default_rng(0))
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            m = coco_eval(y, pred, 5)["mAP"]
            ours.append(time.perf_counter() - t0)
            s, m_direct = direct(y, pred, Path(tmp))
            theirs.append(s)
    print(
        json.dumps(
            {
                "images": args.images,
                "detections": int(np.isfinite(pred[:, 4::6]).sum()),
                "framework_s_median": round(float(np.median(ours)), 3),
                "pycocotools_files_s_median": round(float(np.median(theirs)), 3),
                "mAP_framework": m,
                "mAP_pycocotools": m_direct,
                "equal": abs(m - m_direct) < 1e-12,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
