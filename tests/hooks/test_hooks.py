"""The one hook system: hook points are identities until hooked, and hooks never leak."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from circuitlab.errors import HookNameError
from circuitlab.hooks import ActivationCache, HookedModule, HookPoint, ReadsOnly


class TwoLayer(HookedModule):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(4, 3)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()
        self.lin2 = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        post = self.hook_post(torch.relu(self.hook_pre(self.lin1(x))))
        return self.lin2(post)


@pytest.fixture
def model() -> TwoLayer:
    return TwoLayer()


def no_hooks_attached(model: HookedModule) -> bool:
    return not any(p.active for p in model.hook_dict.values())


def test_idle_hook_point_returns_its_input_object(model: TwoLayer) -> None:
    x = torch.randn(2, 3)
    assert model.hook_pre(x) is x


def test_hook_names_come_from_named_modules(model: TwoLayer) -> None:
    assert model.hook_names == ["hook_pre", "hook_post"]
    assert model.hook_dict["hook_post"].name == "hook_post"


def test_run_with_cache_keeps_every_activation_by_default(model: TwoLayer) -> None:
    x = torch.randn(5, 4)
    out, cache = model.run_with_cache(x)
    assert isinstance(cache, ActivationCache)
    assert set(cache) == {"hook_pre", "hook_post"}
    torch.testing.assert_close(cache["hook_post"], torch.relu(cache["hook_pre"]))
    torch.testing.assert_close(out, model(x))
    assert "hook_pre: (5, 3)" in repr(cache)


@pytest.mark.parametrize(
    "names_filter",
    ["hook_post", ["hook_post"], lambda n: n.endswith("post")],
    ids=["str", "list", "callable"],
)
def test_names_filter_keeps_only_what_it_asks_for(model: TwoLayer, names_filter) -> None:
    _, cache = model.run_with_cache(torch.randn(2, 4), names_filter=names_filter)
    assert list(cache) == ["hook_post"]


def test_cache_dtype_and_device_options(model: TwoLayer) -> None:
    _, cache = model.run_with_cache(torch.randn(1, 4), cache_dtype=torch.float16, device="cpu")
    assert cache["hook_pre"].dtype == torch.float16
    assert cache.to("cpu") is cache and cache["hook_post"].shape == (1, 3)
    single = cache.remove_batch_dim()  # in place, as TransformerLens's
    assert single is cache and not cache.has_batch_dim
    assert cache["hook_pre"].shape == (3,) and cache["hook_post"].shape == (3,)


def test_remove_batch_dim_refuses_a_real_batch(model: TwoLayer) -> None:
    _, cache = model.run_with_cache(torch.randn(2, 4))
    with pytest.raises(ValueError, match="batch size 1"):
        cache.remove_batch_dim()


def test_forward_hook_that_edits_takes_effect(model: TwoLayer) -> None:
    x = torch.randn(3, 4)
    zeroed = model.run_with_hooks(x, fwd_hooks=[("hook_post", lambda a, h: torch.zeros_like(a))])
    torch.testing.assert_close(zeroed, model.lin2.bias.expand(3, 2))
    assert no_hooks_attached(model)


def test_backward_hook_sees_the_gradient(model: TwoLayer) -> None:
    grads = []
    x = torch.randn(3, 4)
    out = model.run_with_hooks(x, bwd_hooks=[("hook_post", lambda g, h: grads.append(g))])
    out.sum().backward()
    expected = model.lin2.weight.sum(0).expand(3, 3)
    torch.testing.assert_close(grads[0], expected)
    assert no_hooks_attached(model)


def test_unknown_hook_name_is_a_clear_error(model: TwoLayer) -> None:
    with pytest.raises(HookNameError, match="hook_pots.*did you mean hook_post"):
        model.run_with_hooks(torch.randn(1, 4), fwd_hooks=[("hook_pots", lambda a, h: None)])
    assert no_hooks_attached(model)


def test_hook_returning_the_wrong_shape_is_a_clear_error(model: TwoLayer) -> None:
    with pytest.raises(ValueError, match="must return None or a tensor"):
        model.run_with_hooks(torch.randn(1, 4), fwd_hooks=[("hook_pre", lambda a, h: a[:, :1])])
    assert no_hooks_attached(model)


class Boom(Exception):
    pass


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt], ids=["hook-raises", "ctrl-c"])
def test_hooks_are_removed_when_a_hook_raises(model: TwoLayer, exc) -> None:
    def hook(act, h):
        raise exc

    with pytest.raises(exc):
        model.run_with_hooks(torch.randn(1, 4), fwd_hooks=[("hook_pre", hook)])
    assert no_hooks_attached(model)
    with model.hooks(fwd_hooks=[("hook_post", hook)]), pytest.raises(exc):
        model.run_with_cache(torch.randn(1, 4))
    assert no_hooks_attached(model)


def test_cache_hooks_are_removed_when_forward_raises(model: TwoLayer) -> None:
    with pytest.raises(RuntimeError):
        model.run_with_cache(torch.randn(1, 7))  # wrong width: lin1 raises
    assert no_hooks_attached(model)


def test_keyboard_interrupt_inside_run_with_cache_leaves_no_hooks(model: TwoLayer) -> None:
    def interrupt(act, h):
        raise KeyboardInterrupt

    with model.hooks(fwd_hooks=[("hook_post", interrupt)]), pytest.raises(KeyboardInterrupt):
        model.run_with_cache(torch.randn(1, 4))
    assert no_hooks_attached(model)


def test_filter_predicate_attaches_to_every_match(model: TwoLayer) -> None:
    seen = []
    model.run_with_hooks(torch.randn(1, 4), fwd_hooks=[(lambda n: True, lambda a, h: seen.append(h.name))])
    assert seen == ["hook_pre", "hook_post"]


def test_short_names_index_the_cache() -> None:
    cache = ActivationCache({"blocks.0.attn.hook_pattern": torch.zeros(1), "hook_embed": torch.ones(1)})
    assert cache["pattern", 0] is cache["blocks.0.attn.hook_pattern"]
    assert cache["embed"] is cache["hook_embed"]
    with pytest.raises(KeyError, match="names_filter"):
        cache["pattern", 1]


def test_a_reads_only_hook_cannot_replace_the_activation(model: TwoLayer) -> None:
    x = torch.randn(2, 4)
    seen = []

    def replace(act: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        seen.append(act)
        return torch.zeros_like(act)

    with model.hooks(fwd_hooks=[("hook_post", ReadsOnly(replace))]):
        out = model(x)
        assert not model.hook_post.edits and model.hook_post.active
    torch.testing.assert_close(out, model(x))
    assert len(seen) == 1


def test_edits_is_true_for_plain_and_backward_hooks(model: TwoLayer) -> None:
    with model.hooks(fwd_hooks=[("hook_pre", lambda a, h: None)]):
        assert model.hook_pre.edits
    with model.hooks(bwd_hooks=[("hook_pre", lambda g, h: None)]):
        assert model.hook_pre.edits
    with model.hooks(fwd_hooks=[("hook_pre", ReadsOnly(lambda a, h: None))]):
        assert not model.hook_pre.edits
    assert not model.hook_pre.edits and not model.hook_pre.active
