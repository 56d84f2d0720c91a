"""scikit-learn's 8x8 digits for the MLP and VAE claims: a stratified split and seeded minibatches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from circuitlab.typing import Float, Int, Tensor


@dataclass(frozen=True)
class Digits:
    """``load_digits`` (1797 images, bundled, no download): pixels / 16 in [0, 1], ``x: [n, 64]``."""

    x_train: Float[Tensor, "n 64"]
    y_train: Int[Tensor, " n"]
    x_test: Float[Tensor, "m 64"]
    y_test: Int[Tensor, " m"]


def load_digits_split(seed: int, test_fraction: float = 0.25, device: str = "cpu") -> Digits:
    """A stratified train/test split of ``sklearn.datasets.load_digits`` (``random_state=seed``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(
        x, data.target, test_size=test_fraction, random_state=seed, stratify=data.target
    )
    t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Digits(t(xtr, torch.float32), t(ytr, torch.long), t(xte, torch.float32), t(yte, torch.long))


def minibatches(
    n: int, batch: int, steps: int, generator: torch.Generator
) -> Iterator[Int[Tensor, " batch"]]:
    """``steps`` index tensors of ``batch`` rows drawn from ``range(n)`` (reshuffled each epoch)."""
    order, pos = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=generator), 0
        yield order[pos : pos + batch]
        pos += batch
