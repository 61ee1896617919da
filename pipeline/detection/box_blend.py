"""The detection runs' hooks after the fold models, for any competition of boxes: the fold models' test boxes fused
by WBF (merge_folds), and the blend of several detectors (blend: WBF of them all when it beats the best one out of
fold, else the best one; apply_blend: the chosen weights applied to new test boxes, for `predict`). A box fused below
the Config's min_score (a box that some of the fused models did not find) is not predicted, as no model predicts one
(Detector.min_score).

With Config.fit_min_score (`fits_cut`) the cut is fitted after the blend instead (box_cut.py): the detectors predict
every box down to their score_thresh, merge_folds and apply_blend keep them all, and the blend is chosen, and its
boxes cut, at min_score, the answer the fitted cut must beat out of fold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.contract import ContractError
from pipeline.detection.boxes import drop_below
from pipeline.detection.wbf import fuse_rows
from pipeline.detection.wbf import merge_folds as wbf_merge

Score = Callable[[np.ndarray, np.ndarray], float]


def _iou(cfg: Any) -> float:
    return float(getattr(cfg, "wbf_iou", 0.55))


def fits_cut(cfg: Any) -> bool:
    """Whether the run fits its confidence cut out of fold after the blend (Config.fit_min_score, box_cut.py)."""
    return bool(getattr(cfg, "fit_min_score", False))


def cut(arr: np.ndarray, cfg: Any) -> np.ndarray:
    """Packed boxes less those below cfg.min_score (none cut without one); the width kept."""
    return drop_below(arr, float(getattr(cfg, "min_score", 0.0) or 0.0))


def _hook_cut(arr: np.ndarray, cfg: Any) -> np.ndarray:
    """The cut merge_folds and apply_blend make: at cfg.min_score, none when the cut is fitted after the blend."""
    return np.atleast_2d(np.asarray(arr, float)) if fits_cut(cfg) else cut(arr, cfg)


def merge_folds(tests: list[np.ndarray], cfg: Any = None) -> np.ndarray:
    """The fold models' test boxes fused by WBF (at cfg.wbf_iou), then cut at cfg.min_score (unless fitted later)."""
    return _hook_cut(wbf_merge(tests, iou_thr=_iou(cfg)), cfg)


def apply_blend(weights: dict[str, float], tests: dict[str, np.ndarray], cfg: Any = None) -> np.ndarray:
    """The blend's test boxes from the weights `blend` chose: the one model weighted 1, or the WBF of the models
    weighted alike (cut at cfg.min_score unless the cut is fitted later, which cuts them then)."""
    used = [n for n, w in weights.items() if w > 0]
    if not used or len({weights[n] for n in used}) > 1:
        raise ContractError(f"blend weights {weights}: the WBF blend keeps one model or weights its models alike.")
    if len(used) == 1:
        return tests[used[0]]
    return _hook_cut(fuse_rows([tests[n] for n in used], iou_thr=_iou(cfg)), cfg)


def blend(
    oofs: dict[str, np.ndarray],
    tests: dict[str, np.ndarray],
    y: np.ndarray,
    folds: np.ndarray,
    score: Score,
    cfg: Any = None,
) -> dict[str, Any]:
    """WBF of all models when it scores at least the best single model on the OOF rows (`score`: the competition's,
    greater is better), else the best single model; each scored, and the chosen one's boxes cut, at cfg.min_score."""
    mask = folds >= 0
    names = list(oofs)
    single = {n: float(score(y[mask], cut(oofs[n][mask], cfg))) for n in names}
    best = max(single, key=lambda n: single[n])
    out = {"best_single": best, "best_single_score": single[best], "oof_scores": single}
    chosen, oof, value = {best: 1.0}, oofs[best], single[best]
    equal = value
    if len(names) > 1:
        fused = cut(fuse_rows([oofs[n][mask] for n in names], iou_thr=_iou(cfg)), cfg)
        equal = float(score(y[mask], fused))
        if equal >= single[best]:
            chosen, value = dict.fromkeys(names, 1 / len(names)), equal
            oof = np.full((len(y), fused.shape[1]), np.nan)
            oof[mask] = fused
        else:
            chosen = {n: float(n == best) for n in names}
    test = apply_blend(chosen, tests, cfg)
    if fits_cut(cfg):  # the detectors' boxes down to their floor: the blend's answer is at min_score all the same
        oof, test = cut(oof, cfg), cut(test, cfg)
    return out | {"weights": chosen, "oof": oof, "test": test, "score": value, "equal_score": equal}
