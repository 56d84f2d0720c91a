"""TransformerConfig: frozen, validated, round-trips through a dict."""

from __future__ import annotations

import dataclasses
import re

import pytest

from circuitlab.errors import ConfigError
from circuitlab.transformer import TransformerConfig


def test_defaults_are_the_headline_shape() -> None:
    cfg = TransformerConfig()
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_vocab, cfg.n_ctx) == (
        2,
        256,
        8,
        32,
        4096,
        256,
    )
    assert cfg.attn_only and cfg.d_mlp_resolved is None and not cfg.has_mlp


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TransformerConfig().n_layers = 3  # type: ignore[misc]


def test_zero_layers_is_a_valid_bigram_model() -> None:
    assert TransformerConfig(n_layers=0).n_layers == 0


def test_d_mlp_defaults_to_four_d_model_when_the_model_has_mlps() -> None:
    assert TransformerConfig(attn_only=False, d_model=8).d_mlp_resolved == 32
    assert TransformerConfig(attn_only=False, d_model=8, d_mlp=5).d_mlp_resolved == 5


def test_to_dict_from_dict_round_trip() -> None:
    cfg = TransformerConfig(n_layers=1, positional="learned", attn_only=False, d_mlp=12)
    assert TransformerConfig.from_dict(cfg.to_dict()) == cfg


def test_from_dict_names_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="n_layer"):
        TransformerConfig.from_dict({"n_layer": 2})


def test_replace_validates_the_new_config() -> None:
    assert TransformerConfig().replace(n_layers=1).n_layers == 1
    with pytest.raises(ConfigError, match="n_ctx=0"):
        TransformerConfig().replace(n_ctx=0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_layers": 2.5}, "TransformerConfig.n_layers=2.5: must be an integer >= 0"),
        ({"d_vocab": 1}, "TransformerConfig.d_vocab=1: must be an integer >= 2"),
        ({"attn_only": 1}, "TransformerConfig.attn_only=1: must be True or False"),
        ({"ln_eps": "1e-5"}, "TransformerConfig.ln_eps='1e-5': must be a number > 0"),
        ({"init_range": float("inf")}, "TransformerConfig.init_range=inf: must be a finite number > 0"),
        ({"pos_init_range": 0.0}, "TransformerConfig.pos_init_range=0.0: must be a number > 0"),
        ({"pos_init": "zeros"}, "TransformerConfig.pos_init='zeros': choose one of normal, sinusoidal"),
        ({"positional": "alibi"}, "positional='alibi': choose one of sinusoidal, learned"),
        ({"d_mlp": 8}, "d_mlp=8: an attention-only model has no MLP"),
        ({"attn_only": False, "d_mlp": 0}, "TransformerConfig.d_mlp=0: must be an integer >= 1"),
        ({"seed": -1}, "TransformerConfig.seed=-1: must be an integer >= 0"),
    ],
    ids=[
        "fractional-layers",
        "one-token-vocab",
        "attn-only-int",
        "ln-eps-string",
        "init-range-inf",
        "pos-init-range-zero",
        "unknown-pos-init",
        "unknown-positional",
        "d-mlp-attn-only",
        "d-mlp-zero",
        "negative-seed",
    ],
)
def test_bad_values_are_refused_naming_field_value_and_rule(changes, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        TransformerConfig(**changes)


def test_optional_fields_accept_none() -> None:
    cfg = TransformerConfig(pos_init_range=None, attn_only=False, d_mlp=None)
    assert cfg.pos_init_range is None and cfg.d_mlp_resolved == 4 * cfg.d_model
