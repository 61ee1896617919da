"""The mask cut of a segmentation run fitted out of fold (Config.fit_mask_cut): per class, the probability above which
a pixel is in and the area under which a predicted mask is dropped, as Severstal's and Carvana's winners tuned them.

Mean Dice scores every (image, class) pair and an empty truth with an empty prediction scores 1, so a few stray
pixels on an image without the class cost a whole pair: the cut matters. With the option on, this stage takes the
blend's out-of-fold probabilities and scores, per class, every candidate cut: the thresholds THRESHOLDS and the
Config's mask_threshold, times the minimum areas 0, the Config's min_area and the AREA_PERCENTILES of the training
masks' non-empty areas (pixels of the original image, as min_area is; the Config's min_area is a floor, since the
submission drops masks under it whatever the fit). Each candidate's Dice on every (image, class) pair comes from one
pass over the probabilities (`counts`: per pair and threshold, the pixels above it and those of them in the truth),
so the search is fast on thousands of images. Each class's cut is the one whose mean Dice is highest (mean Dice is
the mean of the classes', so the classes are fitted apart).

A competition of instances (one class: metric f2_iou, Airbus; ap_iou, Sartorius) is fitted alike to its mean F2 or
AP over IoU thresholds (object_cut.py): min_area is then each object's (connected component's) floor, as the score
and the submission apply it, its candidates the percentiles of the training objects' areas (the components of the
truth), and each image's score at every candidate comes from labelling its components once per threshold (every
min_area a filter over their areas and IoUs with the true objects). A stray small object costs a whole false
positive, and any predicted pixel on an empty image scores it 0, so the cut matters more than for Dice.

The score reported is out of fold, as every cut's (pipeline/cutpoints.py): each nested group's rows of the blend are
cut at the cut fitted on the other groups' rows. The fitted cut is applied only when that score beats the blend's at
the Config's cut; threshold.json records both cuts, the out-of-fold scores and the fitted cut's score on the rows it
was fitted on ("in_sample_score", to show how much fitting there flatters it); stages.json records the cut applied
(the Config's when the fit lost), which `predict` applies to new test probabilities (`apply_saved`).

How the cut is applied (`remap`): the predictions stay probabilities, so the competition's score and
write_submission, which cut at Config.mask_threshold and drop masks under Config.min_area, work unchanged and
predict, ensemble and the report read the same arrays as without the option. Each class's probabilities are mapped
monotonically, piecewise linearly, so that Config.mask_threshold falls where the fitted threshold was (a pixel is
above the Config's threshold after the map exactly where it was above the fitted one before), and a class's map on
an image whose mask at the fitted threshold is smaller than the fitted min_area is zeroed (instances: the pixels of
each object smaller than it; stages.json keeps the grid they were labelled at). With the recipe's `touching` the rows
carry the contact map after the mask: the objects are split at it (instances.label_objects), the map is not cut and
travels unchanged (stages.json records "contact"). At the grid the cut masks (the
objects) are then exactly the fitted cut's; write_submission's bilinear resize to each image's size interpolates the
mapped probabilities, which moves a mask's outline by less than a grid pixel where the map bends at the threshold.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pipeline.contract import ContractError, competition_hook
from pipeline.segmentation.instances import METRICS as INSTANCE_METRICS
from pipeline.segmentation.metric import as_masks
from pipeline.segmentation.object_cut import object_areas, score_table, small_objects

KIND = "mask_cut"  # stages.json's and threshold.json's name of this cut
# the segmentation metrics whose cut this fits (f2_iou and ap_iou: per object, object_cut.py)
METRICS = ("dice", *INSTANCE_METRICS)
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(13))  # 0.2, 0.25, ... 0.8, and the Config's
AREA_PERCENTILES = (1, 5, 10, 25)  # of each class's non-empty training mask areas: the min_area candidates
CHUNK = 64  # images counted at a time


def check_metric(metric: str) -> None:
    """Refuse Config.fit_mask_cut for a competition that is not a segmentation one scored by mean Dice, F2-IoU or
    AP-IoU."""
    if metric not in METRICS:
        raise ContractError(
            f"Config.fit_mask_cut fits the mask cut (threshold and min_area) of a segmentation run scored by "
            f"{', '.join(METRICS)}; this competition's metric is {metric}: set fit_mask_cut false."
        )


def threshold_candidates(configured: float) -> np.ndarray:
    """THRESHOLDS and the configured threshold, nearest it first (ties go to it, then to its neighbours)."""
    cuts = np.unique(np.array([*THRESHOLDS, configured], dtype=float))
    return cuts[np.argsort(np.abs(cuts - configured), kind="stable")]


def area_candidates(areas: np.ndarray, configured: int) -> np.ndarray:
    """Each class's min_area candidates (classes x k, pixels of the original image): the configured one first, then
    0 and the AREA_PERCENTILES of the class's non-empty `areas` (images x classes, original pixels), none below the
    configured one (the submission drops masks under it anyway); a class with fewer repeats the configured one."""
    rows = []
    for c in range(areas.shape[1]):
        sizes = areas[:, c][areas[:, c] > 0]
        found = np.rint(np.percentile(sizes, AREA_PERCENTILES)) if len(sizes) else np.zeros(0)
        values = np.unique(np.concatenate([[0.0], found]))
        rows.append([float(configured), *(float(v) for v in values if v > configured)])
    width = max(len(r) for r in rows)
    return np.array([r + [float(configured)] * (width - len(r)) for r in rows])


def counts(y: np.ndarray, pred: np.ndarray, classes: int, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    """Per (image, class) pair, in one pass over the probabilities: "above" (n, classes, k) the pixels above each
    threshold, "hits" (n, classes, k) those of them in the truth, and "truth" (n, classes) the truth's pixels."""
    truth_all, probs_all = as_masks(y, classes), as_masks(pred, classes)
    order = np.argsort(thresholds)
    ts, k = np.asarray(thresholds, dtype=float)[order], len(thresholds)
    n = len(truth_all)
    above, hits = np.zeros((n, classes, k), np.int64), np.zeros((n, classes, k), np.int64)
    truth = np.zeros((n, classes), np.int64)
    for start in range(0, n, CHUNK):
        t = truth_all[start : start + CHUNK] > 0.5
        m = len(t)
        bins = np.searchsorted(ts, np.asarray(probs_all[start : start + CHUNK], dtype=float), side="left")
        key = (np.arange(m * classes).reshape(m, classes, 1) * (k + 1) + bins).ravel()  # bin: how many ts below p
        size = m * classes * (k + 1)
        for out, part in (
            (above, np.bincount(key, minlength=size)),
            (hits, np.bincount(key[t.ravel()], minlength=size)),
        ):
            tail = part.reshape(m, classes, k + 1)[..., ::-1].cumsum(axis=2)[..., ::-1]  # pixels in bin >= j
            out[start : start + m][..., order] = tail[..., 1:]  # above threshold j: in bins j + 1 and higher
        truth[start : start + m] = t.sum(axis=2)
    return {"above": above, "hits": hits, "truth": truth}


def dice_table(count: dict[str, np.ndarray], min_pixels: np.ndarray) -> np.ndarray:
    """Every pair's Dice at every candidate cut (n, classes, thresholds, areas): a mask with fewer pixels above the
    threshold than the class's `min_pixels[c, a]` (at the grid) dropped, an empty truth and empty mask scoring 1."""
    above, hits = count["above"][..., None], count["hits"][..., None]
    truth = count["truth"][:, :, None, None]
    dropped = above < np.asarray(min_pixels, dtype=float)[None, :, None, :]
    kept = np.where(above + truth == 0, 1.0, 2.0 * hits / np.maximum(above + truth, 1))
    return np.where(dropped, (truth == 0).astype(float), kept)


def best(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each class's (threshold, area) index whose mean Dice over `rows` is highest, (classes, 2); the first among
    ties (the candidates put the configured cut first)."""
    means = table[np.asarray(rows, dtype=np.int64)].mean(axis=0)  # classes x thresholds x areas
    flat = means.reshape(len(means), -1).argmax(axis=1)
    return np.column_stack(np.unravel_index(flat, means.shape[1:]))


def remap(
    pred: np.ndarray,
    classes: int,
    thresholds: Any,
    min_pixels: Any,
    target: float,
    dtype: Any = None,
    grid: tuple[int, int] | None = None,
    contact: bool = False,
) -> np.ndarray:
    """Probabilities (n, classes * P) cut by the fitted cut at `target` (Config.mask_threshold): each class's mapped
    monotonically so that a pixel is above `target` exactly where it was above the class's threshold, the class's
    map zeroed on an image whose mask at that threshold has fewer than its `min_pixels` (at the grid); with `grid`
    (objects, f2_iou or ap_iou: one class), the pixels of each object (connected component) under `min_pixels`
    zeroed; with `contact` (touching) the rows are the mask then the contact map, the objects split at it, the map
    kept as is."""
    maps = None
    if contact:
        two = as_masks(pred, 2)
        pred, maps = two[:, 0], two[:, 1]
    src = as_masks(pred, classes)
    dtype = np.dtype(dtype or (src.dtype if src.dtype.kind == "f" else np.float64))
    t = np.asarray(thresholds, dtype=float).reshape(1, classes, 1)
    small = np.asarray(min_pixels, dtype=float).reshape(1, classes)
    low, high = np.array(target, dtype), np.nextafter(np.array(target, dtype), np.array(2, dtype))
    out = np.empty(src.shape, dtype)
    for start in range(0, len(src), CHUNK):
        p = np.asarray(src[start : start + CHUNK], dtype=float)
        above = p > t
        mapped = np.where(above, target + (p - t) * (1 - target) / (1 - t), p * target / t).astype(dtype)
        mapped = np.where(above, np.maximum(mapped, high), np.minimum(mapped, low))  # exact in any precision
        if grid is None:
            mapped[above.sum(axis=2) < small] = 0
        else:
            near = None if maps is None else maps[start : start + CHUNK]
            mapped[:, 0][small_objects(above[:, 0], grid, float(small[0, 0]), near)] = 0
        out[start : start + CHUNK] = mapped
    if maps is not None:
        return np.concatenate([out.reshape(len(src), -1), np.asarray(maps, dtype)], axis=1)
    return out.reshape(len(src), -1)


def apply_saved(saved: dict[str, Any], test: np.ndarray) -> np.ndarray:
    """stages.json's mask cut applied to new test probabilities, blended without a cut (`predict`)."""
    thresholds, grid = saved["thresholds"], saved.get("grid")  # grid: a cut of objects (instances)
    target, contact = float(saved["mask_threshold"]), bool(saved.get("contact"))  # contact: touching
    grid = tuple(grid) if grid else None
    return remap(test, len(thresholds), thresholds, saved["min_pixels"], target, grid=grid, contact=contact)


class _Search:
    """A run's candidate cuts (each class's thresholds x areas) and the score of every pair at each of them: its Dice,
    or for a competition of instances (f2_iou, ap_iou) each image's F2 or AP over its objects (`grid` set)."""

    def __init__(self, module: Any, cfg: Any, y: np.ndarray) -> None:
        files = getattr(module, "FILES", None)
        if files is None or not hasattr(files, "classes") or not hasattr(files, "min_pixels"):
            raise ContractError(
                "Config.fit_mask_cut cuts the masks of a CsvMasks competition (FILES), which this lacks."
            )
        self.classes, self.target = len(files.classes), float(cfg.mask_threshold)
        if not 0 < self.target < 1:
            raise ContractError(
                f"Config.mask_threshold must be between 0 and 1 to fit the mask cut; got {self.target}."
            )
        self.thresholds = threshold_candidates(self.target)
        self.grid = tuple(files.grid) if getattr(files, "instances", False) else None
        self.metric = str(getattr(files, "metric", "dice"))  # an instance table's score: f2_iou or ap_iou
        channels = getattr(files, "channels", lambda _: self.classes)(cfg)
        self.contact = self.grid is not None and channels > self.classes  # touching: the contact map after the mask

        def grid_pixels(area: float) -> float:  # min_area at the grid, as the competition's score scales it
            return float(files.min_pixels(dataclasses.replace(cfg, min_area=int(area))))

        scale = grid_pixels(1) or 1.0
        areas = as_masks(y, self.classes).sum(axis=2) if self.grid is None else object_areas(y, self.grid, self.contact)
        self.areas = area_candidates(areas / scale, int(cfg.min_area or 0))
        self.pixels = np.vectorize(grid_pixels, otypes=[float])(self.areas)

    def table(self, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Every pair's Dice at every candidate cut (dice_table), or every image's F2 or AP (object_cut.score_table)."""
        if self.grid is not None:
            return score_table(y, pred, self.grid, self.thresholds, self.pixels[0], self.contact, self.metric)
        return dice_table(counts(y, pred, self.classes, self.thresholds), self.pixels)

    def cut(self, index: np.ndarray) -> dict[str, list[float]]:
        """The cut of each class's (threshold, area) `index`: thresholds, min_areas (original pixels), min_pixels."""
        c = np.arange(self.classes)
        t, a = np.asarray(index)[:, 0], np.asarray(index)[:, 1]
        return {
            "thresholds": [float(v) for v in self.thresholds[t]],
            "min_areas": [int(v) for v in self.areas[c, a]],
            "min_pixels": [float(v) for v in self.pixels[c, a]],
        }

    def remap(self, pred: np.ndarray, cut: dict[str, list[float]]) -> np.ndarray:
        """`pred` cut by `cut` at the Config's threshold (remap)."""
        return remap(
            pred, self.classes, cut["thresholds"], cut["min_pixels"], self.target, grid=self.grid, contact=self.contact
        )


def out_of_fold(
    search: _Search, table: np.ndarray, b: dict[str, Any], y: np.ndarray
) -> tuple[np.ndarray, list[dict[str, list[float]] | None]]:
    """The blend's nested OOF probabilities with each group's rows cut at the cut fitted on the other groups' rows
    (their blend with the group's own weights), and each group's cut (None: a group with no rows to fit on, left as
    it was). `table`: the Dice table of b["oof"], reused where every group's weights are the blend's."""
    oof = np.asarray(b["oof"])
    out, fold_cuts = np.array(oof, copy=True), []
    shared = all(part.get("weights") == b.get("weights") for part in b["nested"])
    for part in b["nested"]:
        fit = np.asarray(part["fit"], dtype=np.int64)
        if not len(fit):
            fold_cuts.append(None)
            continue
        fit_table = table[fit] if shared else search.table(y[fit], np.asarray(part["fit_pred"]))
        cut = search.cut(best(fit_table, np.arange(len(fit))))
        out[part["held"]] = search.remap(oof[part["held"]], cut)
        fold_cuts.append({k: cut[k] for k in ("thresholds", "min_areas")})
    return out, fold_cuts


def _words(cut: dict[str, Any]) -> str:
    """A cut for the log: "thresholds 0.35/0.5, min_area 0/120"."""
    t = "/".join(f"{v:g}" for v in cut["thresholds"])
    return f"thresholds {t}, min_area {'/'.join(str(v) for v in cut['min_areas'])}"


def apply(
    module: Any, cfg: Any, y: np.ndarray, folds: np.ndarray, b: dict[str, Any], run_dir: Any, log: Any
) -> dict[str, Any]:
    """`b` (the blend's probabilities) cut by the mask cut fitted per class when that scores better out of fold than
    the Config's cut; threshold.json records the fit, stages.json the cut applied (fitted or the Config's)."""
    from pipeline.folds import scored_rows
    from pipeline.runfolder import write_predictions, write_record

    y, mask = np.asarray(y), scored_rows(folds)
    search, oof = _Search(module, cfg, y), np.asarray(b["oof"])
    score = competition_hook(module, "score", cfg) or module.score  # at the Config's cut
    table = search.table(y, oof)
    j = best(table, np.flatnonzero(mask))
    fitted, configured = search.cut(j), search.cut(np.zeros((search.classes, 2), np.int64))
    in_sample = table[mask][:, np.arange(search.classes), j[:, 0], j[:, 1]].mean()
    info: dict[str, Any] = {
        "kind": KIND,
        "configured": {"mask_threshold": search.target, "min_area": int(cfg.min_area or 0)},
        "fitted": {k: fitted[k] for k in ("thresholds", "min_areas")},
        "candidates": {"thresholds": sorted(float(t) for t in search.thresholds), "min_areas": search.areas.tolist()},
        "score_before": float(score(y[mask], oof[mask])),
        "in_sample_score": float(in_sample),
        "applied": False,
    }
    out = None
    if len(b.get("nested") or []) < 2:
        info["reason"] = "no out-of-fold predictions to fit it on (fewer than two folds)"
    else:
        out, info["fold_cuts"] = out_of_fold(search, table, b, y)
        info["score_after"] = float(score(y[mask], out[mask]))
        info["applied"] = module.METRIC.better(info["score_after"], info["score_before"])
    cut = fitted if info["applied"] else configured
    info["cut"] = {k: cut[k] for k in ("thresholds", "min_areas")}  # the cut the submission's masks are cut at
    write_record(run_dir, "threshold", info)
    saved = {"kind": KIND, "mask_threshold": search.target} | cut | ({"grid": list(search.grid)} if search.grid else {})
    saved |= {"contact": True} if search.contact else {}
    stages = b.get("stages", {}) | {"threshold": saved}  # what predict applies
    name, at = module.METRIC.name, f"mask_threshold {search.target:g}, min_area {info['configured']['min_area']}"
    if not info["applied"]:
        why = info.get("reason") or f"out-of-fold {name} {info['score_after']:.5f} vs {info['score_before']:.5f}"
        log(f"mask cut {_words(fitted)} not applied: {why} at {at}")
        return b | {"threshold": info, "stages": stages}
    log(
        f"mask cut {_words(fitted)} (fitted out of fold): {name} {info['score_before']:.5f} at {at} -> "
        f"{info['score_after']:.5f}"
    )
    test = search.remap(np.asarray(b["test"]), fitted)
    write_predictions(run_dir, "_threshold", out, test)
    return b | {"oof": out, "test": test, "score": info["score_after"], "threshold": info, "stages": stages}
