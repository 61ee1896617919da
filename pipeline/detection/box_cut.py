"""The confidence below which a detection run submits no box, fitted out of fold (Config.fit_min_score): Kaggle's IoU
metric (iou_map.py) counts every box submitted, so where the cut lies matters, and Global Wheat's winners tuned it.

With the option on, the detectors predict every box down to their own floor (score_thresh) and the hooks after the
fold models keep them all (box_blend.py); the blend is chosen, and its boxes cut, at the Config's min_score. This
stage then takes the blend's boxes before that cut (the competition's apply_blend of the chosen weights) and scores
every candidate cut (CANDIDATES and min_score) on every image at once (iou_map.cut_scores). The cut fitted on all
scored rows cuts the test boxes; the score reported is out of fold, as every cut's (pipeline/cutpoints.py): each
nested group's rows (the blend's nested parts) are blended with that group's weights and cut at the cut that scores
best on the other groups' rows. The fitted cut replaces min_score only when that out-of-fold score beats the blend's
own at min_score; otherwise the boxes stay cut at min_score. threshold.json records the fit either way (the fitted
cut's score on the rows it was fitted on too, "in_sample_score", to show how much fitting there flatters it) and
stages.json the cut applied, always: `predict` blends new test boxes without a cut and cuts them there
(`apply_saved`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.contract import ContractError, competition_hook
from pipeline.detection.boxes import drop_below
from pipeline.detection.iou_map import THRESHOLDS, cut_scores

CANDIDATES = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05, 0.1, ... 0.95, and the Config's min_score
KIND = "box_cut"  # stages.json's and threshold.json's name of this cut


def thresholds_of(metric: str) -> tuple[float, ...]:
    """The IoU thresholds of Kaggle's metric `metric`; a metric that is not one cannot have its cut fitted here."""
    if metric not in THRESHOLDS:
        raise ContractError(
            f"Config.fit_min_score fits the confidence cut for Kaggle's IoU metric ({', '.join(THRESHOLDS)}), which "
            f"counts every box submitted; this competition's metric is {metric}: set fit_min_score false."
        )
    return THRESHOLDS[metric]


def candidates(configured: float) -> np.ndarray:
    """The cuts tried: CANDIDATES and the configured one, nearest it first (ties go to it, then to its neighbours)."""
    cuts = np.unique(np.array([*CANDIDATES, configured], dtype=float))
    return cuts[np.argsort(np.abs(cuts - configured), kind="stable")]


def best_cut(table: np.ndarray, rows: np.ndarray) -> int:
    """The column of `table` (images x cuts, cut_scores') whose mean over the counted images of `rows` is highest;
    the first among ties (candidates puts the configured cut first)."""
    part = table[np.asarray(rows, dtype=np.int64)]
    counted = ~np.isnan(part)
    means = np.where(counted.any(axis=0), np.nansum(part, axis=0) / np.maximum(counted.sum(axis=0), 1), -np.inf)
    return int(np.argmax(means))


def apply_saved(saved: dict[str, Any], test: np.ndarray) -> np.ndarray:
    """stages.json's box cut applied to new test boxes, blended without a cut (`predict`)."""
    return drop_below(test, float(saved["min_score"]))


class _Blends:
    """The run's blend of the models' boxes before any cut, per set of weights (the blend's, each nested group's),
    with every image's score at every candidate cut; each set computed once."""

    def __init__(
        self, module: Any, cfg: Any, results: dict[str, dict[str, Any]], y: np.ndarray, mask: np.ndarray
    ) -> None:
        self.blend, self.y, self.mask = blend_hook(module, cfg), y, mask
        self.oofs = {m: np.asarray(r["oof"], dtype=float) for m, r in results.items()}
        self.thresholds = thresholds_of(module.METRIC.name)
        self.cuts = candidates(float(cfg.min_score))
        self.done: dict[tuple[tuple[str, float], ...], tuple[np.ndarray, np.ndarray]] = {}

    def of(self, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """The uncut blend of these weights on every row, and its (rows x cuts) image scores (NaN: not counted)."""
        key = tuple(sorted((m, float(w)) for m, w in weights.items()))
        if key not in self.done:
            boxes = np.atleast_2d(self.blend(weights, self.oofs))
            table = np.full((len(self.y), len(self.cuts)), np.nan)
            table[self.mask] = cut_scores(self.y[self.mask], boxes[self.mask], self.cuts, self.thresholds)
            self.done[key] = boxes, table
        return self.done[key]


def blend_hook(module: Any, cfg: Any) -> Any:
    """The competition's apply_blend given the Config: the blend of the weights chosen, its boxes uncut (the option's
    apply_blend cuts none)."""
    hook = competition_hook(module, "apply_blend", cfg)
    if hook is None:
        raise ContractError("Config.fit_min_score cuts the blend's boxes, which the competition's apply_blend makes.")
    return hook


def _put(out: np.ndarray, rows: np.ndarray, part: np.ndarray) -> np.ndarray:
    """out[rows] = part, out widened with NaN columns when part is wider (packed rows of any width)."""
    if part.shape[1] > out.shape[1]:
        out = np.hstack([out, np.full((len(out), part.shape[1] - out.shape[1]), np.nan)])
    out[rows] = np.nan
    out[rows, : part.shape[1]] = part
    return out


def out_of_fold(blends: _Blends, nested: list[dict[str, Any]], oof: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """`oof` (the nested blend cut at min_score) with each nested group's rows cut at the cut fitted on the other
    groups' rows, blended with the group's own weights; and each group's cut (None: a group with no rows to fit on,
    left as it was)."""
    out, fold_cuts = np.array(oof, dtype=float), []
    for part in nested:
        if not len(part["fit"]):
            fold_cuts.append(None)
            continue
        boxes, table = blends.of(part["weights"])
        low = float(blends.cuts[best_cut(table, part["fit"])])
        out = _put(out, part["held"], drop_below(boxes[part["held"]], low))
        fold_cuts.append(low)
    return out, fold_cuts


def apply(
    module: Any,
    cfg: Any,
    y: np.ndarray,
    folds: np.ndarray,
    b: dict[str, Any],
    results: dict[str, dict[str, Any]],
    run_dir: Any,
    log: Any,
) -> dict[str, Any]:
    """`b` (the blend, its boxes cut at min_score) with its boxes cut at the fitted cut instead when that scores
    better out of fold; threshold.json records the fit, stages.json the cut applied (fitted or min_score)."""
    from pipeline.folds import scored_rows
    from pipeline.runfolder import write_predictions, write_record

    y, mask = np.asarray(y, dtype=float), scored_rows(folds)
    blends = _Blends(module, cfg, results, y, mask)
    configured = float(cfg.min_score)
    _, table = blends.of(b["weights"])
    j = best_cut(table, np.flatnonzero(mask))
    fitted = float(blends.cuts[j])
    info: dict[str, Any] = {
        "kind": KIND,
        "configured_min_score": configured,
        "fitted_min_score": fitted,
        "candidates": sorted(float(c) for c in blends.cuts),
        "score_before": float(b["score"]),
        "in_sample_score": float(np.nanmean(table[mask, j])),
        "applied": False,
    }
    nested, out = b.get("nested") or [], None
    if len(nested) < 2:
        info["reason"] = "no out-of-fold predictions to fit it on (fewer than two folds)"
    else:
        out, fold_cuts = out_of_fold(blends, nested, b["oof"])
        info |= {"score_after": float(module.score(y[mask], out[mask])), "fold_min_scores": fold_cuts}
        info["applied"] = module.METRIC.better(info["score_after"], info["score_before"])
    info["min_score"] = fitted if info["applied"] else configured  # the cut the submission's boxes are cut at
    write_record(run_dir, "threshold", info)
    stages = b.get("stages", {}) | {"threshold": {"kind": KIND, "min_score": info["min_score"]}}  # for predict
    name = module.METRIC.name
    if not info["applied"]:
        why = info.get("reason") or f"out-of-fold {name} {info['score_after']:.5f} vs {info['score_before']:.5f}"
        log(f"box cut {fitted:g} not applied: {why} at min_score {configured:g}")
        return b | {"threshold": info, "stages": stages}
    log(
        f"box cut {fitted:g} (fitted out of fold): {name} {info['score_before']:.5f} at min_score {configured:g} "
        f"-> {info['score_after']:.5f}"
    )
    test = drop_below(blends.blend(b["weights"], {m: r["test"] for m, r in results.items()}), fitted)
    write_predictions(run_dir, "_threshold", out, test)
    return b | {"oof": out, "test": test, "score": info["score_after"], "threshold": info, "stages": stages}
