"""Models, the metric, and the detection blend: WBF over fold models (merge_folds) and over models (blend, whose
chosen weights apply_blend applies again to a new test set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from competitions.cowboy_outfits.config import Config
from competitions.cowboy_outfits.data import CLASS_NAMES
from pipeline.contract import ContractError
from pipeline.detection.metric import coco_eval, coco_map
from pipeline.detection.wbf import fuse_rows
from pipeline.detection.wbf import merge_folds as _merge_folds


def _wbf_iou(cfg: Config | None) -> float:
    """The fusion IoU of the run's Config (the runner passes it to the hooks); the default's when called without."""
    return (cfg or Config()).wbf_iou


def models(cfg: Any) -> dict[str, Any]:
    """One Detector per arch named in cfg.models, sharing the training recipe."""
    from pipeline.detection.estimator import Detector
    from pipeline.detection.models import ARCHS

    unknown = [m for m in cfg.models if m not in ARCHS]
    if unknown:
        raise ContractError(f"Unknown model(s) {', '.join(unknown)} in models. Valid: {', '.join(ARCHS)}.")
    if cfg.pretrained_file and not Path(cfg.pretrained_file).expanduser().is_file():
        raise ContractError(f"pretrained_file {cfg.pretrained_file}: no such file.")
    return {
        arch: Detector.from_config(cfg, arch=arch, num_classes=len(CLASS_NAMES), class_names=CLASS_NAMES)
        for arch in cfg.models
    }


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


def merge_folds(tests: list[np.ndarray], cfg: Config | None = None) -> np.ndarray:
    """The fold models' test boxes fused by WBF (the runner's hook instead of averaging arrays)."""
    return _merge_folds(tests, iou_thr=_wbf_iou(cfg))


def apply_blend(weights: dict[str, float], tests: dict[str, np.ndarray], cfg: Config | None = None) -> np.ndarray:
    """The blend's test boxes from the weights `blend` chose (blend.json's, which `predict` applies to a new test set
    without the training boxes): the one model weighted 1, or the WBF of the models weighted alike."""
    used = [n for n, w in weights.items() if w > 0]
    if not used or len({weights[n] for n in used}) > 1:
        raise ContractError(f"blend weights {weights}: the WBF blend keeps one model or weights its models alike.")
    if len(used) == 1:
        return tests[used[0]]
    return fuse_rows([tests[n] for n in used], iou_thr=_wbf_iou(cfg))


def blend(
    oofs: dict[str, np.ndarray],
    tests: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    cfg: Config | None = None,
) -> dict:
    """WBF of all models when it beats the best single model on OOF mAP, else the best single model."""
    iou = _wbf_iou(cfg)
    mask = folds >= 0
    names = list(oofs)
    single = {n: score(y[mask], oofs[n][mask]) for n in names}
    best = max(single, key=lambda n: single[n])
    out = {"best_single": best, "best_single_score": single[best], "oof_scores": single}
    if len(names) == 1:
        return out | {
            "weights": {best: 1.0},
            "oof": oofs[best],
            "test": apply_blend({best: 1.0}, tests, cfg),
            "score": single[best],
            "equal_score": single[best],
        }
    fused = fuse_rows([oofs[n][mask] for n in names], iou_thr=iou)
    fused_oof = np.full((len(y), fused.shape[1]), np.nan)
    fused_oof[mask] = fused
    equal = score(y[mask], fused)
    if equal >= single[best]:
        weights = {n: 1 / len(names) for n in names}
        return out | {
            "weights": weights,
            "oof": fused_oof,
            "equal_score": equal,
            "test": apply_blend(weights, tests, cfg),
            "score": equal,
        }
    weights = {n: float(n == best) for n in names}
    return out | {
        "weights": weights,
        "oof": oofs[best],
        "test": apply_blend(weights, tests, cfg),
        "score": single[best],
        "equal_score": equal,
    }


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
