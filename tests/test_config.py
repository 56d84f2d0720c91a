"""The one config base: JSON round trips, one set of checks, the same mistake refused alike everywhere."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pytest

import circuitlab as cl
from circuitlab.config import (
    Config,
    check_bool,
    check_choice,
    check_int,
    check_ints,
    check_number,
    config_or_fields,
)
from circuitlab.errors import ConfigError
from circuitlab.nets import MLPConfig, PerceptronConfig, RecurrentConfig, VAEConfig
from circuitlab.superposition import SAEConfig, ToyModelConfig
from circuitlab.training import TrainConfig


@dataclass(frozen=True)
class Box(Config):
    n: int
    sizes: tuple[int, ...] = (1, 2)
    table: tuple[tuple[float, ...], ...] = ((0.5, 1.0),)
    rate: float = 0.1
    flag: bool = True
    mode: str = "a"
    cap: int | None = None

    def __post_init__(self) -> None:
        check_int(self, "n", low=0)
        check_ints(self, "sizes", low=1, min_len=2)
        check_number(self, "rate", low=0, high=1, strict_low=True)
        check_bool(self, "flag")
        check_choice(self, "mode", ("a", "b"))
        check_int(self, "cap", low=1, optional=True)


def test_to_dict_is_what_json_reads_back_and_from_dict_restores_the_config() -> None:
    box = Box(3, sizes=(4, 5, 6), table=((0.25, 0.5), (1.0, 0.0)), cap=7)
    data = box.to_dict()
    assert data == json.loads(json.dumps(data))
    assert data["sizes"] == [4, 5, 6] and data["table"] == [[0.25, 0.5], [1.0, 0.0]]
    back = Box.from_dict(json.loads(json.dumps(data)))
    assert back == box and hash(back) == hash(box)


def test_from_dict_refuses_unknown_keys_by_name_and_non_objects() -> None:
    with pytest.raises(ConfigError, match=r"unknown Box keys \['nn'\]; known keys"):
        Box.from_dict({"n": 1, "nn": 2})
    with pytest.raises(ConfigError, match="needs a JSON object, got list"):
        Box.from_dict([1])  # type: ignore[arg-type]


def test_replace_validates_and_configs_are_frozen() -> None:
    assert Box(1).replace(n=2).n == 2
    with pytest.raises(ConfigError, match="Box.n=-1: must be an integer >= 0"):
        Box(1).replace(n=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Box(1).n = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n": 2.5}, r"Box.n=2.5: must be an integer >= 0"),
        ({"n": 2.0}, r"Box.n=2.0: must be an integer >= 0"),
        ({"n": True}, r"Box.n=True: must be an integer >= 0"),
        ({"n": "3"}, r"Box.n='3': must be an integer >= 0"),
        ({"sizes": (4,)}, r"sizes=\(4,\): must be a tuple of at least 2 integers, each >= 1"),
        ({"sizes": (4, 0)}, r"sizes=\(4, 0\): must be a tuple"),
        ({"sizes": [4, 5]}, r"sizes=\[4, 5\]: must be a tuple"),
        ({"rate": 0}, r"rate=0: must be a number > 0 and <= 1"),
        ({"rate": 1.5}, r"rate=1.5: must be a number > 0 and <= 1"),
        ({"rate": float("nan")}, r"rate=nan: must be a finite number > 0 and <= 1"),
        ({"rate": "0.1"}, r"rate='0.1': must be a number > 0"),
        ({"rate": False}, r"rate=False: must be a number"),
        ({"flag": 1}, r"flag=1: must be True or False"),
        ({"mode": "c"}, r"mode='c': choose one of a, b"),
        ({"cap": 0}, r"cap=0: must be an integer >= 1"),
    ],
    ids=[
        "int-fraction",
        "int-float",
        "int-bool",
        "int-string",
        "ints-too-short",
        "ints-zero",
        "ints-list",
        "number-at-strict-low",
        "number-above-high",
        "number-nan",
        "number-string",
        "number-bool",
        "bool-int",
        "choice-unknown",
        "optional-int-zero",
    ],
)
def test_each_check_refuses_with_one_line_naming_the_field_value_and_rule(changes, message) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        Box(**{"n": 1, **changes})
    assert "\n" not in str(err.value)


def test_an_unbounded_number_must_be_finite() -> None:
    @dataclass(frozen=True)
    class Free(Config):
        x: float

        def __post_init__(self) -> None:
            check_number(self, "x")

    assert Free(-1e9).x == -1e9
    with pytest.raises(ConfigError, match="Free.x=inf: must be a finite number$"):
        Free(float("inf"))


def test_config_or_fields_takes_a_config_or_its_fields_never_both() -> None:
    cfg = Box(2, sizes=(3, 4))
    assert config_or_fields(Box, cfg) is cfg
    assert config_or_fields(Box, 2, sizes=[3, 4], rate=None) == cfg  # lists frozen, None = default
    with pytest.raises(ConfigError, match=r"Box given together with \['rate'\]; pass the config alone"):
        config_or_fields(Box, cfg, rate=0.5)
    with pytest.raises(ConfigError, match="expected a Box, got a VAEConfig"):
        config_or_fields(Box, VAEConfig(1, 1, 1))


# One mistake, one answer, whichever model: a fractional integer field is refused by name.
FRACTIONAL = [
    (lambda: MLPConfig(sizes=(5, 2.5)), "MLPConfig.sizes"),
    (lambda: VAEConfig(4, 2.5, 2), "VAEConfig.d_hidden=2.5"),
    (lambda: PerceptronConfig(2.5), "PerceptronConfig.d_in=2.5"),
    (lambda: RecurrentConfig(3, 4, n_layers=2.5), "RecurrentConfig.n_layers=2.5"),
    (lambda: ToyModelConfig.create(5, 2.5), "ToyModelConfig.d_hidden=2.5"),
    (lambda: SAEConfig(d_in=4, expansion=2.5), "SAEConfig.expansion=2.5"),
    (lambda: cl.TransformerConfig(n_layers=2.5), "TransformerConfig.n_layers=2.5"),
    (lambda: TrainConfig(steps=2.5), "TrainConfig.steps=2.5"),
]


@pytest.mark.parametrize(
    ("build", "where"),
    FRACTIONAL,
    ids=["mlp", "vae", "perceptron", "recurrent", "toy_model", "sae", "transformer", "train"],
)
def test_every_config_refuses_a_fractional_integer_the_same_way(build, where) -> None:
    with pytest.raises(ConfigError, match=rf"^{where}.*: must be .*integer"):
        build()


@pytest.mark.parametrize(
    "cfg",
    [
        MLPConfig(sizes=(5, 3)),
        VAEConfig(4, 3, 2),
        PerceptronConfig(5, dtype="float16"),
        ToyModelConfig.create(3, 2, 2, importance=[1.0, 0.5, 0.25], feature_probability=[1.0, 0.1]),
        SAEConfig(d_in=4),
        cl.TransformerConfig(n_layers=1),
        TrainConfig(betas=(0.8, 0.9)),
    ],
    ids=lambda c: type(c).__name__,
)
def test_every_config_is_a_frozen_config_that_survives_json(cfg: Config) -> None:
    assert isinstance(cfg, Config) and type(cfg).__dataclass_params__.frozen  # type: ignore[attr-defined]
    back = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.to_dict() == cfg.to_dict()
