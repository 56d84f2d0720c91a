"""Backward hooks against TransformerLens 3.9's: return conventions, which gradient each hook
sees, and hooks left attached after ``run_with_hooks``. Each scenario runs on a circuitlab
Transformer and its TransformerLens twin; the results must be equal."""

from __future__ import annotations

import pytest
import torch
from compat_models import both, recorder, tokens

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A, B = "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"
TOKENS = tokens()


@pytest.fixture
def pair(hooked_pair):
    return hooked_pair


def _grads(model) -> list[torch.Tensor]:
    return [model.blocks[0].attn.W_Q.grad, model.embed.W_E.grad]


@pytest.mark.parametrize(
    "hook",
    [lambda g, hook: None, lambda g, hook: 2 * g, lambda g, hook: (0 * g,)],
    ids=["none", "tensor", "one-tensor-tuple"],
)
def test_backward_hook_return_conventions(pair, hook) -> None:
    def scenario(model):
        seen: list = []
        model.add_hook(A, lambda g, hook: seen.append(g.clone()), dir="bwd")
        model.add_hook(A, hook, dir="bwd")
        model(TOKENS).sum().backward()
        return seen, _grads(model)

    both(pair, scenario)


@pytest.mark.parametrize(
    "first, second", [(0, None), (3, 2), (None, 0)], ids=["zero-then-none", "3-then-2", "none-then-zero"]
)
def test_every_backward_hook_sees_the_incoming_gradient_and_the_last_replacement_wins(
    pair, first, second
) -> None:
    def scale(factor, seen):
        def hook(grad, hook):
            seen.append(grad.clone())
            return None if factor is None else grad * factor

        return hook

    def scenario(model):
        seen: list = []
        model.run_with_hooks(
            TOKENS, bwd_hooks=[(A, scale(first, seen)), (A, scale(second, seen))]
        ).sum().backward()
        return seen, _grads(model)

    seen, _ = both(pair, scenario)
    torch.testing.assert_close(seen[0], seen[1])


def test_backward_hooks_left_by_reset_hooks_end_false_fire_until_reset(pair) -> None:
    def scenario(model):
        seen: list = []
        out = model.run_with_hooks(TOKENS, bwd_hooks=[(B, recorder(seen, "bwd"))], reset_hooks_end=False)
        out.sum().backward()
        model(TOKENS).sum().backward()
        model.reset_hooks()
        model(TOKENS).sum().backward()
        return seen

    assert len(both(pair, scenario)) == 2
