"""The tabular recipe's "transformer": a pretrained transformer fine-tuned on the free text of each row.

Kaggle's text competitions (Disaster Tweets, CommonLit, Jigsaw, Feedback Prize) are won by fine-tuning a pretrained
encoder (RoBERTa, DeBERTa-v3) fold by fold, then blending its out-of-fold predictions with the rest: what TextLinear's
TF-IDF n-grams (pipeline/tabular/text.py) cannot read, word order and meaning, such a network has learnt already.
Each row becomes one text: its short columns (categories, codes) then its free-text columns (features.columns'
judgement), each as "name: value", joined by " | " ("keyword: ablaze | text: ..."), tokenized to max_length tokens.
A sequence-classification head on the encoder (transformers' AutoModelForSequenceClassification; with pooling
"mean", the masked mean of its last hidden states under dropout and a linear head: transformer_parts.py) gives the
classes' probabilities (binary, multi-class: cross-entropy) or one value (regression: the target, after
target_transform, standardised inside fit, mean squared error, un-scaled out).

Training: AdamW (no weight decay on biases and norms; with llrd < 1, layer-wise rates: the head's lr, each encoder layer
below it llrd times the one above), a linear warm-up over `warmup` of the optimizer steps then linear or cosine decay,
each step on batch_size * accumulate rows (the gradients of `accumulate` batches summed), fixed epochs: the fold's
validation rows are scored and never pick the weights, so its out-of-fold predictions stay out of sample. Seeded
(random_state: the head's initialisation, dropout, the batches' order). Batches are padded to their longest row;
prediction sorts the rows by length so each batch pads little. The runner's context gives the device (CUDA, with bf16 or
fp16 autocast per `precision`; CPU otherwise, in fp32) and the deadline: training stops at it, keeping time for the
predictions after fit, as the cnn does. Each epoch's batches and dropout are seeded from random_state and the epoch, and
each epoch's end (transformer_epochs.py) writes last.pt in the context's workdir (weights, optimizer, scheduler, scaler,
counters; the weights only once the fit is done), so a fit resumed with context.resume continues from its last epoch and
predicts as one never interrupted; the context's eval_set (the fold's validation rows) is scored with its metric each
epoch, logged, written to history.json and reported to tune's pruner.

Under torchrun (supports_ddp: pipeline/distributed.py) every rank fine-tunes each fold together, the model wrapped in
DDP: each optimizer step's rows are one process's, each rank taking its stride of them (transformer_parts.rank_batches),
each batch's loss weighted by its rows so that DDP's average is the gradient one process takes (with accumulation,
no_sync until the step's last batch); the pooler "mean" leaves unused is kept out of DDP (MeanPooled.unused); dropout
draws from a per-rank seed (rank 0's is one process's); rank 0's clock decides the deadline for every rank, rank 0
alone writes and logs; on resume it finds last.pt and every rank that sees that file reads it itself (the others get
rank 0's copy); predictions (and each epoch's validation) are sharded by rows, each rank's share batched by length,
and gathered, so every rank holds one process's outputs. Its batch size need not split over the ranks. Outside
torchrun all of that is a no-op.

The weights: `arch` is a Hugging Face Hub id, fetched as a snapshot of the repo (config, tokenizer files, weights:
weight_needs, so the runner refuses before touching data when they are not cached and `python -m pipeline weights`
fetches, exports and imports them), or a local folder holding what save_pretrained writes. transformers is imported
only when the model is fitted or loaded.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from features.columns import column_kind
from features.tabular import as_text, named_frame
from pipeline import distributed
from pipeline.tabular.models import fit_target, inverse_target
from pipeline.weight_sources import Need

# the encoder Kaggle's text competitions are usually won with (184M parameters; -large for more, -small/-xsmall for
# less); its tokenizer is converted from the repo's spm.model by sentencepiece (pinned)
DEFAULT_ARCH = "microsoft/deberta-v3-base"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # the repo's weights, best first
TOKENIZER_FILES = ("tokenizer.json", "spm.model", "vocab.txt", "vocab.json", "sentencepiece.bpe.model")
# what a snapshot of a Hub repo fetches: config, tokenizer files, weights (no TF, Flax, ONNX or training files)
SNAPSHOT = (
    "config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "spm.model",
    "sentencepiece.bpe.model",
    "vocab.*",
    "merges.txt",
    *WEIGHT_FILES,
)
SHORT_KINDS = ("category", "high_cardinality")  # columns written before the free text, each as "name: value"
PREDICT_SHARE = 0.35  # a row's prediction takes about this share of its training step's time: the time kept for it


def is_local(arch: str) -> bool:
    """Whether `arch` names a local folder (an existing path, or one written as a path) rather than a Hub id."""
    return arch.startswith((".", "/", "~")) or Path(arch).expanduser().exists()


def weight_needs(arch: str) -> list[Need]:
    """What `arch` needs on this machine: a local folder ("file": it must exist), or a snapshot of a Hub repo."""
    if is_local(arch):
        return [Need(arch, "file", source=arch)]
    return [
        Need(
            arch, "hf", source=arch, files=WEIGHT_FILES, snapshot=SNAPSHOT, together=(("config.json",), TOKENIZER_FILES)
        )
    ]


def model_folder(arch: str) -> str:
    """The folder from_pretrained reads: the local one, else the cached snapshot of the Hub repo, else `arch` itself
    (transformers downloads it, unless HF_HUB_OFFLINE is set)."""
    if is_local(arch):
        return str(Path(arch).expanduser())
    (need,) = weight_needs(arch)
    found = need.cached()
    return str(found.parent) if found is not None else arch


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """transformers without its progress bars and warnings (a run's console shows the runner's own)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def row_texts(X: pd.DataFrame, short: list[str], text: list[str]) -> list[str]:
    """Each row as one text: "name: value" of its short columns then its free-text columns, joined by " | " (a
    missing value left out; a column the rows lack reads as missing)."""
    parts = []
    for c in [*short, *text]:
        values = as_text(X[c]) if c in X else pd.Series("", index=X.index)
        parts.append(np.where(values.str.strip() != "", f"{c}: " + values, ""))
    if not parts:
        return [""] * len(X)
    return [" | ".join(p for p in row if p) for row in zip(*parts, strict=True)]


def _rows_key(frame: pd.DataFrame) -> str:
    """A digest of a frame's columns and cells: the rows _raw predicted last are known again by it, whatever object
    holds them."""
    import hashlib

    cells = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.blake2b(repr(list(frame.columns)).encode() + cells.tobytes(), digest_size=16).hexdigest()


@dataclass(eq=False, repr=False)  # scikit-learn parameters: __init__ stores each as given
class TextTransformer(BaseEstimator):
    """A pretrained transformer fine-tuned on each row's text; predict / predict_proba as the tabular models give."""

    # what its saved file needs at the versions it was trained with (`package` ships their wheels): save_pretrained's
    # files and load arguments change between transformers versions, and the tokenizer is converted by sentencepiece
    NOTEBOOK_DEPS = ("transformers", "sentencepiece")
    supports_ddp = True  # under torchrun every rank trains it together (pipeline/distributed.py)
    ddp_any_batch = (
        True  # any batch_size: each rank takes a stride of each step's rows (transformer_parts.rank_batches)
    )

    task: str = "binary"  # regression | binary | multiclass
    arch: str = DEFAULT_ARCH  # a Hugging Face Hub id or a local folder (save_pretrained's)
    epochs: int = 3
    lr: float = 2e-5  # AdamW's peak learning rate
    batch_size: int = 16
    max_length: int = 256  # tokens a row's text is cut to
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps the learning rate climbs to lr over
    schedule: str = "linear"  # its decay after: "linear" or "cosine"
    target_transform: str | None = None  # regression: "log1p" fits log(1 + y)
    random_state: int = 0
    precision: str = "auto"  # the runner's --precision: bf16 / fp16 autocast on CUDA ("fp32" to turn it off)
    n_jobs: int = 1  # torch's CPU threads during fit (the runner sets it); 0: torch's own
    # the Kaggle recipe (transformer_parts.py): "cls", the model's own sequence-classification head, or "mean", the
    # masked mean of the last hidden states under dropout and a linear head
    pooling: str = "cls"
    llrd: float = 1.0  # layer-wise learning-rate decay: the top layer's lr * llrd, each below llrd times that (1: off)
    accumulate: int = 1  # batches whose gradients are summed into each optimizer step (effective batch: their rows)

    def fit(self, X: pd.DataFrame, y: Any, context: Any = None) -> TextTransformer:
        """Tokenize the rows' texts, then fine-tune the encoder and its head for `epochs` (or to the deadline)."""
        import torch

        from pipeline.tabular.transformer_parts import check_recipe

        check_recipe(self.pooling, self.llrd, self.accumulate)
        self._raw_memo: tuple[str, np.ndarray] | None = None
        if self.schedule not in ("linear", "cosine") or self.epochs < 1 or not 0 <= self.warmup < 1:
            raise ValueError(
                f"TextTransformer: schedule must be 'linear' or 'cosine' (got {self.schedule!r}), epochs 1 or more "
                f"(got {self.epochs}), warmup in [0, 1) (got {self.warmup})."
            )
        X = named_frame(X)
        self._choose_columns(X)
        y_fit, classes = fit_target(np.asarray(y), self.task, self.target_transform)
        if classes is not None:
            self.classes_ = classes
            target = torch.as_tensor(np.asarray(y_fit), dtype=torch.int64)
        else:
            self.y_mean_, self.y_std_ = float(np.mean(y_fit)), float(np.std(y_fit) or 1.0)
            target = torch.as_tensor((np.asarray(y_fit, dtype=np.float64) - self.y_mean_) / self.y_std_)
        self.device_ = str(getattr(context, "device", None) or "cpu")
        self.world_size_ = distributed.world_size()  # > 1: trained by every rank of a torchrun run
        threads = torch.get_num_threads()
        torch.set_num_threads(self.n_jobs if self.n_jobs > 0 else threads)
        try:
            self._load_pretrained(len(classes) if classes is not None else 1)
            ids = self._tokens(X)
            self.steps_done_ = self._train(ids, target.float() if classes is None else target, context)
        finally:
            torch.set_num_threads(threads)
        return self

    def _choose_columns(self, X: pd.DataFrame) -> None:
        """The columns its text is made of: free text (features.columns' judgement) and the short columns before it;
        a table without free text is refused (this model has nothing to read)."""
        kinds = {c: column_kind(X[c]) for c in X.columns}
        self.text_columns_ = [c for c, k in kinds.items() if k == "text"]
        self.short_columns_ = [c for c, k in kinds.items() if k in SHORT_KINDS]
        if not self.text_columns_:
            raise ValueError(
                "TextTransformer: no column holds free text (values averaging two words or more); columns: "
                f"{', '.join(map(str, X.columns[:10]))}. Leave the model 'transformer' out of models."
            )

    def _load_pretrained(self, n_out: int) -> None:
        """The tokenizer and the encoder with a fresh head of n_out outputs (per `pooling`), seeded, on the fit's
        device."""
        from transformers import AutoTokenizer

        from pipeline.tabular.transformer_parts import load_model
        from pipeline.training.runtime import seed_everything

        seed_everything(self.random_state)
        folder = model_folder(self.arch)
        with quiet():  # "Some weights ... newly initialized": the head, as intended
            self.tokenizer_ = AutoTokenizer.from_pretrained(folder)
            self.model_ = load_model(folder, self.pooling, n_out)
        self.model_.to(self.device_)

    def _tokens(self, X: pd.DataFrame) -> list[list[int]]:
        """Each row's token ids, cut to max_length, or to the longest the model reads when that is shorter (the
        tokenizer's model_max_length: 512 for RoBERTa)."""
        texts = row_texts(X, self.short_columns_, self.text_columns_)
        limit = min(self.max_length, int(self.tokenizer_.model_max_length or self.max_length))
        return self.tokenizer_(texts, truncation=True, max_length=limit)["input_ids"]

    def _batch(self, ids: list[list[int]], rows: np.ndarray) -> dict[str, Any]:
        """The rows' ids padded to the longest of them, with the attention mask, on the device."""
        import torch

        pad = self.tokenizer_.pad_token_id or 0
        width = max(len(ids[i]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.int64)
        mask = torch.zeros((len(rows), width), dtype=torch.int64)
        for j, i in enumerate(rows):
            input_ids[j, : len(ids[i])] = torch.as_tensor(ids[i])
            mask[j, : len(ids[i])] = 1
        return {"input_ids": input_ids.to(self.device_), "attention_mask": mask.to(self.device_)}

    def _optimizer(self, steps: int) -> tuple[Any, Any]:
        """AdamW (no weight decay on biases and norms; with llrd < 1 each layer's rate decayed from the head's) and
        the warm-up then linear or cosine decay over `steps` (optimizer steps)."""
        import torch

        from pipeline.tabular.transformer_parts import llrd_scales
        from pipeline.training.optim import make_optimizer, param_groups

        groups = (
            param_groups(self.model_, self.weight_decay, llrd_scales(self.model_, self.llrd)) if self.llrd < 1 else None
        )
        opt = make_optimizer(self.model_, "adamw", self.lr, self.weight_decay, momentum=0.0, groups=groups)
        warm = int(round(self.warmup * steps))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            done = (step - warm) / max(1, steps - warm)
            return max(0.0, 1.0 - done) if self.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * done))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def _train(self, ids: list[list[int]], target: Any, context: Any) -> int:
        """The fine-tuning: `epochs` over shuffled rows (each epoch's order and dropout seeded from random_state and
        the epoch, so a resumed fit replays the epochs it missed), each optimizer step on batch_size * accumulate
        rows (transformer_parts.step_batches; under torchrun each rank's share of them, rank_batches), gradients
        clipped to norm 1 (scaled under fp16); each epoch's end checkpointed, validated and logged
        (transformer_epochs.Epochs; with context.resume, continued from the workdir's last.pt); stops at the context's
        deadline (asked again as the training starts), between optimizer steps, keeping time for the rows predicted
        after fit (PREDICT_SHARE of a row's measured training time each). Returns the optimizer steps done."""
        import torch

        from pipeline.tabular.transformer_epochs import Epochs
        from pipeline.tabular.transformer_parts import step_batches
        from pipeline.training.runtime import epoch_seed

        rt = self._runtime()
        deadline, ask = getattr(context, "deadline", None), getattr(context, "training_deadline", None)
        if deadline is not None and ask is not None:  # the run's share from now: loading the model is not training
            deadline = ask(0.0) or deadline
        predict_rows = int(getattr(context, "predict_rows", 0) or 0)
        n = len(ids)
        per_epoch = math.ceil(n / (self.batch_size * self.accumulate))  # optimizer steps
        opt, sched = self._optimizer(per_epoch * self.epochs)
        scaler = torch.amp.GradScaler(enabled=rt.dtype == torch.float16)  # fp16 gradients scaled against underflow
        key = {"params": {k: v for k, v in self.get_params(deep=False).items() if k != "n_jobs"}, "rows": n}
        book = Epochs(self, context, {"optimizer": opt, "scheduler": sched, "scaler": scaler}, key)
        if book.resume():
            self.model_.eval()
            return book.steps
        self.model_.train()
        rows_done, started = 0, time.monotonic()  # rows of every rank
        with self._network() as net:
            for epoch in range(book.epoch, self.epochs):
                seed, epoch_started, total, counted = epoch_seed(self.random_state, epoch), time.monotonic(), 0.0, 0
                torch.manual_seed(distributed.rank_seed(seed))  # dropout: rank 0's is one process's
                order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
                for batches in step_batches(order, self.batch_size, self.accumulate):
                    if deadline is not None and rows_done and self._late(deadline, started, rows_done, predict_rows):
                        book.log(f"transformer: stopped at the deadline, epoch {epoch + 1}, step {book.steps}")
                        book.save(done=True)
                        self.model_.eval()
                        return book.steps
                    loss, rows = self._step(net, ids, batches, target, rt, opt, scaler)
                    sched.step()
                    book.steps, rows_done = book.steps + 1, rows_done + sum(map(len, batches))
                    total, counted = total + loss, counted + rows
                train_loss, _ = distributed.mean_over_ranks(total, counted)  # the mean over every rank's rows
                book.end_epoch(float(train_loss), sched.get_last_lr()[0], time.monotonic() - epoch_started)
        self.model_.eval()
        return book.steps

    @staticmethod
    def _late(deadline: float, started: float, rows_done: int, predict_rows: int) -> bool:
        """Whether the deadline leaves no time for another step and the predictions after fit (a row's measured
        training time so far x PREDICT_SHARE each); under torchrun rank 0's clock decides for every rank, so all stop
        at the same step."""
        per_row = (time.monotonic() - started) / rows_done
        return bool(distributed.agree(time.monotonic() + per_row * PREDICT_SHARE * predict_rows > deadline))

    @contextlib.contextmanager
    def _network(self) -> Iterator[Any]:
        """What the training's forward runs through: the model itself, or under torchrun (every rank training it
        together) the model wrapped in DDP, which averages the ranks' gradients; built without the parameters no loss
        reaches (MeanPooled.unused: the pooler "mean" leaves unused, requires_grad off while DDP trains, back on
        after). The optimizer was built with them, as in one process, so its groups and checkpoints are one
        process's."""
        if not distributed.active():
            yield self.model_
            return
        unused = self.model_.unused() if hasattr(self.model_, "unused") else []
        for p in unused:
            p.requires_grad_(False)
        net = distributed.wrap(self.model_, self.device_)
        try:
            yield net
        finally:
            if hasattr(net, "_remove_autograd_hooks"):
                net._remove_autograd_hooks()  # the model predicts (and is saved) on its own from here
            for p in unused:
                p.requires_grad_(True)

    def _step(
        self, net: Any, ids: list[list[int]], batches: list[np.ndarray], target: Any, rt: Any, opt: Any, scaler: Any
    ) -> tuple[Any, int]:
        """One optimizer step on the rows of `batches`, under torchrun this rank's share of them
        (transformer_parts.rank_batches): each batch's mean loss (cross-entropy, or mean squared error for a
        regression) weighted so that its gradients, summed over the batches (accumulated) and averaged over the ranks
        by DDP (once, after the step's last batch: no_sync before it), are the mean over the step's rows; then
        unscaled, clipped and stepped once. Returns the summed loss of this rank's rows, a tensor on the device (read
        once an epoch: no wait for the device each step), and their number."""
        import torch

        from pipeline.tabular.transformer_parts import rank_batches

        self._raw_memo = None  # the weights move: an earlier prediction no longer holds
        opt.zero_grad(set_to_none=True)
        mine = rank_batches(batches, distributed.rank(), distributed.world_size())
        total, counted = 0.0, 0
        for i, (rows, weight) in enumerate(mine):
            with distributed.syncing(net, i == len(mine) - 1):  # DDP reduces the gradients at the last batch only
                with rt.autocast():
                    logits = net(**self._batch(ids, rows)).logits.float()
                y = target[rows].to(self.device_)
                if self.task == "regression":
                    loss = torch.nn.functional.mse_loss(logits[:, 0], y)
                else:
                    loss = torch.nn.functional.cross_entropy(logits, y)
                scaler.scale(loss * weight).backward()
            if weight:  # a rank's stand-in row (weight 0) is not one of its rows
                total, counted = total + loss.detach() * len(rows), counted + len(rows)
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        return total, counted

    def _runtime(self) -> Any:
        """Where the fit and its predictions run: the fit's device, in mixed precision per `precision` (CUDA only:
        its autocast a no-op in fp32)."""
        from pipeline.training.runtime import Runtime, resolve_precision

        return Runtime(device=self.device_, dtype=resolve_precision(self.precision, self.device_, cpu_autocast=False))

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        """The head's outputs for the rows: class probabilities, or the standardised value; the rows sorted by
        length into batches of at most twice batch_size, so each pads little, then put back in order. Under torchrun,
        for a model every rank trained, each rank predicts a contiguous share of the sorted rows (shard_range: shares
        differ by at most one row), batched so within it, and the shares are gathered in order, so every rank holds
        every row's (one process's outputs, within float rounding: the batches pad to other widths). The last call's
        outputs are kept, known by the rows' digest, until the next training step: the runner's out-of-fold
        prediction of the rows the last epoch has just scored is that epoch's, not a second pass of the network."""
        import torch

        frame = named_frame(X)
        key = _rows_key(frame)
        memo = getattr(self, "_raw_memo", None)
        if memo is not None and memo[0] == key:  # the last epoch's validation rows, which the runner predicts again
            return memo[1].copy()
        ids = self._tokens(frame)
        order = np.argsort([len(t) for t in ids], kind="stable")
        shard = getattr(self, "world_size_", 1) > 1 and distributed.active()
        lo, hi = distributed.shard_range(len(order)) if shard else (0, len(order))
        batches = np.array_split(order[lo:hi], max(1, math.ceil((hi - lo) / (2 * self.batch_size))))
        width = self.model_.config.num_labels
        mine = [np.zeros((0, width), dtype=np.float64)]
        self.model_.eval()
        with torch.inference_mode(), self._runtime().autocast():
            for rows in batches:
                if len(rows):
                    logits = self.model_(**self._batch(ids, rows)).logits.float()
                    scores = logits if self.task == "regression" else torch.softmax(logits, dim=1)
                    mine.append(scores.cpu().numpy().astype(np.float64))
        done = np.concatenate(mine)
        out = np.zeros((len(ids), width), dtype=np.float64)
        out[order] = distributed.gather_rows(done) if shard else done  # the shares, in rank order, are `order`
        self._raw_memo = (key, out.copy())  # not saved (no trailing underscore); cleared by the next training step
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Values (regression, on the target's scale) or the most probable class."""
        if self.task == "regression":
            return inverse_target(self._raw(X)[:, 0] * self.y_std_ + self.y_mean_, self.target_transform)
        return self.classes_[self._raw(X).argmax(axis=1)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        return self._raw(X)

    def save_fitted(self, path: str | Path) -> None:
        """Write the parameters, the columns, the target's scale and the fine-tuned model and tokenizer (the files
        save_pretrained writes; pooling "mean": the encoder's, and its head's weights beside them) to one file, loaded
        by load_fitted on any device without the Hub."""
        import torch

        left = ("model_", "tokenizer_", "world_size_")  # the model itself, and how many ranks trained it (not saved)
        fitted = {k: v for k, v in vars(self).items() if k.endswith("_") and k not in left}
        mean = self.pooling == "mean"
        with tempfile.TemporaryDirectory() as tmp, quiet():
            self.model_.to("cpu")
            (self.model_.backbone if mean else self.model_).save_pretrained(tmp)
            head = {k: v.clone() for k, v in self.model_.head.state_dict().items()} if mean else None
            self.tokenizer_.save_pretrained(tmp)
            self.model_.to(self.device_)
            files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        blob = {"params": self.get_params(deep=False), "fitted": fitted, "files": files}
        torch.save(blob | ({"head": head} if mean else {}), path)

    @classmethod
    def load_fitted(cls, path: str | Path, device: str | None = None) -> TextTransformer:
        """The TextTransformer save_fitted wrote, on `device` (default: CUDA when available, else the CPU)."""
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        from pipeline.tabular.transformer_parts import MeanPooled
        from pipeline.training.runtime import resolve_device

        blob = torch.load(path, map_location="cpu", weights_only=False)
        est = cls(**blob["params"])
        vars(est).update(blob["fitted"])
        est.device_ = resolve_device(device)
        est.world_size_ = 1  # a loaded model predicts on its own, whoever trained it
        with tempfile.TemporaryDirectory() as tmp, quiet():
            for name, data in blob["files"].items():
                (Path(tmp) / name).write_bytes(data)
            est.tokenizer_ = AutoTokenizer.from_pretrained(tmp)
            if "head" in blob:  # pooling "mean": the encoder, then its head's weights
                backbone = AutoModel.from_pretrained(tmp, dtype=torch.float32)
                est.model_ = MeanPooled(backbone, backbone.config.num_labels)
                est.model_.head.load_state_dict(blob["head"])
            else:
                est.model_ = AutoModelForSequenceClassification.from_pretrained(tmp, dtype=torch.float32)
        est.model_.to(est.device_).eval()
        return est
