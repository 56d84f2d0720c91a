"""Shared pieces of the classic-net experiments: data, seeding, figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from circuitlab.experiments.base import RunContext


def seed_text(*fragments: str) -> str:
    """The seed document's own words, joined (kept verbatim; see ../shared/seed)."""
    return " ".join(fragments)


@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits (bundled, no download), pixels scaled to [0, 1]."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(seed: int, test_fraction: float = 0.25, device: str = "cpu") -> Digits:
    """A stratified train/test split of ``sklearn.datasets.load_digits`` (1797 images)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(
        x, data.target, test_size=test_fraction, random_state=seed, stratify=data.target
    )
    t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Digits(t(xtr, torch.float32), t(ytr, torch.long), t(xte, torch.float32), t(yte, torch.long))


def minibatches(n: int, batch: int, steps: int, generator: torch.Generator):
    """``steps`` index tensors of ``batch`` rows drawn from ``range(n)`` (reshuffled each epoch)."""
    order, pos = torch.randperm(n, generator=generator), 0
    for _ in range(steps):
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=generator), 0
        yield order[pos : pos + batch]
        pos += batch


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(ctx: RunContext, fig, name: str) -> str:
    """Write ``fig`` as ``classic/<name>.png`` under the run folder; return its relative path."""
    path: Path = ctx.path("classic", f"{name}.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return ctx.rel(path)
