"""Hooks cannot leak on a Transformer, and run_with_cache keeps only what it is asked for.

A leaked hook would silently change every later forward pass (a hook on ``hook_pattern`` also
moves attention off the fused ``scaled_dot_product_attention`` path), so after every failure the
model must have no hook attached, take the fast path again and give the same logits as before.
"""

from __future__ import annotations

import pytest
import torch

from circuitlab.errors import HookNameError, ShapeError
from circuitlab.hooks import ReadsOnly
from circuitlab.transformer import Transformer, TransformerConfig

CFG = TransformerConfig(
    n_layers=2,
    d_model=16,
    n_heads=2,
    d_head=8,
    d_vocab=13,
    n_ctx=8,
    attn_only=False,
    d_mlp=32,
    positional="learned",
    seed=0,
)


@pytest.fixture(scope="module")
def model() -> Transformer:
    return Transformer(CFG).eval()


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.randint(0, CFG.d_vocab, (3, CFG.n_ctx), generator=torch.Generator().manual_seed(0))


def assert_clean(model: Transformer, tokens: torch.Tensor, logits: torch.Tensor) -> None:
    """No hook attached anywhere, attention back on the fast path, and the same logits as before."""
    assert not [name for name, p in model.hook_dict.items() if p.active]
    assert not any(block.attn.needs_pattern for block in model.blocks)
    torch.testing.assert_close(model(tokens), logits, rtol=0, atol=0)


class Boom(Exception):
    pass


def raise_(exc: type[BaseException]):
    def hook(act, hook):
        raise exc(f"raised in {hook.name}")

    return hook


HOOKS = [
    "hook_embed",
    "blocks.0.attn.hook_pattern",
    "blocks.1.attn.hook_result",
    "blocks.1.mlp.hook_post",
    "ln_final.hook_normalized",
]


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt], ids=["hook-raises", "ctrl-c"])
@pytest.mark.parametrize("where", HOOKS)
def test_a_hook_that_raises_in_run_with_hooks_leaves_no_hook(model, tokens, where, exc) -> None:
    logits = model(tokens)
    fwd = [(name, lambda a, h: None) for name in HOOKS] + [(where, raise_(exc))]
    bwd = [("blocks.0.hook_resid_post", lambda g, h: None)]
    with pytest.raises(exc, match=where):
        model.run_with_hooks(tokens, fwd_hooks=fwd, bwd_hooks=bwd)
    assert_clean(model, tokens, logits)


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt], ids=["hook-raises", "ctrl-c"])
@pytest.mark.parametrize("where", ["hook_embed", "blocks.1.attn.hook_pattern", "ln_final.hook_normalized"])
def test_an_exception_inside_run_with_cache_leaves_no_hook(model, tokens, where, exc) -> None:
    """Ctrl-C (or any error) while run_with_cache is filling its cache removes its saving hooks too."""
    logits = model(tokens)
    with model.hooks(fwd_hooks=[(where, raise_(exc))]), pytest.raises(exc):
        model.run_with_cache(tokens)
    assert_clean(model, tokens, logits)


def test_a_forward_that_raises_inside_run_with_cache_leaves_no_hook(model, tokens) -> None:
    logits = model(tokens)
    with pytest.raises(ShapeError, match="exceeds n_ctx"):
        model.run_with_cache(torch.zeros(1, CFG.n_ctx + 1, dtype=torch.long))
    assert_clean(model, tokens, logits)


def test_an_unknown_name_in_a_later_hook_spec_detaches_the_earlier_ones(model, tokens) -> None:
    logits = model(tokens)
    with pytest.raises(HookNameError, match="hook_patern"):
        model.run_with_hooks(
            tokens,
            fwd_hooks=[
                ("blocks.0.attn.hook_pattern", lambda a, h: None),
                ("blocks.1.attn.hook_patern", lambda a, h: None),
            ],
        )
    assert_clean(model, tokens, logits)


def test_a_failure_in_an_inner_run_keeps_the_outer_hooks_until_their_block_ends(model, tokens) -> None:
    """run_with_cache removes only its own hooks: a user's enclosing hooks() block keeps working."""
    logits, seen = model(tokens), []
    with model.hooks(fwd_hooks=[("blocks.0.attn.hook_pattern", lambda a, h: seen.append(h.name))]):
        with pytest.raises(Boom):
            with model.hooks(fwd_hooks=[("blocks.1.hook_resid_pre", raise_(Boom))]):
                model.run_with_cache(tokens, names_filter="blocks.1.hook_resid_mid")
        assert model.hook_dict["blocks.0.attn.hook_pattern"].active
        assert not model.hook_dict["blocks.1.hook_resid_pre"].active
        assert not model.hook_dict["blocks.1.hook_resid_mid"].active
        model(tokens)
    assert seen == ["blocks.0.attn.hook_pattern"] * 2
    assert_clean(model, tokens, logits)


def nbytes(cache) -> int:
    return sum(t.numel() * t.element_size() for t in cache.values())


@pytest.mark.parametrize(
    "name", ["hook_embed", "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_result", "blocks.1.mlp.hook_pre"]
)
def test_a_one_name_filter_stores_exactly_that_activation(model, tokens, name) -> None:
    _, everything = model.run_with_cache(tokens, names_filter=lambda n: True)  # hook_result too
    logits, cache = model.run_with_cache(tokens, names_filter=name)
    assert list(cache) == [name]
    assert nbytes(cache) == everything[name].numel() * everything[name].element_size()
    assert nbytes(cache) * 10 < nbytes(everything)
    # Caching a pattern takes the explicit-softmax path, so values agree to float32 rounding only.
    torch.testing.assert_close(cache[name], everything[name])
    torch.testing.assert_close(logits, model(tokens))


def test_cached_activations_hold_no_autograd_graph(model, tokens) -> None:
    """The cache stores detached tensors: keeping it alive does not keep the forward's graph alive."""
    logits, cache = model.run_with_cache(tokens)
    assert logits.requires_grad
    assert all(not t.requires_grad and t.grad_fn is None for t in cache.values())


@pytest.mark.parametrize(
    "names_filter",
    [None, "blocks.0.attn.hook_pattern", lambda n: n.endswith("resid_post")],
    ids=["all", "one", "predicate"],
)
def test_float16_cache_holds_half_the_bytes(model, tokens, names_filter) -> None:
    _, full = model.run_with_cache(tokens, names_filter=names_filter)
    _, half = model.run_with_cache(tokens, names_filter=names_filter, cache_dtype=torch.float16)
    assert list(half) == list(full) and len(full) >= 1
    assert all(t.dtype == torch.float16 for t in half.values())
    assert nbytes(half) * 2 == nbytes(full)
    for name in full:
        torch.testing.assert_close(half[name].float(), full[name], rtol=1e-3, atol=1e-3)


def contract_hook_names(n_layers: int) -> set[str]:
    """DESIGN.md's hook names for an MLP model with learned positions and LayerNorm."""
    names = {"hook_embed", "hook_pos_embed", "ln_final.hook_scale", "ln_final.hook_normalized"}
    for l in range(n_layers):
        names |= {
            f"blocks.{l}.hook_{n}" for n in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")
        }
        names |= {f"blocks.{l}.attn.hook_{n}" for n in ("q", "k", "v", "z", "attn_scores", "pattern")}
        names |= {f"blocks.{l}.mlp.hook_{n}" for n in ("pre", "post")}
        names |= {f"blocks.{l}.ln{i}.hook_{n}" for i in (1, 2) for n in ("scale", "normalized")}
    return names


def test_the_contract_hook_names_exist_and_each_sees_an_activation(model, tokens) -> None:
    """DESIGN.md's hook names are the model's (the leak guarantees above are theirs), and none of
    them is off the forward path: run_with_cache of everything holds each one."""
    expected = contract_hook_names(CFG.n_layers)
    assert expected <= set(model.hook_names)
    _, cache = model.run_with_cache(tokens)
    assert expected <= set(cache)  # none of them is off the forward path


PATTERN = "blocks.0.attn.hook_pattern"


def test_an_activation_a_hook_keeps_is_not_overwritten_by_the_next_call(model, tokens) -> None:
    stored: list[torch.Tensor] = []
    with torch.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[(PATTERN, lambda act, hook: stored.append(act))])
        reference = stored[0].clone()
        model.run_with_hooks(tokens.flip(0), fwd_hooks=[(PATTERN, lambda act, hook: stored.append(act))])
    torch.testing.assert_close(stored[0], reference, atol=0, rtol=0)
    assert not torch.equal(stored[0], stored[1])


def test_scores_replaced_by_a_hook_give_their_softmax(model, tokens) -> None:
    causal = torch.full((CFG.n_ctx, CFG.n_ctx), float("-inf")).triu(1)  # equal scores where allowed
    uniform = torch.softmax(causal, -1).expand(len(tokens), CFG.n_heads, CFG.n_ctx, CFG.n_ctx)
    seen: list[torch.Tensor] = []
    with torch.no_grad():
        model.run_with_hooks(
            tokens,
            fwd_hooks=[
                ("blocks.0.attn.hook_attn_scores", lambda s, hook: causal.expand_as(s).clone()),
                (PATTERN, lambda p, hook: seen.append(p.clone())),
            ],
        )
    torch.testing.assert_close(seen[0], uniform)


def test_a_pattern_cached_alone_equals_the_pattern_cached_with_its_scores(model, tokens) -> None:
    """Caching only the pattern softmaxes the unhooked scores in place; the values are the same."""
    with torch.no_grad():
        _, alone = model.run_with_cache(tokens, names_filter=PATTERN)
        _, both = model.run_with_cache(tokens, names_filter=[PATTERN, "blocks.0.attn.hook_attn_scores"])
    torch.testing.assert_close(alone[PATTERN], both[PATTERN], atol=0, rtol=0)
    torch.testing.assert_close(alone[PATTERN], torch.softmax(both["blocks.0.attn.hook_attn_scores"], -1))


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad, torch.enable_grad])
def test_run_with_cache_gives_the_same_pattern_in_every_grad_mode(model, tokens, mode) -> None:
    with torch.no_grad():
        _, reference = model.run_with_cache(tokens, names_filter=PATTERN)
    with mode():
        _, cache = model.run_with_cache(tokens, names_filter=PATTERN)
    torch.testing.assert_close(cache[PATTERN], reference[PATTERN], atol=0, rtol=0)


def test_torch_func_grad_through_a_hooked_model_equals_autograd(model, tokens) -> None:
    params = dict(model.named_parameters())
    seen = []

    def loss_of(W_Q: torch.Tensor) -> torch.Tensor:
        with model.hooks([(PATTERN, ReadsOnly(lambda p, hook: seen.append(1)))]):
            return torch.func.functional_call(model, {**params, "blocks.0.attn.W_Q": W_Q}, (tokens,)).sum()

    grad = torch.func.grad(loss_of)(params["blocks.0.attn.W_Q"].detach())
    model.zero_grad()
    loss_of(params["blocks.0.attn.W_Q"]).backward()
    torch.testing.assert_close(grad, model.blocks[0].attn.W_Q.grad)
    model.zero_grad()
    assert seen == [1, 1]


def test_vmap_over_a_hooked_attention_layer_equals_a_loop(model) -> None:
    """vmap has no rule for the in-place softmax's out=: the layer falls back to fresh memory."""
    attn = model.blocks[0].attn
    x = torch.randn(3, 2, CFG.n_ctx, CFG.d_model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), model.hooks([(PATTERN, ReadsOnly(lambda p, hook: None))]):
        mapped = torch.func.vmap(attn)(x)
        looped = torch.stack([attn(one) for one in x])
    torch.testing.assert_close(mapped, looped)
