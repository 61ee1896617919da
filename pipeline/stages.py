"""The stages after the fold models that a run fitted, saved for `predict`: stages.json in the run folder.

A run turns its models' test predictions into the submission with stages fitted on the OOF predictions against the
training targets: the blend's weights, the level-2 stack's meta-model (when the stack was used), the F1/MCC threshold
or QWK's grade cut points (when applied) and the calibration's temperature (when applied). finish_run saves what
each of them fitted as plain JSON numbers (pipeline.finish.stages_record: each stage hands its part over in the
blend's "stages"); `apply` runs them, in the run's order, on new test predictions. On the run's own test rows that is
the run's submission, bit for bit, and no training row is read. A run folder without stages.json (a run from before
it, or a folder copied without it: every run writes it before summary.json) has none: `read` then gives blend.json's
weights where no later stage changed the predictions, else None, and predict refits the stages from the OOF
predictions against the training targets (pipeline/commands/predict.py); so it does for a stages.json of another
layout (STAGES_VERSION).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.finish import apply_weights, fold_blends
from pipeline.runfolder import STAGES_VERSION, read_record, read_stages

# The stages after the blend whose record in summary.json says they changed the predictions (stack: "used"; the
# others: "applied"): a run from before stages.json that has one cannot be predicted without refitting it.
LATER_STAGES = {"stack": "used", "threshold": "applied", "calibration": "applied"}


def read(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The run's saved stages: stages.json; for a run from before it, blend.json's weights alone when no stage after
    the blend changed the predictions (summary.json says which did). None when predict must refit them."""
    record = read_stages(run_dir)
    if record is not None or (Path(run_dir) / "stages.json").is_file():
        return record
    if any(isinstance(summary.get(n), dict) and summary[n].get(key) for n, key in LATER_STAGES.items()):
        return None
    saved = read_record(run_dir, "blend").get("weights") if (Path(run_dir) / "blend.json").is_file() else None
    if not isinstance(saved, dict) or set(saved) != set(summary["models"]):
        return None
    return {"blend": {"weights": {m: float(w) for m, w in saved.items()}}}


def unusable(module: Any, run_dir: Path, record: dict[str, Any] | None) -> str:
    """Why the saved stages of `run_dir` (`record`: read's) cannot make the submission ("" when they can), naming the
    folder: no stages.json there, one of another layout, or a blend hook without apply_blend (its saved weights cannot
    be applied)."""
    if record is None:
        return _no_stages(Path(run_dir))
    if hasattr(module, "blend") and not hasattr(module, "apply_blend"):
        return f"{run_dir}: the competition's blend hook has no apply_blend, which applies the saved blend weights"
    return ""


def _no_stages(run_dir: Path) -> str:
    """What a run folder whose stages read cannot use holds, and what to do. Every run writes stages.json before its
    summary.json, so a complete run folder without it is one made before runs saved it, or one copied without it."""
    path = run_dir / "stages.json"
    if path.is_file():
        version = read_record(run_dir, "stages").get("version")
        return (
            f"{path} is of layout version {version}, not {STAGES_VERSION}: written by another version of the project, "
            "which predicts from it without refitting"
        )
    return (
        f"{run_dir} has no stages.json, the stages the run fitted after its models (a run made before runs saved it, "
        "or a folder copied without it: copy it from the run's own folder to predict without refitting)"
    )


def apply(module: Any, cfg: Any, record: dict[str, Any], results: dict[str, dict[str, Any]]) -> np.ndarray:
    """The submission's test predictions from the models' (results[model]["test"], and "fold_tests" for a calibration
    applied per fold model) through the saved stages, in the run's order: blend, stack, cut, calibration."""
    from pipeline import calibration, stacking, threshold

    tests = {m: r["test"] for m, r in results.items()}
    weights = record["blend"]["weights"]
    test = apply_weights(module, cfg, weights, tests)
    if "stack" in record:
        test = stacking.apply_saved(record["stack"], tests)
    if "threshold" in record:
        test = threshold.apply_saved(record["threshold"], test)
    if "calibration" in record:
        parts = fold_blends(module, {"weights": weights}, results)
        test = calibration.apply_saved(record["calibration"], test, parts)
    return test


def describe(record: dict[str, Any]) -> str:
    """The saved stages predict applies, for its log: "blend, stack, threshold"."""
    names = {"stack": "stack", "threshold": "cut", "calibration": "calibration"}
    cut = record.get("threshold", {}).get("kind")
    return ", ".join(["blend"] + [cut if n == "threshold" else names[n] for n in names if n in record])
