"""A cut fitted out of fold after the blend or stack, applied only when it pays: the shared steps of the F1/MCC
threshold (pipeline/threshold.py) and QWK's grade cut points (pipeline/grades.py).

The cut is fitted on every scored OOF row for the test predictions; its out-of-fold score cuts each nested group's
rows (the blend's or stack's) at a cut fitted on the other groups' rows only. It is applied when that score beats
the uncut one; threshold.json records it either way, and `_threshold` holds the cut predictions when applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.blend import refit_per_group
from pipeline.folds import scored_rows


def candidates(p: np.ndarray, bounds: tuple[float, float], grid: int = 99, also: tuple[float, ...] = ()) -> np.ndarray:
    """The cuts best_cut tries for probabilities `p`: `grid` quantiles of p, 0.5 and `also`, clipped to `bounds`,
    distinct, nearest 0.5 first (the order ties are broken in)."""
    quantiles = np.quantile(p, np.linspace(0.01, 0.99, grid))
    cuts = np.unique(np.clip(np.concatenate([quantiles, [0.5], np.asarray(also, dtype=float)]), *bounds))
    return cuts[np.argsort(np.abs(cuts - 0.5), kind="stable")]


def best_cut(p: np.ndarray, score_at: Callable[[float], float], bounds: tuple[float, float], grid: int = 99) -> float:
    """The cut of probabilities `p` whose `score_at` (higher is better) is highest among `candidates`; ties go to the
    cut nearest 0.5 (the F1/MCC threshold's search and the tags' one cut)."""
    cuts = candidates(p, bounds, grid)
    return float(cuts[int(np.argmax([score_at(float(t)) for t in cuts]))])


def apply_out_of_fold(
    module: Any,
    b: dict[str, Any],
    y: np.ndarray,
    folds: np.ndarray,
    run_dir: Any,
    log: Any,
    fit: Callable[[np.ndarray, np.ndarray], Any],
    transform: Callable[[np.ndarray, Any], np.ndarray],
    describe: Callable[[Any], tuple[dict[str, Any], str]],
    fold_key: str,
    baseline: str,
    kind: str,
    record: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`b` with its OOF and test predictions transformed by `fit`'s cut when it improves the out-of-fold score.

    `describe(cut)` gives threshold.json's fields for the cut and its name in the log ("threshold 0.310");
    `fold_key` names the per-group cuts in threshold.json (JSON-ready through `.tolist()` where they have it);
    `baseline` says what the uncut predictions are scored as ("at 0.5", "rounded"); `kind` ("threshold", "cuts")
    names the cut in stages.json, whose "threshold" entry holds it with describe's fields when it is applied (what
    `predict` applies: pipeline.threshold.apply_saved). `record(info)`: threshold.json's record and the returned
    "threshold" made of this cut's (the tags' per-tag cuts nest theirs in the one cut's, pipeline/tag_cuts.py)."""
    from pipeline.runfolder import write_predictions, write_record

    oof, test = np.asarray(b["oof"], dtype=float), np.asarray(b["test"], dtype=float)
    mask, nested = scored_rows(folds), b.get("nested") or []
    cut = fit(oof[mask], y[mask])
    fields, label = describe(cut)
    info: dict[str, Any] = fields | {"score_before": float(b["score"]), "applied": False}
    if len(nested) < 2:
        info["reason"] = "no out-of-fold predictions to fit it on (fewer than two folds)"
    else:
        out, fold_cuts = refit_per_group(nested, oof, y, fit, transform)
        after = float(module.score(y[mask], out[mask]))
        info |= {"score_after": after, fold_key: [c.tolist() if hasattr(c, "tolist") else c for c in fold_cuts]}
        info["applied"] = module.METRIC.better(after, float(b["score"]))
    kept = record(info) if record is not None else info
    write_record(run_dir, "threshold", kept)
    name = module.METRIC.name
    if not info["applied"]:
        why = info.get("reason") or (
            f"out-of-fold {name} {info['score_after']:.5f} vs {info['score_before']:.5f} {baseline}"
        )
        log(f"{label} not applied: {why}")
        return b | {"threshold": kept}
    log(f"{label} (fitted out of fold): {name} {info['score_before']:.5f} -> {info['score_after']:.5f}")
    test = transform(test, cut)
    write_predictions(run_dir, "_threshold", out, test)
    stages = b.get("stages", {}) | {"threshold": {"kind": kind} | fields}  # stages.json, for predict
    return b | {"oof": out, "test": test, "score": info["score_after"], "threshold": kept, "stages": stages}
