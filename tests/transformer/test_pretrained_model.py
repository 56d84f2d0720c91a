"""The pretrained families' model-level choices: tied embeddings, the new config fields'
validation, and configs of earlier checkpoints loading unchanged."""

from __future__ import annotations

import pytest
import torch

from circuitlab.errors import ConfigError
from circuitlab.transformer import Transformer, TransformerConfig


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"n_key_value_heads": 3}, "n_key_value_heads=3: must divide n_heads=8"),
        ({"n_key_value_heads": 0}, "n_key_value_heads=0: must be an integer >= 1"),
        ({"rotary_dim": 7}, "rotary_dim=7: must be even and <= d_head=32"),
        ({"rotary_dim": 34}, "rotary_dim=34: must be even and <= d_head=32"),
        ({"rotary_base": -1.0}, "rotary_base=-1.0: must be a number > 0"),
        ({"mlp": "swiglu"}, "mlp='swiglu': choose one of plain, gated"),
        ({"mlp": "gated"}, "an attention-only model has no MLP"),
        ({"parallel_attn_mlp": True}, "an attention-only model has no MLP"),
        ({"tie_embeddings": 1}, "tie_embeddings=1: must be True or False"),
        ({"ln_bias": "no"}, "ln_bias='no': must be True or False"),
        ({"activation": "swish"}, "activation='swish': choose one of gelu, relu, gelu_new, silu"),
    ],
    ids=[
        "kv-not-dividing",
        "kv-zero",
        "rotary-odd",
        "rotary-wide",
        "base-negative",
        "mlp-unknown",
        "gated-attn-only",
        "parallel-attn-only",
        "tie-int",
        "ln-bias-str",
        "activation-unknown",
    ],
)
def test_the_new_fields_are_validated_with_the_shared_checks(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TransformerConfig(**changes)


def test_tied_embeddings_store_one_matrix_that_both_ends_train() -> None:
    cfg = TransformerConfig(
        n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=6, tie_embeddings=True
    )
    model = Transformer(cfg)
    assert "unembed.W_U" not in model.state_dict() and model.W_U.data_ptr() == model.W_E.data_ptr()
    toks = torch.arange(6)[None] % 11
    logits, cache = model.run_with_cache(toks)
    torch.testing.assert_close(cache["unembed.hook_out"], logits)  # the same hooks as an untied model
    torch.testing.assert_close(
        logits, model.ln_final(cache["blocks.0.hook_resid_post"]) @ model.W_E.T + model.b_U
    )
    loss = model(toks, return_type="loss")
    (grad,) = torch.autograd.grad(loss, model.W_E)
    assert grad[toks[0, :-1]].abs().sum() > 0 and grad[10].abs().sum() > 0  # read and written rows


def test_configs_of_earlier_checkpoints_load_with_the_new_defaults() -> None:
    old = {
        k: v
        for k, v in TransformerConfig().to_dict().items()
        if k
        in (
            "n_layers",
            "d_model",
            "n_heads",
            "d_head",
            "d_vocab",
            "n_ctx",
            "attn_only",
            "d_mlp",
            "positional",
            "normalization",
            "activation",
            "ln_eps",
            "init_range",
            "seed",
        )
    }
    cfg = TransformerConfig.from_dict(old)
    assert (cfg.mlp, cfg.n_kv_heads, cfg.parallel_attn_mlp, cfg.tie_embeddings, cfg.ln_bias) == (
        "plain",
        cfg.n_heads,
        False,
        False,
        True,
    )
    assert sorted(Transformer(cfg).state_dict()) == sorted(Transformer(TransformerConfig()).state_dict())
