"""What a training step needs, knowing no model: the language-model loss, the optimizer, and the
plumbing that moves, counts and splits a batch of any shape (tensor, dataclass, dict, tuple)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from circuitlab.errors import TrainingError
from circuitlab.training.config import TrainConfig


def next_token_loss(model: nn.Module, batch: Any) -> Tensor:
    """Mean cross-entropy of ``model(batch.inputs)`` against ``batch.targets`` (language modelling).

    A model whose class sets ``computes_lm_loss = True`` (circuitlab's Transformer) computes it
    itself through ``forward(inputs, return_type="loss", targets=...)``, without materialising
    the logits; any other model returns logits and the loss is taken here. Either way the call
    goes through ``model``'s forward, so DistributedDataParallel still synchronises gradients."""
    inner = getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
    if getattr(inner, "computes_lm_loss", False):
        return model(batch.inputs, return_type="loss", targets=batch.targets).float()
    logits = model(batch.inputs)
    return F.cross_entropy(logits.flatten(0, -2).float(), batch.targets.flatten())


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (biases and norm gains are not decayed)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=cfg.betas)


def map_tensors(batch: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a batch (tensor, dataclass, dict, tuple or list)."""
    if isinstance(batch, Tensor):
        return fn(batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(
            batch,
            **{f.name: map_tensors(getattr(batch, f.name), fn) for f in dataclasses.fields(batch) if f.init},
        )
    if isinstance(batch, dict):
        return {k: map_tensors(v, fn) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(map_tensors(v, fn) for v in batch)
    return batch


def batch_rows(batch: Any) -> tuple[int, int]:
    """(rows, tokens) of a batch: the first dim and element count of its first tensor."""
    found: list[Tensor] = []
    map_tensors(batch, lambda t: found.append(t) or t)
    if not found:
        raise TrainingError(
            f"a batch of type {type(batch).__name__} holds no tensor; return tensors "
            "(or a dataclass/dict/tuple of them) from train_batches(step)"
        )
    return found[0].shape[0], found[0].numel()


def split_batch(batch: Any, parts: int, index: int) -> Any:
    """Rows ``[index * n / parts, (index + 1) * n / parts)`` of every tensor in the batch."""
    rows, _ = batch_rows(batch)
    if rows % parts:
        raise TrainingError(
            f"batch of {rows} rows cannot be split into {parts} equal parts; make "
            "batch_size divisible by grad_accum x number of processes"
        )
    size = rows // parts
    return map_tensors(batch, lambda t: t[index * size : (index + 1) * size])
