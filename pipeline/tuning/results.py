"""A study's results in its folder: best params (replayable with `run --params`), trials table, plots, study.json."""

from __future__ import annotations

import csv
import io
import json
import shlex
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import atomic
from pipeline.tuning.storage import redact
from pipeline.tuning.study import TuneSpec


def replay_command(spec: TuneSpec, params: Path) -> str:
    """The `run` command line that reproduces the best trial."""
    args = ["python", "-m", "pipeline", "run", spec.competition, "--params", str(params), "--seed", str(spec.seed)]
    args += ["--sample"] if spec.sample else (["--data", spec.data] if spec.data else [])
    args += ["--folds", str(spec.folds)] if spec.folds else []
    args += ["--models", ",".join(spec.models)] if spec.models else []
    return shlex.join(args)


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, seconds, params, run folder."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "steps": len(t.intermediate_values),
                "seconds": t.user_attrs.get("seconds"),
                "params": json.dumps(t.params, sort_keys=True),
                "run_dir": t.user_attrs.get("run_dir", ""),
            }
        )
    return rows


def write_results(study: Any, spec: TuneSpec) -> dict[str, Any]:
    """Write best_params.json, study.json, trials.csv and plots/*.png into the study folder; return study.json."""
    from optuna.trial import TrialState

    out = Path(spec.study_dir)
    rows = trial_rows(study)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["number"])
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(out / "trials.csv", buf.getvalue())
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    info: dict[str, Any] = {
        "study": spec.study,
        "storage": redact(spec.storage),
        "direction": spec.direction,
        "competition": spec.competition,
        "trials": counts,
        "best": None,
    }
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        best = study.best_trial
        overrides = best.user_attrs.get("overrides", {})
        atomic.write_json(out / "best_params.json", overrides)
        info["best"] = {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "overrides": overrides,
            "run_dir": best.user_attrs.get("run_dir"),
            "host": best.user_attrs.get("host"),
        }
        info["replay"] = replay_command(spec, out / "best_params.json")
        info["vs_start"] = versus_start(study, best, spec.direction == "maximize")
    info["plots"] = write_plots(study, out / "plots")
    atomic.write_json(out / "study.json", info)
    return info


def versus_start(study: Any, best: Any, maximize: bool) -> dict[str, Any] | None:
    """How much better the best trial scores than the settings the study started from (its first trial, see
    pipeline.tuning.study.enqueue_start), fold by fold on the same folds: the mean gain and its standard error.

    The best of many trials is chosen on these very folds, so a gain within about two standard errors is likely the
    luck of the choice: on held-out labels such a pick did worse as often as better (benchmarks/tabular_tune.py).
    Over the folds both trials' scores define (a fold holding one class has no ROC AUC of its own); None when there
    is no complete starting trial, a trial's folds were not recorded or fewer than two are defined.
    """
    from optuna.trial import TrialState

    from pipeline.runfolder import read_record

    start = next((t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("start")), None)
    if start is None or start.state != TrialState.COMPLETE:
        return None
    if start.number == best.number:
        return {"start": start.number, "best_is_start": True}
    try:
        folds = [read_record(Path(t.user_attrs["run_dir"]), "summary").get("cv_folds") for t in (best, start)]
    except (KeyError, OSError, ValueError):
        return None
    if not all(folds) or len(folds[0]) != len(folds[1]):
        return None
    gain = (np.asarray(folds[0], dtype=float) - np.asarray(folds[1], dtype=float)) * (1 if maximize else -1)
    gain = gain[np.isfinite(gain)]  # folds whose rows alone do not define the score (one class) are left out
    if len(gain) < 2:
        return None
    se = float(gain.std(ddof=1) / np.sqrt(len(gain)))
    mean = float(gain.mean())
    return {"start": start.number, "best_is_start": False, "gain": mean, "se": se, "folds": len(gain),
            "within_noise": bool(mean < 2 * se)}  # fmt: skip


def write_plots(study: Any, folder: Path) -> list[str]:
    """Optimisation history, parameter importance and intermediate values as PNG; a plot that fails is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    written = []
    plots = {
        "history": ovm.plot_optimization_history,
        "importance": ovm.plot_param_importances,
        "intermediate": ovm.plot_intermediate_values,
    }
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(8, 5)
            with atomic.atomic_path(folder / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(str(folder / f"{name}.png"))
        except Exception:  # e.g. importance needs two finished trials with varying params
            plt.close("all")
    return written


def print_table(study: Any, info: dict[str, Any], metric: str, limit: int = 15) -> None:
    """The best trials, best first, then where the results are."""
    from rich.console import Console
    from rich.table import Table

    rows = [r for r in trial_rows(study) if r["state"] == "complete"]
    rows.sort(key=lambda r: r["value"], reverse=info["direction"] == "maximize")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(info["trials"].items()))
    table = Table(title=f"study {info['study']} · {metric} ({info['direction']}) · {counts}")
    for col in ("trial", metric, "time", "params"):
        table.add_column(col, justify="left" if col == "params" else "right")
    for r in rows[:limit]:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in json.loads(r["params"]).items())
        table.add_row(str(r["number"]), f"{r['value']:.5f}", f"{r['seconds'] or 0:.1f}s", params)
    c = Console(highlight=False)
    c.print(table)
    if info.get("best"):
        c.print(
            f"best trial {info['best']['number']}: {info['best']['value']:.5f}  run folder {info['best']['run_dir']}"
        )
        c.print(f"replay: {info['replay']}")
        vs = info.get("vs_start") or {}
        if vs.get("best_is_start"):
            c.print(f"the best trial is the starting settings (trial {vs['start']}): tuning found nothing better")
        elif vs:
            line = (
                f"best vs the starting settings (trial {vs['start']}): better by {vs['gain']:.5f} ± {vs['se']:.5f} "
                f"per fold over {vs['folds']} folds"
            )
            if vs["within_noise"]:
                line += " - within two standard errors, likely the luck of picking the best: keep the starting "
                line += "settings, or run more trials"
            c.print(line)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
