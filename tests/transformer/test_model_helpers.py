"""The model helpers TransformerLens users reach for: counts, labels, directions, biases."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model, tokens

from circuitlab.errors import ConfigError, ShapeError


def test_n_params_counts_the_hidden_weights_and_n_params_total_everything() -> None:
    model = tiny_model(attn_only=False, d_mlp=8)
    c = model.cfg
    assert model.n_params == c.n_layers * (4 * c.d_model * c.n_heads * c.d_head + 2 * c.d_model * 8)
    assert model.n_params_total == sum(p.numel() for p in model.parameters()) > model.n_params
    assert model.device == torch.device("cpu")


def test_all_head_labels_run_over_layers_then_heads() -> None:
    assert tiny_model().all_head_labels() == ["L0H0", "L0H1", "L1H0", "L1H1"]


def test_tokens_to_residual_directions_are_unembedding_columns() -> None:
    model = tiny_model()
    toks = tokens(batch=2, pos=3)
    directions = model.tokens_to_residual_directions(toks)
    assert directions.shape == (2, 3, model.cfg.d_model)
    torch.testing.assert_close(directions[1, 2], model.W_U[:, toks[1, 2]])
    torch.testing.assert_close(model.tokens_to_residual_directions(5), model.W_U[:, 5])
    torch.testing.assert_close(model.tokens_to_residual_directions(torch.tensor([5])), model.W_U[:, 5])
    with pytest.raises(ConfigError):
        model.tokens_to_residual_directions(2.5)


def test_the_final_residual_dotted_with_a_direction_is_the_logit_minus_its_bias() -> None:
    model = tiny_model(normalization="none")
    toks = tokens(batch=1, pos=4)
    resid = model(toks, stop_at_layer=model.cfg.n_layers)
    logit = resid[0, -1] @ model.tokens_to_residual_directions(7)
    torch.testing.assert_close(logit + model.b_U[7], model(toks)[0, -1, 7])


def test_accumulated_bias_sums_the_output_biases_below_a_layer() -> None:
    model = tiny_model(attn_only=False, d_mlp=8)
    b0, b1 = (model.blocks[l] for l in range(2))
    assert (model.accumulated_bias(0) == 0).all()
    torch.testing.assert_close(model.accumulated_bias(1), b0.attn.b_O + b0.mlp.b_out)
    torch.testing.assert_close(
        model.accumulated_bias(1, mlp_input=True), b0.attn.b_O + b0.mlp.b_out + b1.attn.b_O
    )
    torch.testing.assert_close(model.accumulated_bias(2, include_mlp_biases=False), b0.attn.b_O + b1.attn.b_O)
    with pytest.raises(ConfigError, match="no block 2"):
        model.accumulated_bias(2, mlp_input=True)
    torch.testing.assert_close(tiny_model().accumulated_bias(1), tiny_model().blocks[0].attn.b_O)


def test_W_E_pos_stacks_token_and_position_embeddings() -> None:
    model = tiny_model(positional="learned")
    assert model.W_E_pos.shape == (model.cfg.d_vocab + model.cfg.n_ctx, model.cfg.d_model)
    torch.testing.assert_close(model.W_E_pos[model.cfg.d_vocab :], model.W_pos)
    with pytest.raises(ShapeError, match="no W_pos"):
        _ = tiny_model(positional="none").W_E_pos
