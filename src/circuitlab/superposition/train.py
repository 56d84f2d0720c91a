"""Training the toy models: fresh synthetic data every step, Adam, all instances at once."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.errors import ConfigError, TrainingError
from circuitlab.superposition.toy_model import ToyModel

Schedule = Literal["constant", "cosine"]


@dataclass
class ToyTrainResult:
    """What ``train_toy_model`` did: the loss of each instance over training.

    ``loss_history: [n_logged, n_instances]`` logged every ``log_every`` steps at ``logged_steps``;
    ``final_loss: [n_instances]`` is the loss of the last step.
    """

    steps: int
    batch: int
    lr: float
    seconds: float
    logged_steps: list[int]
    loss_history: Float[Tensor, "n_logged n_instances"]
    final_loss: Float[Tensor, " n_instances"]


def _lr_factor(schedule: Schedule, step: int, steps: int) -> float:
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / steps))


def train_toy_model(
    model: ToyModel,
    steps: int = 10_000,
    batch: int = 1024,
    lr: float = 1e-3,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    schedule: Schedule = "constant",
    log_every: int = 100,
) -> ToyTrainResult:
    """Train every instance of ``model`` in place on its own sparsity: Adam on
    sum_instances E_x sum_i I_i (x_i - x'_i)^2 (each instance's loss is independent, so the sum
    gives each its own gradient). Data is drawn fresh each step from ``generator`` (or a new one
    seeded with ``seed``) on the model's device."""
    for name, value, limit in (("steps", steps, 1), ("batch", batch, 1), ("log_every", log_every, 1)):
        if value < limit:
            raise ConfigError(f"{name} = {value} is below {limit}; give {name} >= {limit}")
    if not lr > 0:
        raise ConfigError(f"lr = {lr} must be > 0; try 1e-3")
    if schedule not in ("constant", "cosine"):
        raise ConfigError(f"schedule = {schedule!r}; expected 'constant' or 'cosine'")
    if generator is None:
        generator = torch.Generator(device=model.W.device)
        generator.manual_seed(0 if seed is None else seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[Tensor] = []
    logged: list[int] = []
    start = time.perf_counter()
    loss_i = torch.zeros(model.cfg.n_instances)
    for step in range(steps):
        if schedule != "constant":
            for group in opt.param_groups:
                group["lr"] = lr * _lr_factor(schedule, step, steps)
        x = model.generate_batch(batch, generator)
        loss_i = model.loss_per_instance(x, model(x))
        opt.zero_grad(set_to_none=True)
        loss_i.sum().backward()
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            detached = loss_i.detach().cpu()
            if not bool(torch.isfinite(detached).all()):
                raise TrainingError(
                    f"toy-model loss became {detached.tolist()} at step {step}; lower lr ({lr})"
                )
            history.append(detached)
            logged.append(step)
    return ToyTrainResult(
        steps=steps,
        batch=batch,
        lr=lr,
        seconds=time.perf_counter() - start,
        logged_steps=logged,
        loss_history=torch.stack(history),
        final_loss=loss_i.detach().cpu(),
    )
