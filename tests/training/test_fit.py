"""fit: the same updates as a hand-written Adam loop, batches drawn only as needed."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from circuitlab.errors import ConfigError
from circuitlab.training.fit import fit


def _batches(seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    while True:
        x = torch.randn(8, 3, generator=gen)
        yield x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(8, generator=gen)


def _loss(model: nn.Module):
    return lambda b: ((model(b[0]).squeeze(-1) - b[1]) ** 2).mean()


@pytest.mark.parametrize("clip_norm", [None, 0.05], ids=["no-clip", "clip"])
def test_fit_makes_the_same_updates_as_a_hand_written_adam_loop(clip_norm: float | None) -> None:
    torch.manual_seed(0)
    ours = nn.Linear(3, 1)
    theirs = copy.deepcopy(ours)
    losses = fit(ours, _loss(ours), _batches(1), steps=12, lr=0.05, clip_norm=clip_norm)
    opt, expected = torch.optim.Adam(theirs.parameters(), lr=0.05), []
    for _, batch in zip(range(12), _batches(1), strict=False):
        loss = _loss(theirs)(batch)
        opt.zero_grad()
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(theirs.parameters(), clip_norm)
        opt.step()
        expected.append(loss.item())
    assert losses == expected and losses[-1] < losses[0]
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


def test_fit_draws_no_batch_past_the_last_step_and_reports_every_step() -> None:
    drawn: list[int] = []

    def batches() -> Iterator[torch.Tensor]:
        for i in range(100):
            drawn.append(i)
            yield torch.full((2, 1), float(i))

    model = nn.Linear(1, 1)
    seen: list[tuple[int, float]] = []
    losses = fit(
        model, lambda x: model(x).pow(2).mean(), batches(), 5, 1e-3, on_step=lambda s, l: seen.append((s, l))
    )
    assert drawn == [0, 1, 2, 3, 4]
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5] and [l for _, l in seen] == losses


@pytest.mark.parametrize(
    "bad", [dict(steps=0), dict(steps=2.0), dict(lr=0.0)], ids=["zero-steps", "float-steps", "lr"]
)
def test_fit_rejects_bad_settings_with_a_config_error(bad: dict) -> None:
    model = nn.Linear(1, 1)
    kwargs = {"steps": 3, "lr": 1e-3, **bad}
    with pytest.raises(ConfigError):
        fit(model, lambda x: model(x).sum(), iter([torch.ones(1, 1)] * 3), **kwargs)
