"""Models, the metric and the plots of CowBoy Outfits; the detection blend is pipeline/detection/box_blend.py's, scored
by this competition's COCO mAP: WBF over fold models (merge_folds) and over models (blend, whose chosen weights
apply_blend applies again to a new test set), boxes below the Config's min_score (0: none) dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from competitions.cowboy_outfits.config import Config
from competitions.cowboy_outfits.data import CLASS_NAMES
from pipeline.detection import box_blend
from pipeline.detection.estimator import detectors
from pipeline.detection.metric import coco_eval, coco_map

# the hooks after the fold models, any detection competition's (box_blend.py): WBF of the fold models' test boxes, and
# the blend's saved weights applied to new test boxes (predict)
merge_folds, apply_blend = box_blend.merge_folds, box_blend.apply_blend


def models(cfg: Any) -> dict[str, Any]:
    """One Detector of the five classes per arch named in cfg.models, sharing the training recipe."""
    return detectors(cfg, CLASS_NAMES)


def search_space(trial: Any) -> dict[str, Any]:
    """Config overrides for Optuna: optimisation, augmentation strength and the fusion IoU."""
    return {
        "lr": trial.suggest_float("lr", 0.002, 0.04, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-3, log=True),
        "scale": trial.suggest_float("scale", 0.0, 0.4),
        "color": trial.suggest_float("color", 0.0, 0.8),
        "wbf_iou": trial.suggest_float("wbf_iou", 0.4, 0.7),
    }


def score(y_true: np.ndarray, pred: np.ndarray) -> float:
    """COCO mAP@[.5:.95] with pycocotools, the CodaLab leaderboard metric."""
    return coco_map(y_true, pred)


def blend(
    oofs: dict[str, np.ndarray],
    tests: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    cfg: Config | None = None,
) -> dict[str, Any]:
    """WBF of all models when it scores at least the best single model on OOF mAP, else the best single model."""
    return box_blend.blend(oofs, tests, y, folds, score, cfg)


def plots(run_dir: Path, data: Any, y: np.ndarray, folds: np.ndarray, oof: np.ndarray) -> None:
    """Per-class AP of the (blended) OOF predictions and a few validation images (for a runner plots hook)."""
    from pipeline.detection import plots as dplots

    mask = np.flatnonzero(folds >= 0)
    res = coco_eval(y[mask], oof[mask], len(CLASS_NAMES))
    out = Path(run_dir) / "plots"
    dplots.per_class_ap(
        res["per_class"],
        res["per_class_ap50"],
        CLASS_NAMES,
        out / "ap_per_class.png",
        title=f"OOF: mAP {res['mAP']:.3f}, AP50 {res['AP50']:.3f}",
    )
    dplots.examples([data.X[i] for i in mask[:4]], y[mask[:4]], oof[mask[:4]], CLASS_NAMES, out / "examples.png")
