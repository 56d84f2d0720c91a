"""Repeated passages mixed into real windows (repeated random tokens: tests/circuits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuitlab.data.datasets import WindowBatches
from circuitlab.data.synthetic import RepeatedPassageBatches
from circuitlab.errors import DataError


def _base(n_ctx: int = 32, batch: int = 8) -> WindowBatches:
    return WindowBatches(np.arange(1000, dtype=np.uint16), batch_size=batch, n_ctx=n_ctx, seed=0)


def _has_repeat(row: torch.Tensor, min_len: int) -> bool:
    """True when some passage of ``min_len`` tokens appears twice (arange windows have none)."""
    seen = {tuple(row[i : i + min_len].tolist()) for i in range(len(row) - min_len + 1)}
    return len(seen) < len(row) - min_len + 1


@pytest.mark.parametrize("fraction,expected", [(0.0, 0), (0.5, 4), (1.0, 8)], ids=["none", "half", "all"])
def test_repeated_passages_touch_exactly_the_chosen_fraction_of_rows(fraction: float, expected: int) -> None:
    mixed = RepeatedPassageBatches(_base(), fraction=fraction, min_len=6, seed=1)
    w = mixed.windows(3)
    assert w.shape == (8, 33)
    assert sum(_has_repeat(row, 6) for row in w) == expected


def test_repeated_passages_leave_unchosen_rows_equal_to_the_base_windows() -> None:
    base = _base()
    w, raw = RepeatedPassageBatches(base, fraction=0.5, min_len=6).windows(5), base.windows(5)
    changed = (w != raw).any(dim=1)
    assert int(changed.sum()) <= 4
    assert torch.equal(w[~changed], raw[~changed])


def test_repeated_passage_batches_are_a_pure_function_of_seed_and_step() -> None:
    a = RepeatedPassageBatches(_base(), fraction=0.5, seed=2)
    b = RepeatedPassageBatches(_base(), fraction=0.5, seed=2)
    assert torch.equal(a(7).inputs, b(7).inputs)
    batch = a(7)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])


@pytest.mark.parametrize(
    "kwargs",
    [dict(fraction=1.5), dict(min_len=0), dict(min_len=20)],
    ids=["fraction>1", "min_len=0", "too-long"],
)
def test_repeated_passages_reject_bad_settings(kwargs: dict) -> None:
    with pytest.raises(DataError):
        RepeatedPassageBatches(_base(n_ctx=32), **kwargs)


def test_random_passages_are_fresh_random_ids_repeated_later_in_the_row() -> None:
    base = _base(n_ctx=64, batch=4)
    mixed = RepeatedPassageBatches(base, fraction=1.0, min_len=10, max_len=10, passage="random", d_vocab=5000)
    w, raw = mixed.windows(0), base.windows(0)
    for row, orig in zip(w, raw, strict=True):
        changed = (row != orig).nonzero().flatten().tolist()
        assert len(changed) >= 10  # the source passage is new (ids >= 1000 rarely equal arange ids)
        assert _has_repeat(row, 10)
        assert int(row.min()) >= 0 and int(row.max()) < 5000


def test_random_passages_need_the_vocabulary_size() -> None:
    with pytest.raises(DataError, match="d_vocab"):
        RepeatedPassageBatches(_base(), passage="random")
    with pytest.raises(DataError, match="passage"):
        RepeatedPassageBatches(_base(), passage="shuffled")
