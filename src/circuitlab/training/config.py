"""TrainConfig: one frozen, validated description of a training run."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from circuitlab.config import Config, check_bool, check_int, check_number, is_number
from circuitlab.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig(Config):
    """Optimizer, schedule and bookkeeping of ``circuitlab.training.train``.

    ``batch_size`` is the global batch of one optimizer step, split into ``grad_accum`` micro
    batches (and across processes under torchrun). The learning rate warms up linearly over
    ``warmup`` steps, then follows a cosine from ``lr`` down to ``min_lr`` at ``steps``.
    A ``warmup`` longer than the run simply never reaches ``lr``.
    ``eval_every`` / ``checkpoint_every`` of 0 mean only at the end; ``grad_clip`` of 0 means off.
    """

    steps: int = 1000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    batch_size: int = 16
    grad_accum: int = 1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 8
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (
            ("steps", 1),
            ("batch_size", 1),
            ("grad_accum", 1),
            ("warmup", 0),
            ("eval_every", 0),
            ("eval_batches", 1),
            ("checkpoint_every", 0),
            ("seed", 0),
        ):
            check_int(self, name, low=low)
        for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
            check_number(self, name)
        check_bool(self, "progress")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr={self.lr!r}: the learning rate must be > 0 (try 1e-3)")
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"TrainConfig.min_lr={self.min_lr!r}: must be in [0, lr={self.lr}]")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("TrainConfig.weight_decay and grad_clip must be >= 0 (grad_clip 0 is off)")
        if self.batch_size % self.grad_accum:
            raise ConfigError(
                f"TrainConfig.batch_size={self.batch_size}: must be divisible by grad_accum={self.grad_accum}"
            )
        betas = self.betas if isinstance(self.betas, tuple | list) else ()
        if len(betas) != 2 or not all(is_number(b) and 0 <= b < 1 for b in betas):
            raise ConfigError(f"TrainConfig.betas={self.betas!r}: need two numbers in [0, 1)")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ConfigError(f"TrainConfig.device={self.device!r}: use cpu, cuda or cuda:N") from None

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based).

        ``lr * (step + 1) / warmup`` during warmup, then
        ``min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2`` with ``t = (step - warmup) / (steps - warmup)``.
        """
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.min_lr + (self.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
