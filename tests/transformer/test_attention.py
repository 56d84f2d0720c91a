"""Causal multi-head attention against torch's SDPA and a naive one-head-at-a-time loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_model, tokens

from circuitlab.hooks import ReadsOnly
from circuitlab.transformer.attention import Attention, softmax_into

D_MODEL, N_HEADS, D_HEAD, N_CTX = 12, 3, 4, 9


@pytest.fixture
def attn() -> Attention:
    a = Attention(D_MODEL, N_HEADS, D_HEAD, N_CTX)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in a.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return a


def x_of(batch: int = 2, pos: int = 7, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, pos, D_MODEL, generator=torch.Generator().manual_seed(seed))


def naive_attention(a: Attention, x_q, x_k, x_v) -> torch.Tensor:
    """One head at a time, one query at a time, straight from the equations."""
    batch, n, _ = x_q.shape
    out = torch.zeros(batch, n, D_MODEL) + a.b_O
    for h in range(N_HEADS):
        q = x_q @ a.W_Q[h] + a.b_Q[h]
        k = x_k @ a.W_K[h] + a.b_K[h]
        v = x_v @ a.W_V[h] + a.b_V[h]
        for i in range(n):
            scores = (q[:, i : i + 1] @ k[:, : i + 1].transpose(1, 2)) / math.sqrt(D_HEAD)
            z = torch.softmax(scores, -1) @ v[:, : i + 1]
            out[:, i] += (z @ a.W_O[h])[:, 0]
    return out


def sdpa_reference(a: Attention, x_q, x_k, x_v) -> torch.Tensor:
    def heads(x, W, b):
        return torch.einsum("bpd,hde->bhpe", x, W) + b[None, :, None]

    q, k, v = heads(x_q, a.W_Q, a.b_Q), heads(x_k, a.W_K, a.b_K), heads(x_v, a.W_V, a.b_V)
    z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return torch.einsum("bhpe,hed->bpd", z, a.W_O) + a.b_O


def force_explicit(a: Attention) -> None:
    a.hook_pattern.fwd_fns.append(lambda p, h: None)
    a.hook_result.fwd_fns.append(lambda r, h: None)


@pytest.mark.parametrize("path", ["fast", "explicit"])
@pytest.mark.parametrize("inputs", ["shared", "separate"])
def test_attention_matches_sdpa_and_a_naive_per_head_loop(attn: Attention, path: str, inputs: str) -> None:
    x = x_of()
    xs = (x, x, x) if inputs == "shared" else (x, x_of(seed=2), x_of(seed=3))
    if path == "explicit":
        force_explicit(attn)
    out = attn(*xs)
    torch.testing.assert_close(out, sdpa_reference(attn, *xs), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, naive_attention(attn, *xs), atol=1e-5, rtol=1e-5)


def test_qk_pos_enters_query_and_key_but_not_value(attn: Attention) -> None:
    x, pos = x_of(), torch.randn(7, D_MODEL, generator=torch.Generator().manual_seed(4))
    fused = attn(x, qk_pos=pos)
    expected = naive_attention(attn, x + pos, x + pos, x)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn(x, x, x, qk_pos=pos), fused, atol=1e-5, rtol=1e-5)


def test_gradients_match_sdpa_reference(attn: Attention) -> None:
    x = x_of().requires_grad_()
    grads = torch.autograd.grad(attn(x).square().sum(), [x, *attn.parameters()])
    ref = torch.autograd.grad(sdpa_reference(attn, x, x, x).square().sum(), [x, *attn.parameters()])
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r, atol=1e-4, rtol=1e-4)


def test_pattern_is_causal_and_rows_sum_to_one(attn: Attention) -> None:
    seen = {}
    attn.hook_pattern.fwd_fns.append(lambda p, h: seen.__setitem__("p", p))
    attn(x_of())
    pattern = seen["p"]
    assert pattern.shape == (2, N_HEADS, 7, 7)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(2, N_HEADS, 7))
    assert (pattern.triu(1) == 0).all()


@pytest.mark.parametrize("positional", ["shortformer", "learned", "none"])
def test_fast_and_explicit_paths_give_the_same_logits(positional: str) -> None:
    model = tiny_model(positional=positional, attn_only=False)
    toks = tokens()
    fast = model(toks)
    names = [n for n in model.hook_names if n.endswith(("hook_pattern", "hook_result", "hook_scale"))]
    explicit = model.run_with_hooks(toks, fwd_hooks=[(n, lambda a, h: None) for n in names])
    torch.testing.assert_close(explicit, fast, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hook", ["hook_z", "hook_result"])
def test_zero_ablating_one_head_removes_exactly_its_contribution(hook: str) -> None:
    model = tiny_model(n_layers=1)
    toks, layer, head = tokens(), 0, 1
    _, cache = model.run_with_cache(
        toks, names_filter=[f"blocks.{layer}.attn.hook_z", "blocks.0.hook_attn_out"]
    )
    z = cache["blocks.0.attn.hook_z"]
    contribution = z[:, :, head] @ model.blocks[layer].attn.W_O[head]

    def ablate(act: torch.Tensor, hook_point) -> torch.Tensor:
        act = act.clone()
        act[:, :, head] = 0
        return act

    with model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.{hook}", ablate)]):
        _, ablated = model.run_with_cache(toks, names_filter="blocks.0.hook_attn_out")
    torch.testing.assert_close(
        ablated["blocks.0.hook_attn_out"],
        cache["blocks.0.hook_attn_out"] - contribution,
        atol=1e-6,
        rtol=1e-5,
    )


@pytest.mark.parametrize("grad", [False, True], ids=["no-grad", "grad"])
def test_caching_the_pattern_alone_equals_caching_it_with_the_scores(grad: bool) -> None:
    model = tiny_model(n_layers=2)
    toks = tokens()
    with torch.set_grad_enabled(grad):
        _, alone = model.run_with_cache(toks, names_filter=lambda n: n.endswith("hook_pattern"))
        _, both = model.run_with_cache(toks, names_filter=lambda n: n.endswith(("hook_pattern", "scores")))
    for layer in range(2):
        pattern = alone["pattern", layer]
        torch.testing.assert_close(pattern, both["pattern", layer])
        torch.testing.assert_close(pattern, torch.softmax(both["attn_scores", layer], dim=-1))
        scores = both["attn_scores", layer]
        above = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1)
        assert (scores[..., above] == float("-inf")).all() and scores[..., ~above].isfinite().all()


def test_gradients_flow_through_a_hooked_pattern() -> None:
    model = tiny_model(n_layers=1)
    model.run_with_hooks(
        tokens(), fwd_hooks=[("blocks.0.attn.hook_pattern", lambda p, h: p * 1.0)]
    ).sum().backward()
    assert model.blocks[0].attn.W_Q.grad is not None and model.blocks[0].attn.W_Q.grad.abs().sum() > 0


def test_a_cached_hook_result_sums_to_the_attention_output() -> None:
    model = tiny_model(n_layers=2)
    _, cache = model.run_with_cache(
        tokens(), names_filter=lambda n: n.endswith(("hook_result", "hook_attn_out"))
    )
    for layer in range(2):
        total = cache["result", layer].sum(-2) + model.blocks[layer].attn.b_O
        torch.testing.assert_close(total, cache["attn_out", layer], atol=1e-5, rtol=1e-5)


def test_softmax_into_writes_over_the_scores() -> None:
    scores = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))
    expected = torch.softmax(scores, dim=-1)
    out = softmax_into(scores)
    assert out.data_ptr() == scores.data_ptr()
    torch.testing.assert_close(scores, expected)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # torch loading its jvp rules
def test_softmax_into_falls_back_under_vmap_and_forward_mode_ad() -> None:
    scores = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0))
    tangent = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(1))
    expected = torch.func.jvp(lambda s: torch.softmax(s, dim=-1), (scores,), (tangent,))
    torch.testing.assert_close(torch.func.vmap(softmax_into)(scores.clone()), expected[0])
    got = torch.func.jvp(lambda s: softmax_into(s * 1.0), (scores,), (tangent,))
    torch.testing.assert_close(got, expected)


def test_softmax_into_lets_other_errors_through() -> None:
    with pytest.raises(RuntimeError, match="out=.* don't support automatic differentiation"):
        softmax_into(torch.randn(2, 5, requires_grad=True))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")  # torch loading its jvp rules
def test_jvp_through_the_in_place_softmax_equals_the_path_that_keeps_the_scores(attn: Attention) -> None:
    x, dx = x_of(seed=3), x_of(seed=4)
    attn.hook_pattern.fwd_fns.append(ReadsOnly(lambda p, h: None))  # explicit path, softmax in place
    in_place = torch.func.jvp(attn, (x,), (dx,))
    attn.hook_attn_scores.fwd_fns.append(ReadsOnly(lambda s, h: None))  # scores kept: a fresh softmax
    kept = torch.func.jvp(attn, (x,), (dx,))
    torch.testing.assert_close(in_place, kept)
    attn.hook_pattern.fwd_fns.clear()
    attn.hook_attn_scores.fwd_fns.clear()
    torch.testing.assert_close(in_place[0], attn(x))  # and equals the unhooked SDPA path
