"""TrainConfig: nonsense values are refused by name; the schedule follows its equation."""

from __future__ import annotations

import math

import pytest

from circuitlab.errors import ConfigError
from circuitlab.training import TrainConfig


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": 0.0}, "lr=0.0"),
        ({"lr": -1e-3}, "lr=-0.001"),
        ({"lr": float("nan")}, "finite"),
        ({"steps": 0}, "steps=0"),
        ({"batch_size": -4}, "batch_size=-4"),
        ({"grad_accum": 0}, "grad_accum=0"),
        ({"batch_size": 10, "grad_accum": 4}, "divisible"),
        ({"warmup": -1}, "warmup=-1"),
        ({"min_lr": 1.0}, "min_lr=1.0"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"betas": (0.9, 1.5)}, "betas"),
        ({"device": "toaster"}, "device='toaster'"),
        ({"steps": 2.5}, "steps=2.5"),
    ],
    ids=[
        "lr-zero",
        "lr-negative",
        "lr-nan",
        "steps-zero",
        "batch-negative",
        "accum-zero",
        "batch-not-divisible",
        "warmup-negative",
        "min-lr-above-lr",
        "decay-negative",
        "beta-above-1",
        "unknown-device",
        "float-steps",
    ],
)
def test_bad_train_config_is_refused_naming_the_value(changes, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        TrainConfig(**changes)


def test_schedule_warms_up_linearly_then_follows_a_cosine_to_min_lr() -> None:
    cfg = TrainConfig(steps=110, warmup=10, lr=1e-3, min_lr=1e-4)
    assert [cfg.lr_at(s) for s in range(3)] == pytest.approx([1e-4, 2e-4, 3e-4])
    assert cfg.lr_at(9) == pytest.approx(1e-3)
    assert cfg.lr_at(10) == pytest.approx(1e-3)
    assert cfg.lr_at(60) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert cfg.lr_at(110) == pytest.approx(1e-4)
    after = [cfg.lr_at(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(after, after[1:], strict=False))


def test_config_round_trips_through_a_dict_and_refuses_unknown_keys() -> None:
    cfg = TrainConfig(steps=7, lr=2e-3, betas=(0.8, 0.9))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown TrainConfig keys \\['lrate'\\]"):
        TrainConfig.from_dict({**cfg.to_dict(), "lrate": 1})
