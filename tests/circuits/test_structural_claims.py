"""The Mathematical Framework's structural claims, as property tests on random small transformers.

- Heads are independent and additive: attn_out = sum_h z^h W_O^h + b_O.
- W_OV (and W_QK) can be refactored: W_V M, M^-1 W_O leaves every output unchanged.
- The residual stream has no privileged basis: rotating it by an orthogonal R, with every
  writer W -> W R and reader W -> R^T W, leaves the logits of a LayerNorm-free model unchanged.
  LayerNorm breaks this twice: its centering singles out the all-ones direction, and its
  elementwise w singles out the coordinate axes. With a constant w (b rotated with the stream)
  and a rotation that fixes the all-ones direction, the invariance comes back.
- Direct logit attributions sum to the logits.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import random_orthogonal, rotate_residual, tiny, tokens_for

from circuitlab.circuits import logit_attrs, stack_head_results

SETTINGS = settings(max_examples=12, deadline=None)


@st.composite
def configs(draw, min_layers: int = 0):
    attn_only = draw(st.booleans())
    return dict(
        n_layers=draw(st.integers(min_layers, 2)),
        d_model=draw(st.sampled_from([4, 6, 8])),
        n_heads=draw(st.integers(1, 3)),
        d_head=draw(st.integers(2, 4)),
        d_vocab=draw(st.integers(5, 16)),
        n_ctx=draw(st.integers(3, 7)),
        attn_only=attn_only,
        d_mlp=None if attn_only else draw(st.integers(2, 6)),
        positional=draw(st.sampled_from(["sinusoidal", "learned", "shortformer", "none"])),
        normalization=draw(st.sampled_from(["layernorm", "none"])),
        seed=draw(st.integers(0, 1000)),
    )


def double(overrides) -> torch.nn.Module:
    return tiny(**overrides).double()


def close(x, y, tol=1e-9):
    torch.testing.assert_close(x, y, rtol=tol, atol=tol)


@torch.no_grad()
@SETTINGS
@given(configs())
def test_heads_are_independent_and_additive(cfg):
    model = double(cfg)
    model.set_use_attn_result(True)  # cache hook_result (off by default, as in TransformerLens)
    _, cache = model.run_with_cache(tokens_for(model, seed=cfg["seed"]))
    for layer in range(model.cfg.n_layers):
        heads = stack_head_results(cache, layer)
        close(heads.total(), cache["attn_out", layer])
        result = cache["result", layer]  # [b, p, h, d]: the model's own per-head writes
        close(result.sum(-2) + model.blocks[layer].attn.b_O, cache["attn_out", layer])


@torch.no_grad()
@SETTINGS
@given(configs())
def test_direct_logit_attributions_sum_to_the_logits(cfg):
    model = double(cfg)
    tokens = tokens_for(model, seed=cfg["seed"])
    logits, cache = model.run_with_cache(tokens)
    answers = torch.roll(tokens, 1, dims=1)
    dla = logit_attrs(cache, answers)
    close(dla.attrs.sum(0), logits.gather(-1, answers[..., None])[..., 0], tol=1e-8)


def well_conditioned(d: int, seed: int) -> torch.Tensor:
    """Q diag(s) with s in [0.5, 2]: invertible with condition number <= 4."""
    gen = torch.Generator().manual_seed(seed)
    s = 0.5 + 1.5 * torch.rand(d, generator=gen, dtype=torch.float64)
    return random_orthogonal(d, seed) * s


@torch.no_grad()
@SETTINGS
@given(configs(min_layers=1), st.sampled_from(["OV", "QK"]))
def test_w_ov_and_w_qk_can_be_refactored_without_changing_any_output(cfg, which):
    model = double(cfg)
    tokens = tokens_for(model, seed=cfg["seed"])
    logits, cache = model.run_with_cache(tokens)
    other = copy.deepcopy(model)
    for layer, block in enumerate(other.blocks):
        M = well_conditioned(model.cfg.d_head, cfg["seed"] + layer)
        M_inv = torch.linalg.inv(M)
        a = block.attn
        if which == "OV":  # (W_V M)(M^-1 W_O) = W_V W_O; b_V M keeps v = x W_V M + b_V M = (x W_V + b_V) M
            a.W_V.copy_(a.W_V @ M)
            a.b_V.copy_(a.b_V @ M)
            a.W_O.copy_(M_inv @ a.W_O)
        else:  # (W_Q M)(W_K M^-T)^T = W_Q W_K^T, and the same for the biases
            a.W_Q.copy_(a.W_Q @ M)
            a.b_Q.copy_(a.b_Q @ M)
            a.W_K.copy_(a.W_K @ M_inv.T)
            a.b_K.copy_(a.b_K @ M_inv.T)
    new_logits, new_cache = other.run_with_cache(tokens)
    close(new_logits, logits, tol=1e-8)
    for name in cache:
        if not name.endswith(("hook_q", "hook_k", "hook_v", "hook_z")):
            close(new_cache[name], cache[name], tol=1e-8)
    moved = "hook_v" if which == "OV" else "hook_q"
    assert not torch.allclose(new_cache[f"blocks.0.attn.{moved}"], cache[f"blocks.0.attn.{moved}"])


@torch.no_grad()
@SETTINGS
@given(configs(), st.integers(0, 1000))
def test_rotating_the_residual_stream_of_a_layernorm_free_model_leaves_the_logits_unchanged(cfg, rseed):
    model = double({**cfg, "normalization": "none"})
    tokens = tokens_for(model, seed=cfg["seed"])
    R = random_orthogonal(model.cfg.d_model, rseed)
    rotated = rotate_residual(model, R)
    logits, cache = model.run_with_cache(tokens)
    new_logits, new_cache = rotated.run_with_cache(tokens)
    close(new_logits, logits, tol=1e-8)
    close(new_cache["hook_embed"], cache["hook_embed"] @ R)  # the stream itself is rotated
    if model.cfg.n_layers:
        close(new_cache["pattern", 0], cache["pattern", 0])


def layernorm_model(w_constant: bool, seed: int = 0) -> torch.nn.Module:
    model = tiny(seed=seed, attn_only=False, d_mlp=8, positional="learned").double()
    if w_constant:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(".w"):
                    p.fill_(1.0)
    return model


def max_logit_change(model, R) -> float:
    tokens = tokens_for(model)
    return (rotate_residual(model, R)(tokens) - model(tokens)).abs().max().item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layernorm_with_constant_w_is_invariant_to_rotations_that_fix_the_all_ones_direction(seed):
    model = layernorm_model(w_constant=True, seed=seed)
    R = random_orthogonal(16, seed, fix_ones=True)
    torch.testing.assert_close(R @ torch.ones(16, dtype=torch.float64), torch.ones(16, dtype=torch.float64))
    assert max_logit_change(model, R) < 1e-9


@pytest.mark.parametrize(
    "w_constant, fix_ones",
    [(True, False), (False, True), (False, False)],
    ids=["centering-breaks-general-rotations", "elementwise-w-breaks-ones-fixing-rotations", "both"],
)
def test_layernorm_gives_the_residual_stream_a_privileged_direction(w_constant, fix_ones):
    model = layernorm_model(w_constant)
    assert max_logit_change(model, random_orthogonal(16, 7, fix_ones=fix_ones)) > 1e-3
