"""Rich tables: a run's summary and the list of past runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.archives import display_path
from pipeline.atomic import read_json


def _console() -> Any:
    import sys

    from rich.console import Console

    # Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_summary(s: dict[str, Any]) -> None:
    """Per model CV (its out-of-fold predictions scored on all the scored rows at once, as the blend's is) beside its
    folds' mean ± std, weight and time; the equal-weight mean, the blend and the submission path."""
    from rich.table import Table

    metric = s["metric"]
    arrow = "higher" if s["greater_is_better"] else "lower"
    title = f"{s['competition']} · {metric} ({arrow} is better) · CV on {s['cv_rows']} of {s['n_rows']} rows"
    if s.get("sample"):
        title += " · SAMPLE DATA"
    t = Table(title=title)
    columns = (("model", "left"), (f"CV {metric}", "right"), ("folds: mean ± std", "right"))
    for col, just in (*columns, ("weight", "right"), ("time", "right")):
        t.add_column(col, justify=just)
    weights, pooled = s["blend"]["weights"], s["blend"].get("oof_scores") or {}
    for m, r in s["models"].items():
        cv = f"{pooled[m]:.5f}" if m in pooled else ""  # runs before oof_scores was kept show the folds' only
        folds = f"{r['mean']:.5f} ± {r['std']:.5f}"
        t.add_row(m, cv, folds, f"{weights.get(m, 0):.3f}", f"{r['seconds']:.1f}s")
    if s["blend"].get("equal_score") is not None:
        t.add_row("equal-weight mean", f"{s['blend']['equal_score']:.5f}", "", "", "", style="dim")
    cal = s.get("calibration") or {}
    b = s["blend"]
    oof = "" if b.get("out_of_fold") is False else " (out of fold)"
    if cal.get("applied"):
        t.add_row(f"blend{oof}", f"{cal['score_before']:.5f}", "", "1.000", "")
        label = f"blend + {cal['method']} (T={cal['temperature']:.3f}){oof}"
        t.add_row(f"[bold]{label}[/bold]", f"[bold]{s['cv']:.5f}[/bold]", "", "", f"{s['seconds']:.1f}s")
    else:
        blended = "blend, equal weights" if b.get("equal_weights") else "blend"
        if b.get("equal_weights"):  # the equal-weight mean beat the fitted weights out of fold
            t.add_row(f"blend, fitted weights{oof}", f"{b['fitted_score']:.5f}", "", "", "", style="dim")
        final = "stack" if (s.get("stack") or {}).get("used") else blended
        cut = s.get("threshold") or {}
        per_tag = (cut.get("per_tag") or {}).get("applied")
        if cut.get("applied") or per_tag:
            at = (
                f"grades cut at {len(cut['cuts'])} fitted points"
                if "cuts" in cut
                else f"labels cut at {len(cut['per_tag']['thresholds'])} per-tag points"
                if per_tag
                else f"boxes cut at confidence {cut['min_score']:g}"
                if cut.get("kind") == "box_cut"
                else _mask_cut_words(cut["cut"])
                if cut.get("kind") == "mask_cut"
                else f"labels cut at {cut['threshold']:.3f}"
            )
            final += f", {at}"
        if final != blended and b.get("score") is not None:  # b["score"] is the last stage's: the blend's own is
            stack = s.get("stack") or {}  # the stack's blend_score, or the threshold's score before its cut
            was_cut = cut.get("applied") or per_tag
            own = stack.get("blend_score", cut.get("score_before") if was_cut else b["score"])
            t.add_row(f"{blended}{oof}", f"{own:.5f}", "", "", "", style="dim")
        t.add_row(f"[bold]{final}{oof}[/bold]", f"[bold]{s['cv']:.5f}[/bold]", "", "1.000", f"{s['seconds']:.1f}s")
        if "temperature" in cal:
            note = f"{cal['method']} (T={cal['temperature']:.3f}, not applied)"
            t.add_row(note, f"{cal['score_after']:.5f}", "", "", "", style="dim")
    for name, value in (s.get("class_scores") or {}).items():  # the competition's class_scores hook
        t.add_row(f"  class {name} (out of fold)", f"{value:.5f}", "", "", "", style="dim")
    if b.get("in_sample_score") is not None and b.get("out_of_fold") and not b.get("equal_weights"):
        label = "blend, in-sample (weights fitted on the rows scored)"
        t.add_row(label, f"{b['in_sample_score']:.5f}", "", "", "", style="dim")
    c = _console()
    c.print(t)
    c.print(f"submission: {display_path(Path(s['published']))}\nrun folder: {display_path(Path(s['run_dir']))}")


def _mask_cut_words(cut: dict[str, Any]) -> str:
    """A segmentation run's mask cut for the summary: "masks cut at 0.35/0.5, min_area 0/120" (one value a class)."""
    thresholds = "/".join(f"{t:g}" for t in cut["thresholds"])
    return f"masks cut at {thresholds}, min_area {'/'.join(str(a) for a in cut['min_areas'])}"


def leaderboard_score(run_dir: Path) -> float | None:
    """Latest public leaderboard score recorded by `submit`/`submissions`, if any."""
    path = Path(run_dir) / "kaggle_submissions.json"
    if not path.exists():
        return None
    try:
        records = read_json(path)
    except ValueError:
        return None
    scores = [r.get("public_score") for r in records if r.get("public_score") not in (None, "")]
    return float(scores[-1]) if scores else None


def print_runs(runs: list[dict[str, Any]]) -> None:
    """Table of past runs: time, CV, LB, models, tag, submission (failed runs: "failed" and their error)."""
    from rich.table import Table

    from pipeline.kaggle.records import leaderboard

    t = Table(title="runs")
    for col in ("started", "competition", "run", "CV (out of fold)", "LB", "models", "tag", "submission"):
        t.add_column(col, overflow="fold")
    for s in runs:
        lb = leaderboard(Path(s["run_dir"]))  # latest public score (/ private once shown), or pending/error
        status = s.get("status", "complete")
        if status != "complete":  # failed/interrupted: its state instead of a score, its error instead of a file
            cv, last = f"[red]{status}[/red]", f"{s.get('error', '')}  (resume: {s.get('resume', '')})"
        else:
            cv = f"{s['cv']:.5f}" if isinstance(s.get("cv"), int | float) else ""
            last = display_path(Path(s.get("published", "")))
        t.add_row(
            s.get("started", "").replace("T", " "),
            s.get("competition", ""),
            s.get("run_id", ""),
            cv,
            lb,
            ", ".join(s.get("models", {})),
            ("sample " if s.get("sample") else "") + (s.get("tag") or ""),
            last,
        )
    _console().print(t if runs else "no runs yet")
