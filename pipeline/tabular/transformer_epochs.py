"""The transformer's bookkeeping between its epochs (pipeline/tabular/transformer.py), as the other deep models keep
it: last.pt in the fit's workdir after each epoch (pipeline/training/checkpoint.py: written atomically), the fit
continued from it when the runner resumes, and each epoch's validation score (the fold's rows, predicted and scored
with the competition's metric as the runner scores the fold) logged, written to history.json for the run's
learning-curve plots and reported to tune's pruner. The score never picks the weights: the epochs are fixed, so the
fold's out-of-fold predictions stay out of sample.

A finished fit's last.pt keeps the weights, counters and learning curve but not the optimizer, scheduler and scaler
(AdamW's two moments are twice the model: nothing resumes from them once the epochs are done).

Under torchrun (every rank training the fit together) only rank 0 has a workdir: it alone writes last.pt and
history.json and logs; on resume it finds last.pt, and every rank that sees that file reads it itself
(distributed.load_from_main: the others get rank 0's copy). The validation score is computed once, each rank
predicting its share of the rows (TextTransformer._raw), so every rank holds the same score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import distributed
from pipeline.training import checkpoint


@dataclass
class Epochs:
    """One fit's epochs done, steps taken and learning curve, saved to and resumed from the context's workdir."""

    est: Any  # the TextTransformer being fitted (its model_ on the fit's device)
    context: Any  # the runner's FitContext, or None (then nothing is saved, logged or scored)
    parts: dict[str, Any]  # the optimizer, scheduler and scaler whose states last.pt keeps until the fit is done
    key: dict[str, Any]  # what a last.pt must have been written for to be resumed: the parameters, the rows
    epoch: int = 0  # epochs completed
    steps: int = 0  # optimizer steps taken
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def workdir(self) -> Path | None:
        """Where last.pt and history.json go; None: nowhere (no context, or a rank that writes nothing)."""
        folder = getattr(self.context, "workdir", None)
        return None if folder is None else Path(folder)

    def log(self, line: str) -> None:
        """A line in the run's log (nothing without a context)."""
        log = getattr(self.context, "log", None)
        if log is not None:
            log(line)

    def resume(self) -> bool:
        """Continue from last.pt when the runner asks to resume and one of this fit is there: the weights, counters and
        learning curve, and (unless it was done) the optimizer, scheduler and scaler. True when its training had
        finished (nothing left to do); a last.pt of other settings or rows is ignored, said in the log. Under torchrun
        rank 0 (the only one with a workdir) finds it and every rank reads that file (or gets rank 0's copy), so every
        rank continues from the same state."""
        if not getattr(self.context, "resume", False):
            return False
        state = distributed.load_from_main(self._last_path, self._read_last)
        if state is None:
            return False
        self.est.model_.load_state_dict(state["model"])
        self.epoch, self.steps, self.history = state["epoch"], state["step"], state["history"]
        if state["done"]:
            self.log(f"resume: training already finished ({self.epoch} epochs); loading its weights")
            return True
        for name, part in self.parts.items():
            part.load_state_dict(state[name])
        self.log(f"resume: continuing from epoch {self.epoch} of {self.est.epochs}")
        return False

    def _last_path(self) -> Path | None:
        """The workdir's last.pt, when there is one."""
        return checkpoint.found(self.workdir, checkpoint.LAST)

    def _read_last(self, path: Path) -> dict[str, Any] | None:
        """last.pt at `path` when it is this fit's (its key); None with another fit's (said)."""
        state = checkpoint.load(path)
        if state is not None and state.get("key") != self.key:
            self.log(f"resume: {path} is of another fit (settings or rows); starting over")
            return None
        return state

    def save(self, done: bool) -> None:
        """last.pt (atomic) in the workdir: the weights, counters and learning curve, with the optimizer, scheduler
        and scaler while the fit is not done; nothing without a workdir."""
        if self.workdir is None:
            return
        state = {"key": self.key, "model": self.est.model_.state_dict(), "epoch": self.epoch, "step": self.steps}
        state |= {"history": self.history, "done": done}
        if not done:
            state |= {name: part.state_dict() for name, part in self.parts.items()}
        self.workdir.mkdir(parents=True, exist_ok=True)
        checkpoint.save(self.workdir / checkpoint.LAST, state)

    def end_epoch(self, train_loss: float, lr: float, seconds: float) -> None:
        """An epoch's end: its validation score (with the context's eval_set), last.pt, history.json, the log line
        (after the checkpoint: a killed run resumes from what it logged) and the pruner's report (which may raise)."""
        score = self.validation_score()
        row = {"epoch": self.epoch + 1, "train_loss": train_loss, "valid_loss": None, "valid_score": score}
        self.history.append(row | {"lr": lr, "seconds": seconds})
        self.epoch += 1
        self.save(done=self.epoch >= self.est.epochs)
        if self.workdir is not None:
            checkpoint.write_history(self.workdir, self.history)
        line = f"transformer epoch {self.epoch}/{self.est.epochs}: loss {train_loss:.4f}"
        if score is not None:
            metric = getattr(getattr(self.context, "metric", None), "name", None) or "score"
            line += f", {metric} {score:.4f}"
        self.log(f"{line}, {seconds:.1f}s")
        if score is not None and math.isfinite(score) and self.context is not None:
            self.context.report_epoch(self.epoch - 1, score)

    def validation_score(self) -> float | None:
        """The context's eval_set (the fold's validation rows) predicted as the runner predicts them after fit and
        scored with its metric (NaN where it is not defined on them alone); None without them or a metric."""
        eval_set, score = getattr(self.context, "eval_set", None), getattr(self.context, "score", None)
        if eval_set is None or score is None:
            return None
        from pipeline.fitting import predict_outputs
        from pipeline.folds import fold_score

        X_va, y_va = eval_set
        n_classes = getattr(self.context, "n_classes", None)
        try:
            pred = predict_outputs(self.est, X_va, self.est.task != "regression", n_classes)
        finally:
            self.est.model_.train()
        return fold_score(score, y_va, pred)
