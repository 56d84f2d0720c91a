"""QK/OV circuits and virtual weights equal the dense products and what the model computes."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import close, tiny, tokens_for

from circuitlab.circuits import (
    FactoredMatrix,
    full_ov_circuit,
    full_qk_circuit,
    positional_qk_circuit,
    stack_head_results,
    virtual_weights,
)
from circuitlab.errors import ConfigError


@torch.no_grad()
def test_model_qk_and_ov_are_factored_w_q_w_k_t_and_w_v_w_o():
    model = tiny()
    assert isinstance(model.QK, FactoredMatrix) and model.QK.shape == (2, 3, 16, 16)
    close(model.QK.AB, model.W_Q @ model.W_K.transpose(-2, -1))
    close(model.OV.AB, model.W_V @ model.W_O)
    close(model.QK[1, 2].AB, model.blocks[1].attn.W_Q[2] @ model.blocks[1].attn.W_K[2].T)


@torch.no_grad()
def test_full_ov_circuit_is_w_e_w_ov_w_u_without_layernorm():
    model = tiny(normalization="none")
    for layer, head in [(0, 0), (1, 2)]:
        ov = full_ov_circuit(model, layer, head)
        assert ov.shape == (23, 23) and ov.mdim == 4
        close(ov.AB, model.W_E @ model.W_V[layer, head] @ model.W_O[layer, head] @ model.W_U)
    assert full_ov_circuit(model, 1).shape == (3, 23, 23)


@torch.no_grad()
def test_full_ov_circuit_folds_layernorm_centering_and_scale_weights():
    model = tiny()
    C = torch.eye(16) - 1 / 16
    W_V = C @ torch.diag(model.blocks[0].ln1.w) @ model.W_V[0, 1]
    W_U = C @ torch.diag(model.ln_final.w) @ model.W_U
    close(full_ov_circuit(model, 0, 1).AB, model.W_E @ W_V @ model.W_O[0, 1] @ W_U)
    close(full_ov_circuit(model, 0, 1, fold_ln=False).AB, model.W_E @ model.OV[0, 1].AB @ model.W_U)


@torch.no_grad()
def test_full_ov_row_is_the_logit_effect_of_attending_to_that_token():
    """A 1-layer LN-free model whose head attends only to position 0 adds W_E[t0] W_OV W_U to the logits."""
    model = tiny(n_layers=1, normalization="none", positional="none")
    for p in (model.blocks[0].attn.b_V, model.blocks[0].attn.b_O):
        p.zero_()
    tokens = tokens_for(model)

    def attend_to_first(pattern, hook):
        out = torch.zeros_like(pattern)
        out[..., 0] = 1
        return out

    with model.hooks([("blocks.0.attn.hook_pattern", attend_to_first)]):
        _, cache = model.run_with_cache(tokens, names_filter=["blocks.0.attn.hook_z"])
    writes = stack_head_results(cache, 0, include_bias=False).components  # [h, b, p, d]
    ov = full_ov_circuit(model, 0)
    for h in range(3):
        expected = ov.AB[h][tokens[:, 0]]  # [b, d_vocab]
        close(writes[h] @ model.W_U, expected[:, None].expand(-1, tokens.shape[1], -1))


@torch.no_grad()
def test_full_qk_circuit_gives_the_attention_scores_of_a_token_only_model():
    model = tiny(n_layers=1, normalization="none", positional="none")
    for p in (model.blocks[0].attn.b_Q, model.blocks[0].attn.b_K):
        p.zero_()
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_attn_scores")
    scores = cache["attn_scores", 0] * math.sqrt(model.cfg.d_head)  # [b, h, q, k]
    qk = full_qk_circuit(model, 0).AB  # [h, vocab_q, vocab_k]
    expected = qk[:, tokens[:, :, None], tokens[:, None, :]].permute(1, 0, 2, 3)
    causal = torch.ones(12, 12, dtype=torch.bool).tril()
    close(scores[..., causal], expected[..., causal], tol=1e-4)


@torch.no_grad()
def test_positional_qk_circuit_gives_the_scores_of_a_shortformer_model_without_token_signal():
    model = tiny(n_layers=1, normalization="none", positional="shortformer")
    model.embed.W_E.zero_()
    for p in (model.blocks[0].attn.b_Q, model.blocks[0].attn.b_K):
        p.zero_()
    tokens = tokens_for(model)
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.attn.hook_attn_scores")
    scores = cache["attn_scores", 0][0] * math.sqrt(model.cfg.d_head)
    pos_qk = positional_qk_circuit(model, 0).AB  # [h, n_ctx, n_ctx]
    causal = torch.ones(12, 12, dtype=torch.bool).tril()
    close(scores[:, causal], pos_qk[:, causal], tol=1e-4)


@torch.no_grad()
def test_positional_qk_circuit_does_not_fold_layernorm_into_shortformer_positions():
    model = tiny(positional="shortformer")
    expected = model.W_pos @ model.QK[0, 1].AB @ model.W_pos.T
    close(positional_qk_circuit(model, 0, 1).AB, expected)
    learned = tiny(positional="learned")
    assert not torch.allclose(
        positional_qk_circuit(learned, 0, 1).AB,
        learned.W_pos @ learned.QK[0, 1].AB @ learned.W_pos.T,
        atol=1e-3,
    )


@torch.no_grad()
@pytest.mark.parametrize(
    "writer, reader, left, right",
    [
        ("embed", "L1H0.k", lambda m: m.W_E, lambda m: m.W_K[1, 0]),
        ("L0H1", "L1H2.v", lambda m: m.W_O[0, 1], lambda m: m.W_V[1, 2]),
        ("L0H2", "mlp0", lambda m: m.W_O[0, 2], lambda m: m.W_in[0]),
        ("mlp0", "L1H1.q", lambda m: m.W_out[0], lambda m: m.W_Q[1, 1]),
        ("mlp1", "unembed", lambda m: m.W_out[1], lambda m: m.W_U),
        ("pos_embed", "L0H0.q", lambda m: m.W_pos, lambda m: m.W_Q[0, 0]),
    ],
    ids=[
        "embed-to-key",
        "head-to-value",
        "head-to-mlp-same-layer",
        "mlp-to-query",
        "mlp-to-unembed",
        "pos-to-query",
    ],
)
def test_virtual_weights_are_the_writer_times_the_reader(writer, reader, left, right):
    model = tiny(attn_only=False, d_mlp=8, normalization="none", positional="learned")
    vw = virtual_weights(model, writer, reader)
    assert isinstance(vw, FactoredMatrix)
    close(vw.AB, left(model) @ right(model))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: full_ov_circuit(m, 0, 3), "head 3 out of range"),
        (lambda m: full_qk_circuit(m, 2, 0), "layer 2 out of range"),
        (lambda m: full_ov_circuit(m, -1, 0), "layer -1 out of range"),
        (lambda m: virtual_weights(m, "L1H0", "L0H0.q"), "writes after"),
        (lambda m: virtual_weights(m, "L0H0", "L0H1.q"), "writes after"),
        (lambda m: virtual_weights(m, "pos_embed", "L1H0.v"), "only Q and K"),
        (lambda m: virtual_weights(m, "head0", "unembed"), "writer 'head0'"),
        (lambda m: virtual_weights(m, "embed", "L0H0.z"), "reader 'L0H0.z'"),
        (lambda m: virtual_weights(m, "mlp0", "unembed"), "attention-only"),
        (lambda m: virtual_weights(m, "L0H7", "unembed"), "head 7 out of range"),
    ],
    ids=[
        "head-too-big",
        "layer-too-big",
        "negative-layer",
        "writer-after-reader",
        "same-layer-heads",
        "shortformer-pos-to-value",
        "bad-writer",
        "bad-reader",
        "no-mlp",
        "writer-head-too-big",
    ],
)
def test_bad_circuit_requests_raise_config_errors(call, match):
    with pytest.raises(ConfigError, match=match):
        call(tiny(positional="shortformer"))


def test_positional_circuit_of_a_model_without_positions_is_refused():
    with pytest.raises(ConfigError, match='positional="none"'):
        positional_qk_circuit(tiny(positional="none"), 0, 0)
