"""TransformerLens 3.9's HookPoint extras: ``add_hook(..., alias_names=)``, ``enable_reshape`` and
``backward_scale``. Each scenario runs on a circuitlab Transformer and its TransformerLens twin
(the same TransformerLens conversion object on both); the results must be equal."""

from __future__ import annotations

import pytest
import torch
from compat_models import both, tokens

from circuitlab.errors import ConfigError

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)
from transformer_lens.conversion_utils.conversion_steps.rearrange_tensor_conversion import (  # noqa: E402
    RearrangeTensorConversion,
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A = "blocks.0.hook_resid_post"
TOKENS = tokens()
SPLIT = RearrangeTensorConversion("b p (h e) -> b p h e", h=2)  # d_model 16 -> [2, 8]


@pytest.fixture
def pair(hooked_pair):
    yield hooked_pair
    for model in hooked_pair:
        model.hook_dict[A].enable_reshape(None)
        model.hook_dict[A].backward_scale = 1.0


def test_alias_names_call_the_hook_once_per_alias_with_that_name(pair) -> None:
    def scenario(model):
        seen: list = []
        point = model.hook_dict[A]

        def double(act, hook):
            seen.append((hook.name, hook.layer(), hook.ctx is point.ctx, act[0, 0, 0].item()))
            hook.ctx[hook.name] = True
            return act * 2

        point.add_hook(double, alias_names=["blocks.3.legacy_a", "blocks.5.legacy_b"])
        logits = model(TOKENS)
        return seen, sorted(point.ctx), logits, point.fwd_hooks[0].user_hook is double

    seen, ctx, _, is_user_hook = both(pair, scenario)
    assert [(name, layer) for name, layer, *_ in seen] == [("blocks.3.legacy_a", 3), ("blocks.5.legacy_b", 5)]
    assert seen[1][3] == pytest.approx(2 * seen[0][3]) and all(s[2] for s in seen) and is_user_hook
    assert ctx == ["blocks.3.legacy_a", "blocks.5.legacy_b"]


def test_alias_names_on_a_backward_hook(pair) -> None:
    def scenario(model):
        seen: list = []
        model.hook_dict[A].add_hook(
            lambda g, hook: seen.append(hook.name), dir="bwd", alias_names=["x.one", "x.two"]
        )
        model(TOKENS).mean().backward()
        return seen, model.embed.W_E.grad

    assert both(pair, scenario)[0] == ["x.one", "x.two"]


def test_enable_reshape_shows_hooks_the_converted_activation_and_reverts_their_edit(pair) -> None:
    def scenario(model):
        shapes: list = []
        point = model.hook_dict[A]
        point.enable_reshape(SPLIT)

        def zero_second_half(act, hook):
            shapes.append(tuple(act.shape))
            act = act.clone()
            act[..., 1, :] = 0
            return act

        def read_grad(grad, hook):
            shapes.append(tuple(grad.shape))

        point.add_hook(zero_second_half)
        point.add_hook(lambda act, hook: shapes.append(tuple(act.shape)))
        point.add_hook(read_grad, dir="bwd")
        logits = model(TOKENS)
        logits.mean().backward()
        return shapes, logits, model.embed.W_E.grad

    shapes, _, _ = both(pair, scenario)
    assert shapes == [(2, 7, 2, 8), (2, 7, 2, 8), (2, 7, 2, 8)]


@pytest.mark.parametrize("scale", [1.0, 0.25, 3.0])
def test_backward_scale_scales_what_a_backward_hook_sums(pair, scale) -> None:
    def scenario(model):
        seen: list = []
        point = model.hook_dict[A]
        point.backward_scale = scale

        def record(grad, hook):
            seen.append((grad.sum(), grad.sum(-1), grad.shape, grad.abs().max()))

        point.add_hook(record, dir="bwd")
        model(TOKENS).mean().backward()
        return seen, model.embed.W_E.grad  # the gradient itself is never scaled

    seen, _ = both(pair, scenario)
    total, per_row, _, largest = seen[0]
    torch.testing.assert_close(total, scale * per_row.sum())  # only a sum to one number is scaled
    assert largest > 0


def test_enable_reshape_refuses_an_object_without_convert_and_revert(pair) -> None:
    ours, _ = pair
    with pytest.raises(ConfigError, match="convert.*revert"):
        ours.hook_dict[A].enable_reshape(lambda x: x)
    with pytest.raises(ConfigError, match="list of names"):
        ours.hook_dict[A].add_hook(lambda a, hook: None, alias_names="blocks.0.x")
