"""Run plots as PNG: OOF residuals (regression), confusion matrix (classification), learning curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import atomic_path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)


def residuals(y: np.ndarray, pred: np.ndarray, path: Path, log_scale: bool = False) -> None:
    """Predicted vs true and residuals vs predicted, on OOF rows."""
    plt = _plt()
    t, p = (np.log(y), np.log(pred)) if log_scale else (y, pred)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    ax[0].scatter(t, p, s=6, alpha=0.5)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax[0].plot([lo, hi], [lo, hi], "r--", lw=1)
    ax[0].set(xlabel="true" + (" (log)" if log_scale else ""), ylabel="OOF prediction", title="OOF predictions")
    ax[1].scatter(p, p - t, s=6, alpha=0.5)
    ax[1].axhline(0, color="r", lw=1)
    ax[1].set(xlabel="OOF prediction", ylabel="residual (pred - true)", title="residuals")
    _save(fig, path)


def confusion(y: np.ndarray, proba: np.ndarray, classes: list[str], path: Path) -> None:
    """Row-normalised confusion matrix of OOF predictions."""
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    k = len(classes)
    cm = confusion_matrix(y, proba.argmax(1), labels=range(k), normalize="true")
    size = min(24, 3 + 0.4 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=90)
        ax.set_yticks(range(k), classes)
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{cm[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if cm[i, j] > 0.5 else "black",
                )
    ax.set(xlabel="predicted", ylabel="true", title="OOF confusion matrix (row-normalised)")
    _save(fig, path)


def learning_curves(run_dir: Path, path: Path) -> bool:
    """Train/valid loss and valid score per epoch for every model and fold with a history.json."""
    histories = sorted((run_dir / "checkpoints").glob("*/fold*/history.json"))
    if not histories:
        return False
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    for h in histories:
        rows = json.loads(h.read_text())
        if not rows:
            continue
        label = f"{h.parent.parent.name}/{h.parent.name}"
        ep = [r["epoch"] for r in rows]
        ax[0].plot(ep, [r.get("train_loss") for r in rows], "--", label=f"{label} train")
        if rows[0].get("valid_loss") is not None:
            ax[0].plot(ep, [r.get("valid_loss") for r in rows], label=f"{label} valid")
        if rows[0].get("valid_score") is not None:
            ax[1].plot(ep, [r.get("valid_score") for r in rows], label=label)
    ax[0].set(xlabel="epoch", ylabel="loss", title="loss")
    ax[1].set(xlabel="epoch", ylabel="validation score", title="validation metric")
    ax[0].legend(fontsize=6)
    ax[1].legend(fontsize=6)
    _save(fig, path)
    return True


def run_plots(module: Any, data: Any, y: np.ndarray, folds: np.ndarray, oof: np.ndarray, run_dir: Path) -> None:
    """All plots that apply to this run."""
    mask = folds >= 0
    oof = np.asarray(oof)
    if data.classes is not None and oof.ndim == 2 and oof.shape[1] == len(data.classes):
        confusion(y[mask].astype(int), oof[mask], list(data.classes), run_dir / "plots" / "confusion_matrix.png")
    elif oof.ndim == 2 and oof.shape[1] == 1 and np.issubdtype(np.asarray(y).dtype, np.number):
        yy, pp = np.asarray(y, float)[mask], oof[mask, 0]
        residuals(yy, pp, run_dir / "plots" / "residuals.png", log_scale=bool((yy > 0).all() and (pp > 0).all()))
    learning_curves(run_dir, run_dir / "plots" / "learning_curves.png")
    if hasattr(module, "plots"):  # the competition's own figures (e.g. per-class AP for detection)
        module.plots(run_dir, data, y, folds, oof)
