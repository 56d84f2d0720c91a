"""TransformerConfig: frozen, validated, round-trips through a dict."""

from __future__ import annotations

import dataclasses

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
