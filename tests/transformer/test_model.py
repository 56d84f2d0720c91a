"""The whole transformer: the bigram limit, hook names, shortformer, caching, seeded init."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_cfg, tiny_model, tokens

from circuitlab.transformer import Transformer, TransformerConfig

DESIGN_HOOKS = [
    "hook_embed",
    "hook_pos_embed",
    "blocks.{l}.hook_resid_pre",
    "blocks.{l}.attn.hook_q",
    "blocks.{l}.attn.hook_k",
    "blocks.{l}.attn.hook_v",
    "blocks.{l}.attn.hook_z",
    "blocks.{l}.attn.hook_attn_scores",
    "blocks.{l}.attn.hook_pattern",
    "blocks.{l}.attn.hook_result",
    "blocks.{l}.hook_attn_out",
    "blocks.{l}.hook_resid_mid",
    "blocks.{l}.mlp.hook_pre",
    "blocks.{l}.mlp.hook_post",
    "blocks.{l}.hook_mlp_out",
    "blocks.{l}.hook_resid_post",
    "ln_final.hook_normalized",
]


@pytest.mark.parametrize("normalization", ["layernorm", "none"])
def test_zero_layer_model_is_W_E_W_U_plus_b_U_through_ln_final(normalization: str) -> None:
    model = tiny_model(n_layers=0, positional="none", normalization=normalization)
    toks = tokens()
    x = model.W_E[toks]
    if normalization == "layernorm":
        x = F.layer_norm(x, (x.shape[-1],), model.ln_final.w, model.ln_final.b, model.cfg.ln_eps)
    torch.testing.assert_close(model(toks), x @ model.W_U + model.b_U)


def test_every_design_hook_exists_on_an_mlp_model_with_the_right_shapes() -> None:
    model = tiny_model(attn_only=False, positional="learned")
    expected = {name.format(l=layer) for name in DESIGN_HOOKS for layer in range(2)}
    missing = expected - set(model.hook_names)
    assert not missing
    model.set_use_attn_result(True)  # per-head results are off by default, as in TransformerLens
    _, cache = model.run_with_cache(tokens(batch=2, pos=5))
    optional = {n for n in model.hook_names if n.endswith(("_input", "hook_attn_in", "hook_mlp_in"))}
    assert len(optional) == 10 and set(cache) == set(model.hook_names) - optional
    c = model.cfg
    assert cache["blocks.1.attn.hook_q"].shape == (2, 5, c.n_heads, c.d_head)
    assert cache["blocks.1.attn.hook_pattern"].shape == (2, c.n_heads, 5, 5)
    assert cache["blocks.1.attn.hook_result"].shape == (2, 5, c.n_heads, c.d_model)
    assert cache["blocks.1.mlp.hook_post"].shape == (2, 5, c.d_mlp_resolved)
    assert cache["ln_final.hook_scale"].shape == (2, 5, 1)


def test_attention_only_blocks_have_no_mlp_hooks() -> None:
    names = tiny_model().hook_names
    assert not [n for n in names if re.search(r"mlp|resid_mid", n)]


def test_shortformer_positions_never_enter_the_residual_stream() -> None:
    model = tiny_model(positional="shortformer")
    toks = tokens()
    _, cache = model.run_with_cache(toks)
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"], model.W_E[toks], rtol=0, atol=0)
    # Moving every position still changes the logits: positions reach the queries and keys.
    with torch.no_grad():
        model.pos_embed.W_pos.add_(1.0)
    _, moved = model.run_with_cache(toks)
    torch.testing.assert_close(moved["blocks.0.hook_resid_pre"], cache["blocks.0.hook_resid_pre"])
    assert not torch.allclose(moved["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_q"])
    torch.testing.assert_close(moved["blocks.0.attn.hook_v"], cache["blocks.0.attn.hook_v"])


def test_shortformer_matches_adding_positions_to_query_and_key_inputs() -> None:
    model = tiny_model(positional="shortformer", n_layers=1)
    toks = tokens()
    attn, pos = model.blocks[0].attn, model.W_pos[: toks.shape[1]]
    x = model.blocks[0].ln1(model.W_E[toks])
    resid = model.W_E[toks] + attn(x + pos, x + pos, x)
    torch.testing.assert_close(model(toks), model.unembed(model.ln_final(resid)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_learned_and_sinusoidal_positions_are_added_to_the_residual_stream(positional: str) -> None:
    model = tiny_model(positional=positional)
    toks = tokens()
    _, cache = model.run_with_cache(toks, names_filter="blocks.0.hook_resid_pre")
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"], model.W_E[toks] + model.W_pos[:10])


@pytest.mark.parametrize("positional", ["shortformer", "learned", "sinusoidal", "none"])
def test_run_with_cache_returns_the_same_logits_as_forward(positional: str) -> None:
    model = tiny_model(positional=positional, attn_only=positional != "none")
    toks = tokens()
    logits, cache = model.run_with_cache(toks)
    torch.testing.assert_close(logits, model(toks), atol=1e-5, rtol=1e-5)
    optional = ("hook_result", "_input", "hook_attn_in", "hook_mlp_in")  # off unless switched on
    assert set(cache) == {n for n in model.hook_names if not n.endswith(optional)}


def test_one_dimensional_tokens_are_one_sequence() -> None:
    model = tiny_model()
    toks = tokens(batch=1)
    torch.testing.assert_close(model(toks[0]), model(toks))


def test_init_is_deterministic_from_cfg_seed_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = Transformer(tiny_cfg(seed=5)), Transformer(tiny_cfg(seed=5))
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    c = Transformer(tiny_cfg(seed=6))
    assert not torch.equal(a.W_E, c.W_E)


def test_stacked_weight_properties_have_transformer_lens_shapes() -> None:
    model = tiny_model(attn_only=False)
    c = model.cfg
    assert model.W_Q.shape == (2, c.n_heads, c.d_model, c.d_head)
    assert model.W_O.shape == (2, c.n_heads, c.d_head, c.d_model)
    assert model.b_Q.shape == (2, c.n_heads, c.d_head)
    assert model.W_in.shape == (2, c.d_model, c.d_mlp_resolved)
    assert model.W_E.shape == (c.d_vocab, c.d_model) and model.W_U.shape == (c.d_model, c.d_vocab)
    torch.testing.assert_close(model.W_K[1], model.blocks[1].attn.W_K)
    torch.testing.assert_close(model.QK.AB, model.W_Q @ model.W_K.transpose(-2, -1))
    torch.testing.assert_close(model.OV.AB, model.W_V @ model.W_O)


def test_training_step_reaches_every_parameter() -> None:
    model = tiny_model(positional="learned", attn_only=False)
    toks = tokens()
    logits = model(toks[:, :-1])
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), toks[:, 1:].reshape(-1)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "shortformer"])
def test_hook_pos_embed_is_batch_pos_d_model_and_an_edit_takes_effect(positional: str) -> None:
    model = Transformer(
        TransformerConfig(
            n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=6, positional=positional
        )
    )
    tokens = torch.randint(0, 20, (3, 5), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens, names_filter="hook_pos_embed")
    assert cache["hook_pos_embed"].shape == (3, 5, 16)
    torch.testing.assert_close(cache["hook_pos_embed"][2], model.W_pos[:5])
    zeroed = model.run_with_hooks(tokens, fwd_hooks=[("hook_pos_embed", lambda p, h: torch.zeros_like(p))])
    no_pos = Transformer(model.cfg)
    no_pos.load_state_dict(model.state_dict())
    with torch.no_grad():
        no_pos.pos_embed.W_pos.zero_()
    torch.testing.assert_close(zeroed, no_pos(tokens))


def test_an_in_place_edit_of_hook_pos_embed_takes_effect_for_one_sequence_only() -> None:
    model = Transformer(
        TransformerConfig(
            n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=6, positional="learned"
        )
    )
    tokens = torch.randint(0, 20, (2, 5), generator=torch.Generator().manual_seed(0))

    def zero_first(p: torch.Tensor, hook) -> None:
        p[0] = 0  # in place, on the first sequence only

    W_pos = model.W_pos.detach().clone()
    edited = model.run_with_hooks(tokens, fwd_hooks=[("hook_pos_embed", zero_first)])
    torch.testing.assert_close(edited[1], model(tokens)[1])
    assert not torch.allclose(edited[0], model(tokens)[0])
    assert torch.equal(model.W_pos, W_pos)  # the edit touched the activation, not the weight
