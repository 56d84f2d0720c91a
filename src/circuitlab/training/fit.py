"""``fit``: Adam on a loss for a fixed number of steps, for the small nets that need no Trainer.

One step on a batch ``x`` of the stream::

    L = loss_fn(x);   g = dL/dtheta;   g <- g * min(1, clip_norm / ||g||)   (when clip_norm is set);
    theta <- Adam(theta, g, lr)                                            (torch.optim.Adam)

The perceptron, MLP, RNN/LSTM and VAE train in seconds on tensors already in memory; the
:func:`circuitlab.training.train` loop (schedules, evaluation, checkpoints, torchrun) is for the
transformers. Callers draw their own batches (seeded generators), so a run is a pure function of
its seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from torch import Tensor, nn

from circuitlab.errors import ConfigError

B = TypeVar("B")


def fit(
    model: nn.Module,
    loss_fn: Callable[[B], Tensor],
    batches: Iterable[B],
    steps: int,
    lr: float,
    *,
    clip_norm: float | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place with ``torch.optim.Adam(lr)`` on ``loss_fn(batch)``.

    Takes at most ``steps`` batches from ``batches`` (no batch is drawn past the last step, so a
    seeded generator behind it is left where a hand-written loop would leave it). ``on_step(step,
    loss)`` runs after each update, ``step`` counting from 1. Returns the loss of every step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"fit steps={steps!r}: must be an integer >= 1")
    if not lr > 0:
        raise ConfigError(f"fit lr={lr!r}: must be a positive learning rate")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for step, batch in zip(range(1, steps + 1), batches, strict=False):
        loss = loss_fn(batch)
        opt.zero_grad()
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        opt.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


__all__ = ["fit"]
