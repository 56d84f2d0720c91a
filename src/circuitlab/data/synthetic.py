"""Synthetic token data for finding induction heads.

Repeated random tokens (Olsson et al. 2022, "In-context Learning and Induction Heads"; made by
``circuitlab.circuits.repeated_random_tokens``): a BOS token, then ``n`` tokens drawn uniformly
at random, then the same ``n`` tokens again,

    tokens = [BOS, r_1, ..., r_n, r_1, ..., r_n]          (length 2n + 1)

The first copy cannot be predicted; the second can, but only by looking back in the context:
an induction head at position n + i attends to the token after the earlier r_i (position
i + 1) and copies it. A model whose second-half loss is far below its first-half loss is
learning in context.

``RepeatedPassageBatches`` mixes that structure into real text: in a chosen fraction of the
training windows a passage of the window is copied to a later place in the same window, so
the second copy is predictable by induction (``passage="corpus"``); with ``passage="random"``
the passage is first overwritten by uniform random ids, an R + R inside real text. Either is a
curriculum, not the corpus; an experiment that uses it must say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from circuitlab.data.datasets import Batch, WindowBatches
from circuitlab.errors import DataError
from circuitlab.typing import Int, Tensor


def _positive_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise DataError(f"{name}={value!r}: must be an integer >= {low}")
    return value


@dataclass(frozen=True)
class RepeatedPassageBatches:
    """Windows of real text where ``fraction`` of the rows hold a passage repeated later.

    For each chosen row of a window ``w`` of ``n_ctx + 1`` tokens, a length
    ``L ~ U[min_len, max_len]`` and positions ``src < dst`` with ``dst >= src + L`` are drawn, and
    ``w[dst : dst + L] = w[src : src + L]``. With ``passage="random"``, ``w[src : src + L]`` is
    first set to ids uniform in ``[1, d_vocab)`` (id 0, usually the end-of-text token, is left
    out). Like ``WindowBatches``, ``batch(step)`` is a pure function of ``(seed, step)``.
    ``max_len`` defaults to ``(n_ctx + 1) // 2``.
    """

    base: WindowBatches
    fraction: float = 0.5
    min_len: int = 8
    max_len: int | None = None
    seed: int = 0
    passage: str = "corpus"
    d_vocab: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise DataError(f"RepeatedPassageBatches fraction={self.fraction!r}: must be in [0, 1]")
        if self.passage not in ("corpus", "random"):
            raise DataError(f"RepeatedPassageBatches passage={self.passage!r}: choose corpus or random")
        if self.passage == "random" and (not isinstance(self.d_vocab, int) or self.d_vocab < 3):
            raise DataError(
                f"RepeatedPassageBatches d_vocab={self.d_vocab!r}: passage='random' needs the "
                "vocabulary size (an integer >= 3) to draw ids from"
            )
        _positive_int("RepeatedPassageBatches min_len", self.min_len)
        if self.longest < self.min_len:
            raise DataError(
                f"RepeatedPassageBatches max_len={self.longest}: must be >= min_len={self.min_len} "
                f"and <= (n_ctx + 1) // 2 = {(self.base.n_ctx + 1) // 2}; lower min_len or raise n_ctx"
            )

    @property
    def longest(self) -> int:
        half = (self.base.n_ctx + 1) // 2
        return half if self.max_len is None else min(self.max_len, half)

    def windows(self, step: int) -> Int[Tensor, "batch pos"]:
        """The base windows ``[batch, n_ctx + 1]`` with passages repeated in ``fraction`` of rows."""
        w = self.base.windows(step).clone()
        rng = np.random.default_rng([self.seed, 0x1D, step])
        n_rows = int(round(self.fraction * w.shape[0]))
        size = w.shape[1]
        for row in rng.permutation(w.shape[0])[:n_rows]:
            length = int(rng.integers(self.min_len, self.longest + 1))
            src = int(rng.integers(0, size - 2 * length + 1))
            dst = int(rng.integers(src + length, size - length + 1))
            if self.passage == "random":
                w[row, src : src + length] = torch.from_numpy(rng.integers(1, self.d_vocab, length))
            w[row, dst : dst + length] = w[row, src : src + length]
        return w

    def __call__(self, step: int) -> Batch:
        w = self.windows(step)
        return Batch(inputs=w[:, :-1], targets=w[:, 1:])


__all__ = ["RepeatedPassageBatches"]
