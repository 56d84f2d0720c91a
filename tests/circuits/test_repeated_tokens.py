"""repeated_random_tokens (the one copy, circuits.heads): BOS + R + R, R never the BOS, seeded privately."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.circuits import repeated_random_tokens


def test_the_readme_call_gives_bos_then_the_same_half_twice() -> None:
    t = cl.circuits.repeated_random_tokens(512, half_len=30, batch=4)
    assert t.shape == (4, 61) and t.dtype == torch.long
    assert (t[:, 0] == 0).all() and torch.equal(t[:, 1:31], t[:, 31:])
    assert int(t[:, 1:].min()) >= 1 and int(t.max()) < 512  # R never holds the BOS id 0


@pytest.mark.parametrize("bos", [0, 7, None], ids=["bos-0", "bos-7", "no-bos"])
def test_r_is_uniform_over_the_ids_other_than_the_bos(bos: int | None) -> None:
    t = repeated_random_tokens(10, half_len=2000, batch=2, seed=1, bos=bos)
    r = t[:, 1:2001] if bos is not None else t[:, :2000]
    ids = set(r.unique().tolist())
    assert ids == set(range(10)) - {bos}


def test_the_tokens_depend_only_on_the_seed_not_the_global_rng() -> None:
    torch.manual_seed(1)
    a = repeated_random_tokens(100, 16, 2, seed=9)
    torch.manual_seed(2)
    assert torch.equal(a, repeated_random_tokens(100, 16, 2, seed=9))
    assert not torch.equal(a, repeated_random_tokens(100, 16, 2, seed=10))
