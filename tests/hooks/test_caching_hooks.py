"""TransformerLens's caching-hook methods and HookPoint extras on a plain HookedModule, without
TransformerLens (tests/transformer_lens_compat checks the same against TransformerLens itself)."""

from __future__ import annotations

import pytest
import torch
from test_hooks import TwoLayer

from circuitlab.errors import HookNameError, ShapeError

X = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def model() -> TwoLayer:
    return TwoLayer()


def test_add_caching_hooks_fills_a_dict_until_reset_hooks(model) -> None:
    cache = model.add_caching_hooks(incl_bwd=True)
    assert model.is_caching and cache == {}
    model(X).sum().backward()
    assert sorted(cache) == ["hook_post", "hook_post_grad", "hook_pre", "hook_pre_grad"]
    torch.testing.assert_close(cache["hook_post"], torch.relu(cache["hook_pre"]))
    assert not cache["hook_pre"].requires_grad
    model.reset_hooks()
    assert not model.is_caching and not model.list_hooks()


def test_get_caching_hooks_returns_hooks_that_run_with_hooks_attaches(model) -> None:
    cache, fwd, bwd = model.get_caching_hooks(["hook_post"], remove_batch_dim=True, pos_slice=0)
    assert [name for name, _ in fwd] == ["hook_post"] and bwd == [] and not model.list_hooks()
    out = model.run_with_hooks(X[:1], fwd_hooks=fwd)
    torch.testing.assert_close(cache["hook_post"], torch.relu(model.lin1(X[:1]))[0])
    assert out.shape == (1, 2)
    with pytest.raises(ShapeError, match="not a batch of one sequence"):
        model.run_with_hooks(X, fwd_hooks=fwd)
    with pytest.raises(HookNameError, match="did you mean hook_post"):
        model.get_caching_hooks("hook_pots")


def test_cache_all_and_cache_some_are_deprecated_add_caching_hooks(model) -> None:
    with pytest.warns(DeprecationWarning, match="cache_all is deprecated"):
        everything = model.cache_all({})
    with pytest.warns(DeprecationWarning, match="cache_some is deprecated"):
        some = model.cache_some({}, lambda name: name == "hook_pre")
    model(X)
    assert sorted(everything) == ["hook_post", "hook_pre"] and list(some) == ["hook_pre"]


def test_list_hooks_by_direction_and_permanence(model) -> None:
    fwd, bwd = (lambda a, hook: None), (lambda g, hook: None)
    model.add_hook("hook_pre", fwd)
    model.add_perma_hook("hook_post", bwd, dir="bwd")
    assert {n: [h.user_hook for h in hs] for n, hs in model.list_hooks().items()} == {
        "hook_pre": [fwd],
        "hook_post": [bwd],
    }
    assert list(model.list_hooks(dir="bwd")) == ["hook_post"]
    assert list(model.list_hooks(including_permanent=False)) == ["hook_pre"]
    assert model.list_hooks("hook_post", dir="fwd") == {}


def test_alias_names_and_reshape(model) -> None:
    class Halves:
        def convert(self, x):
            return x.unflatten(-1, (1, 3))

        def revert(self, x):
            return x.flatten(-2)

    seen: list = []
    model.hook_post.enable_reshape(Halves())
    model.hook_post.add_hook(lambda a, hook: seen.append((hook.name, a.shape)), alias_names=["a.x", "b.y"])
    model.hook_post.add_hook(lambda a, hook: a * 0)  # reverted to [3, 3]: the output is the bias
    torch.testing.assert_close(model(X), model.lin2.bias.expand(3, 2))
    assert seen == [("a.x", (3, 1, 3)), ("b.y", (3, 1, 3))]


def test_backward_scale_scales_a_sum_to_one_number_only(model) -> None:
    seen: list = []
    model.hook_post.backward_scale = 0.5
    model.hook_post.add_hook(lambda g, hook: seen.append((g.sum(), g.sum(0).sum(), g.grad)), dir="bwd")
    model(X).sum().backward()
    total, rows, grad_attr = seen[0]
    torch.testing.assert_close(total, 0.5 * rows)
    assert grad_attr is None  # the gradient's own attributes (a gradient has no .grad)
