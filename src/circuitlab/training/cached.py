"""Load the trained model from its checkpoint folder, or train it there.

A checkpoint folder written by :func:`circuitlab.training.train` is reused when it holds a model
built from the same config that finished every step; one that stopped early (Ctrl-C, a crash) is
resumed with the same training config; an empty folder trains from scratch. A folder holding a
checkpoint that cannot be reused or resumed (another model or training config, ``fresh=True``) is
never overwritten: :func:`~circuitlab.training.train` raises a CheckpointError that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from circuitlab.errors import CheckpointError
from circuitlab.training.checkpoint import CHECKPOINT_JSON, load_checkpoint
from circuitlab.training.config import TrainConfig
from circuitlab.training.loop import LossFn, TrainResult, train


@dataclass(frozen=True)
class Trained:
    """The model (eval mode) and how it came to be: ``result`` is None when it was loaded."""

    model: nn.Module
    result: TrainResult | None

    @property
    def reloaded(self) -> bool:
        return self.result is None


def finished_model(folder: str | Path, config: Any, steps: int, device: str = "cpu") -> nn.Module | None:
    """The model saved in ``folder`` if it was built from ``config`` and trained all ``steps``."""
    folder = Path(folder)
    if not (folder / CHECKPOINT_JSON).is_file():
        return None
    try:
        ckpt = load_checkpoint(folder, device)
    except CheckpointError:
        return None
    return ckpt.model if ckpt.config == config and ckpt.step == steps else None


def train_or_load(
    build: Callable[[Any], nn.Module],
    config: Any,
    loss_fn: LossFn,
    batches: Callable[[int], Any],
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    fresh: bool = False,
    **train_kwargs: Any,
) -> Trained:
    """``build(config)`` trained with ``cfg`` into ``out_dir``, or loaded from there when finished.

    ``train_kwargs`` go to :func:`circuitlab.training.train` (``val_batches``, ``callbacks``,
    ``tokenizer``). ``fresh`` neither loads nor resumes (``out_dir`` must then hold no
    checkpoint). A run stopped by Ctrl-C returns its ``result`` with ``interrupted`` set: the
    caller decides what a half-trained model is worth.
    """
    out = Path(out_dir)
    model = None if fresh else finished_model(out, config, cfg.steps, cfg.device)
    if model is not None:
        return Trained(model, None)
    model = build(config)
    resume = not fresh and (out / CHECKPOINT_JSON).is_file()
    result = train(model, loss_fn, batches, cfg, out_dir=out, resume=resume, **train_kwargs)
    return Trained(model.eval(), result)


__all__ = ["Trained", "finished_model", "train_or_load"]
