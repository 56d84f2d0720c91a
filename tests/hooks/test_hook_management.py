"""Hooks that outlive a call: permanent hooks, context levels, shared ctx, backward conventions.

TransformerLens's semantics, checked here without it (tests/transformer_lens_compat runs the same
scenarios against TransformerLens itself).
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from test_hooks import TwoLayer

from circuitlab.errors import ConfigError
from circuitlab.hooks import ReadsOnly, Slice, act_name

X = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def model() -> TwoLayer:
    return TwoLayer()


def counter(calls: list):
    return lambda act, hook: calls.append(hook.name)


def test_permanent_hooks_survive_reset_until_including_permanent(model) -> None:
    calls: list = []
    model.add_perma_hook("hook_pre", counter(calls))
    model.add_hook("hook_pre", counter(calls))
    model.reset_hooks()
    model(X)
    assert calls == ["hook_pre"]
    model.reset_hooks(including_permanent=True)
    model(X)
    assert calls == ["hook_pre"] and not model.hook_pre.active


def test_leaving_a_context_removes_only_its_own_level(model) -> None:
    calls: list = []
    with model.hooks(fwd_hooks=[("hook_pre", counter(calls))]):
        with model.hooks(fwd_hooks=[("hook_post", counter(calls))], reset_hooks_end=False):
            assert model.context_level == 2
        model.add_hook("hook_post", counter(calls))  # level None: outlives every block
        assert [h.context_level for h in model.hook_post.fwd_hooks] == [2, None]
    assert model.context_level == 0
    model(X)
    assert calls == ["hook_post", "hook_post"]
    model.reset_hooks()
    assert not model.hook_post.active


def test_ctx_is_kept_across_calls_and_cleared_by_reset_hooks(model) -> None:
    def count(act, hook):
        hook.ctx["n"] = hook.ctx.get("n", 0) + 1

    with model.hooks(fwd_hooks=[("hook_pre", count)]):
        model(X)
        model(X)
    assert model.hook_pre.ctx == {"n": 2}
    model.reset_hooks(clear_contexts=False)
    assert model.hook_pre.ctx == {"n": 2}
    model.reset_hooks()
    assert model.hook_pre.ctx == {}


def test_hooks_get_the_hook_point_by_keyword_when_they_name_it_and_positionally_otherwise(model) -> None:
    calls: list = []

    def keyword_only(act, *, hook):
        calls.append(("keyword-only", hook.name))

    def var_keyword(act, **kwargs):
        calls.append(("**kwargs", kwargs["hook"].name))

    def keyword_backward(grad, *, hook):
        calls.append(("bwd", hook.name))
        return grad * 0

    hooks = [
        keyword_only,
        var_keyword,
        ReadsOnly(keyword_only),
        lambda act, point: calls.append(("pos", point.name)),
    ]
    with model.hooks(
        fwd_hooks=[("hook_pre", fn) for fn in hooks], bwd_hooks=[("hook_post", keyword_backward)]
    ):
        model(X).sum().backward()
    assert calls == [("keyword-only", "hook_pre"), ("**kwargs", "hook_pre"), ("keyword-only", "hook_pre"),
                     ("pos", "hook_pre"), ("bwd", "hook_post")]  # fmt: skip
    assert torch.count_nonzero(model.lin1.weight.grad) == 0


@pytest.mark.parametrize("wrap", [lambda g: g * 0, lambda g: (g * 0,)], ids=["tensor", "one-tensor-tuple"])
def test_a_backward_hook_replaces_the_gradient(model, wrap) -> None:
    model.add_hook("hook_post", lambda g, hook: wrap(g), dir="bwd")
    model(X).sum().backward()
    assert torch.count_nonzero(model.lin1.weight.grad) == 0
    assert torch.count_nonzero(model.lin2.weight.grad) > 0


def test_every_backward_hook_sees_the_incoming_gradient_and_the_last_replacement_wins(model) -> None:
    seen: list = []

    def hook(factor):
        return lambda g, hook: seen.append(g.clone()) or g * factor

    model.run_with_hooks(X, bwd_hooks=[("hook_pre", hook(0.0)), ("hook_pre", hook(2.0))]).sum().backward()
    torch.testing.assert_close(seen[0], seen[1])
    expected = 2 * seen[0].T @ X
    torch.testing.assert_close(model.lin1.weight.grad, expected)


def test_remove_hooks_defaults_to_forward_hooks_and_handles_remove_one(model) -> None:
    point = model.hook_pre
    first = point.add_hook(lambda a, hook: None)
    point.add_hook(lambda a, hook: None)
    point.add_hook(lambda g, hook: None, dir="bwd")
    first.hook.remove()
    assert len(point.fwd_hooks) == 1 and point.has_hooks("bwd")
    point.remove_hooks()
    assert not point.has_hooks("fwd") and point.has_hooks("bwd")
    point.remove_hooks("both")
    assert not point.active
    with pytest.raises(ConfigError, match="fwd, bwd, both"):
        point.remove_hooks("sideways")


def test_act_name_and_slice() -> None:
    assert act_name("pattern", 0) == "blocks.0.attn.hook_pattern"
    assert act_name("scale4ln1") == "blocks.4.ln1.hook_scale"
    assert act_name("normalized") == "ln_final.hook_normalized"
    t = torch.arange(24).reshape(2, 3, 4)
    assert Slice(1).apply(t, dim=1).shape == (2, 4)
    assert Slice((1, 3)).apply(t, dim=-1).tolist() == t[:, :, 1:3].tolist()
    assert Slice([2, 0]).apply(t, dim=1).tolist() == t[:, [2, 0]].tolist()
    assert Slice.unwrap(1).apply(t, dim=1).shape == (2, 1, 4)
    assert Slice(None).indices(3).tolist() == [0, 1, 2]


def test_a_dropped_cache_is_freed_at_once_without_the_garbage_collector(model) -> None:
    """Nothing the hooks leave behind (handles, saving hooks) keeps a cache alive in a reference
    cycle: its memory goes back as soon as the user drops it, not at the next gc run."""
    gc.disable()
    try:
        _, cache = model.run_with_cache(X)
        cached = weakref.ref(cache["hook_pre"])
        handle = model.hook_pre.add_hook(lambda act, hook: None)
        handle.hook.remove()
        held = weakref.ref(handle)
        del cache, handle
        assert cached() is None and held() is None
    finally:
        gc.enable()
