"""A multilayer perceptron on the linear family's features, early-stopped: the generic recipe's neural network.

Its input is what the linear model sees (features.tabular.TabularEncoder "linear": scaled numbers, one-hot levels,
out-of-fold target encoding, token and frequency features), fitted on the training rows only. The network (Linear,
SiLU, dropout per hidden layer) trains with AdamW on mini-batches and stops early on a seeded 10% of the training
rows, keeping its best epoch's weights: the fold's scored rows never pick the epoch (valid_fraction=0 stops on the
runner's validation rows instead, FitContext.eval_set).
Regression targets are standardised (after log(1 + y) with target_transform="log1p"); classes use cross-entropy.

Engineering comes from the runner: the device (FitContext.device; CUDA on a user's GPU, mixed precision per
`precision`), the seed (random_state), threads (n_jobs) and the deadline (no new epoch starts after it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split

from features.tabular import TabularEncoder
from pipeline.fitting import derived_seed
from pipeline.tabular.models import fit_target, inverse_target, transform_target


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class TabularMLP(BaseEstimator):
    """An early-stopped MLP on raw tabular data, for regression or classification (predict / predict_proba)."""

    task: str = "regression"
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 20  # epochs without a better validation loss
    target_transform: str | None = None
    # > 0: stop early on this share of the training rows, so the fold's scored rows never pick the epoch (its OOF
    # predictions stay out of sample); 0: stop on the runner's validation rows (FitContext.eval_set)
    valid_fraction: float = 0.1
    bag: int = 1  # seeds averaged
    random_state: int = 0
    n_jobs: int = 1
    precision: str = "auto"  # the runner's --precision: mixed precision on CUDA ("fp32" to turn it off)

    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> TabularMLP:
        """Encode, then train `bag` networks, each stopped early on the validation rows."""
        import torch

        X = pd.DataFrame(X).reset_index(drop=True)
        y = np.asarray(y)
        y_fit, classes = fit_target(y, self.task, self.target_transform)
        if classes is not None:
            self.classes_ = classes
            y_fit = y_fit.astype(np.int64)
        else:
            self.y_mean_, self.y_std_ = float(y_fit.mean()), float(y_fit.std() or 1.0)
            y_fit = (y_fit - self.y_mean_) / self.y_std_
        self.encoder_ = TabularEncoder("linear", self.task, random_state=self.random_state)
        E = self._matrix(self.encoder_.fit_transform(X, y_fit))
        E_va, y_va = self._validation(E, y_fit, context)
        self.device_ = str(getattr(context, "device", None) or "cpu")
        deadline = getattr(context, "deadline", None)
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, int(self.n_jobs)) if self.n_jobs and self.n_jobs > 0 else threads)
        try:
            self.nets_, self.best_epochs_ = [], []
            for r in range(max(1, int(self.bag))):
                if deadline is not None and r > 0 and time.monotonic() > deadline:
                    break
                net, best = self._train(E, y_fit, E_va, y_va, derived_seed(self.random_state, r), deadline)
                self.nets_.append(net)
                self.best_epochs_.append(best)
        finally:
            torch.set_num_threads(threads)
        return self

    def refit_holdout(self) -> dict[str, Any]:
        """What a fit with no validation rows handed over (the runner's refit on every training row) still keeps out
        of training to stop early: {"fraction": f}, the seeded share `_validation` holds out."""
        return {"fraction": self._holdout_share()}

    def _holdout_share(self) -> float:
        """The share of the training rows held out to stop on: valid_fraction, else (no runner's rows) 10%."""
        return float(self.valid_fraction or 0.1)

    def _matrix(self, E: Any) -> np.ndarray:
        return np.nan_to_num(np.asarray(E, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)

    def _validation(self, E: np.ndarray, y: np.ndarray, context: Any) -> tuple[np.ndarray, np.ndarray]:
        """A seeded valid_fraction of the training rows (then left out of training: self.train_rows_); with
        valid_fraction 0, the runner's validation rows, encoded (a 10% holdout without them)."""
        eval_set = None if self.valid_fraction > 0 else getattr(context, "eval_set", None)
        self.train_rows_ = np.arange(len(y))
        if eval_set is not None:
            X_va, y_va = eval_set
            y_va = np.asarray(y_va)
            if self.task == "regression":
                y_va = (transform_target(y_va, self.target_transform) - self.y_mean_) / self.y_std_
                return self._matrix(self.encoder_.transform(pd.DataFrame(X_va))), y_va
            keep = np.isin(y_va, self.classes_)  # a class absent from the training rows cannot be validated on
            E_va = self._matrix(self.encoder_.transform(pd.DataFrame(X_va).iloc[np.flatnonzero(keep)]))
            return E_va, np.searchsorted(self.classes_, y_va[keep]).astype(np.int64)
        stratify = y if self.task != "regression" and np.bincount(y).min() > 1 else None
        share = self._holdout_share()
        tr, va = train_test_split(self.train_rows_, test_size=share, random_state=self.random_state, stratify=stratify)
        self.train_rows_ = tr
        return E[va], y[va]

    def _net(self, n_in: int, n_out: int) -> Any:
        from torch import nn

        layers: list[Any] = []
        for width in self.hidden:
            layers += [nn.Linear(n_in, width), nn.SiLU(), nn.Dropout(self.dropout)]
            n_in = width
        return nn.Sequential(*layers, nn.Linear(n_in, n_out))

    def _train(
        self, E: np.ndarray, y: np.ndarray, E_va: np.ndarray, y_va: np.ndarray, seed: int, deadline: float | None
    ) -> tuple[Any, int]:
        """One network; returns it with its best epoch's weights, and that epoch (counted from 1)."""
        import torch

        from pipeline.training.runtime import resolve_precision

        torch.manual_seed(seed)
        device = torch.device(self.device_)
        regression = self.task == "regression"
        n_out = 1 if regression else len(self.classes_)
        net = self._net(E.shape[1], n_out).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
        rows = self.train_rows_
        X_t = torch.as_tensor(E[rows], device=device)
        y_t = torch.as_tensor(y[rows], dtype=torch.float32 if regression else torch.int64, device=device)
        X_v = torch.as_tensor(E_va, device=device)
        y_v = torch.as_tensor(y_va, dtype=torch.float32 if regression else torch.int64, device=device)
        amp = resolve_precision(self.precision, self.device_, cpu_autocast=False)
        gen = torch.Generator().manual_seed(seed)
        batch = max(16, min(self.batch_size, len(rows) // 4 or 1))
        best_loss, best_epoch, best_state = np.inf, 0, None
        for epoch in range(1, self.max_epochs + 1):
            if deadline is not None and epoch > 1 and time.monotonic() > deadline:
                break
            net.train()
            for idx in torch.randperm(len(rows), generator=gen).split(batch):
                idx = idx.to(device)
                with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                    out = net(X_t[idx])
                    loss = loss_fn(out[:, 0].float() if regression else out.float(), y_t[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                out = net(X_v).float()
                val = float(loss_fn(out[:, 0] if regression else out, y_v)) if len(y_va) else 0.0
            if val < best_loss - 1e-7:
                best_loss, best_epoch = val, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elif epoch - best_epoch >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return net.cpu(), best_epoch

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        E = torch.as_tensor(self._matrix(self.encoder_.transform(pd.DataFrame(X).reset_index(drop=True))))
        outs = []
        with torch.no_grad():
            for net in self.nets_:
                out = net(E).float()
                outs.append(out[:, 0].numpy() if self.task == "regression" else torch.softmax(out, 1).numpy())
        return np.mean(outs, axis=0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels."""
        if self.task == "regression":
            return inverse_target(self._raw(X) * self.y_std_ + self.y_mean_, self.target_transform)
        return self.classes_[self._raw(X).argmax(axis=1)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        return self._raw(X)
