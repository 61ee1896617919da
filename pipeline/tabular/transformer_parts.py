"""The transformer's Kaggle fine-tuning recipe (pipeline/tabular/transformer.py): its settings' checks, the mean-pooled
head, the layer-wise learning rates and the batches of gradient accumulation.

What CommonLit's, Feedback Prize's and LLM-detect's winners fine-tuned with beside the encoder itself:
- pooling "mean": the attention-masked mean of the encoder's last hidden states, dropout, a linear head (AutoModel and
  MeanPooled below), where "cls" keeps the model's own sequence-classification head (its first token, for BERT through
  a pooler);
- layer-wise learning-rate decay: the head at lr, the encoder's top layer lr * d, the next lr * d^2, ..., the
  embeddings lr * d^(L + 1) (L layers): the layers nearest the input, the most general, move least;
- gradient accumulation: each optimizer step's rows cut into up to `accumulate` batches, their gradients summed
  (each batch's loss weighted by its share of the step's rows), so a large effective batch fits a small GPU;
- under torchrun (pipeline/distributed.py), each rank's share of a step (rank_batches) and the pooler that "mean"
  leaves unused taken out of DDP's reduction (MeanPooled.unused).

Imported when a model is fitted or loaded (it imports torch and transformers).
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

import numpy as np
import torch
from torch import nn

POOLINGS = ("cls", "mean")
LAYER = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")  # BERT's, RoBERTa's and DeBERTa-v2's encoder layers
# below the layers: the embeddings, and what DeBERTa-v2's encoder holds outside its layers (its relative position
# embeddings and their norm, encoder.rel_embeddings and encoder.LayerNorm)
EMBEDDING = re.compile(r"embeddings|(?:^|\.)encoder\.(?!layer\.)")


def check_recipe(pooling: Any, llrd: Any, accumulate: Any) -> None:
    """Refuse a pooling, layer-wise decay or accumulation that cannot work, naming its TabularRecipe setting."""
    if pooling not in POOLINGS:
        raise ValueError(f"TextTransformer: transformer_pooling must be 'cls' or 'mean'; got {pooling!r}.")
    if isinstance(llrd, bool) or not isinstance(llrd, numbers.Real) or not 0.0 < llrd <= 1.0:
        raise ValueError(
            f"TextTransformer: transformer_llrd, the layer-wise learning-rate decay, must be in (0, 1] (1: off; "
            f"0.7-0.95 is usual); got {llrd!r}."
        )
    if isinstance(accumulate, bool) or not isinstance(accumulate, numbers.Integral) or accumulate < 1:
        raise ValueError(
            f"TextTransformer: transformer_accumulate, the batches summed into each optimizer step, must be a whole "
            f"number of at least 1; got {accumulate!r}."
        )


class MeanPooled(nn.Module):
    """An encoder (transformers' AutoModel) under the masked mean of its last hidden states, dropout (the encoder's
    hidden_dropout_prob) and a linear head of n_out outputs, initialised as transformers initialises its heads; its
    forward gives `.logits` as a sequence-classification model does."""

    def __init__(self, backbone: nn.Module, n_out: int) -> None:
        super().__init__()
        config = backbone.config
        config.num_labels = n_out  # written with the encoder's config: load_fitted reads the head's size from it
        self.backbone, self.config = backbone, config
        self.dropout = nn.Dropout(float(getattr(config, "hidden_dropout_prob", 0.1) or 0.0))
        self.head = nn.Linear(config.hidden_size, n_out)
        nn.init.normal_(self.head.weight, std=float(getattr(config, "initializer_range", 0.02)))
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        """The head's outputs (`.logits`, one row per text) from the mean of the text's tokens, padding left out."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return SequenceClassifierOutput(logits=self.head(self.dropout(pooled)))

    def unused(self) -> list[nn.Parameter]:
        """The parameters no loss reaches: the encoder's own pooler (BERT's, RoBERTa's), computed by AutoModel's
        forward and never read here. They never get a gradient, so AdamW never moves them; DDP, which waits for every
        trainable parameter's gradient, must be built without them (requires_grad off while it trains)."""
        pooler = getattr(self.backbone, "pooler", None)
        return list(pooler.parameters()) if isinstance(pooler, nn.Module) else []


def load_model(folder: str, pooling: str, n_out: int) -> nn.Module:
    """The pretrained encoder in `folder` with a fresh head of n_out outputs: its own sequence-classification head
    ("cls") or MeanPooled's ("mean"), in fp32."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    if pooling == "cls":
        return AutoModelForSequenceClassification.from_pretrained(
            folder, num_labels=n_out, ignore_mismatched_sizes=True, dtype=torch.float32
        )
    return MeanPooled(AutoModel.from_pretrained(folder, dtype=torch.float32), n_out)


def llrd_scales(model: nn.Module, decay: float) -> dict[str, float]:
    """Each parameter's learning rate as a multiple of lr: 1 for the head (and pooler, classifier), decay^k for the
    encoder layer k from the top (encoder.layer.<i>: k = L - i), decay^(L + 1) for the embeddings; a model whose
    layers are not named so is refused."""
    names = [n for n, _ in model.named_parameters()]
    layers = {n: int(m.group(1)) for n in names if (m := LAYER.search(n))}
    if not layers:
        raise ValueError(
            f"TextTransformer: transformer_llrd needs the encoder's layers, named encoder.layer.<i> as BERT, RoBERTa "
            f"and DeBERTa-v2 name them; {type(model).__name__} has none (parameters: {', '.join(names[:4])}, ...). "
            "Leave transformer_llrd at 1.0 for this model."
        )
    top = max(layers.values()) + 1
    depth = {n: top - layers[n] if n in layers else top + 1 if EMBEDDING.search(n) else 0 for n in names}
    return {n: float(decay) ** k for n, k in depth.items()}


def step_batches(order: np.ndarray, batch_size: int, accumulate: int) -> list[list[np.ndarray]]:
    """An epoch's rows, in `order`, as its optimizer steps, each a list of its batches: ceil(rows / (batch_size *
    accumulate)) steps of near-equal rows, each cut into up to `accumulate` batches of at most batch_size rows, so a
    step holds the same rows whatever the split (accumulate 1: one batch a step, as without accumulation)."""
    steps = math.ceil(len(order) / (batch_size * accumulate))
    return [[b for b in np.array_split(rows, accumulate) if len(b)] for rows in np.array_split(order, steps)]


def rank_batches(batches: list[np.ndarray], rank: int, world: int) -> list[tuple[np.ndarray, float]]:
    """One optimizer step's `batches` (step_batches') as rank `rank` of `world` trains them, each with the weight its
    mean loss is multiplied by before backward: its rows x world / the step's rows. The rank takes rows r, r + world,
    ... of the step, cut into as many batches as the step has (up to `accumulate`, empty ones left out), so each rank's
    batches hold about batch_size / world rows. DDP averages the ranks' gradients (divides their sum by world), so the
    step's gradient is the mean over all of its rows, as one process's, however unevenly they split over the ranks. A
    rank left without a row (a step of fewer rows than ranks) forwards the step's first row at weight 0, so it still
    joins the step's all-reduce. In one process (world 1): the batches themselves, each weighted by its share of the
    step's rows."""
    rows = sum(map(len, batches))
    if world == 1:
        return [(b, len(b) / rows) for b in batches]
    share = np.concatenate(batches)[rank::world]
    mine = [(b, len(b) * world / rows) for b in np.array_split(share, len(batches)) if len(b)]
    return mine or [(batches[0][:1], 0.0)]
