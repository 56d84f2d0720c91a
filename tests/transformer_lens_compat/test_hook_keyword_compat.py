"""How a hook function is called, against TransformerLens 3.9: ``fn(activation, hook=hook_point)``.

TransformerLens passes the hook point as the keyword ``hook``, so TL code may declare it
keyword-only (``def f(act, *, hook)``) or collect it in ``**kwargs``. circuitlab passes it the same
way to every hook that has a ``hook`` parameter or ``**kwargs``, and positionally to the others
(``lambda act, h: ...``, which TransformerLens cannot call). Each scenario runs on a circuitlab
Transformer and its TransformerLens twin; the results must be equal.
"""

from __future__ import annotations

import functools

import pytest
import torch
from compat_models import both, tokens

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A, B = "blocks.0.hook_resid_post", "blocks.1.attn.hook_z"
TOKENS = tokens()


@pytest.fixture
def pair(hooked_pair):
    return hooked_pair


class Scaler:
    """A callable object whose hook parameter is keyword-only; scales the activation."""

    def __init__(self, log: list, factor: float) -> None:
        self.log, self.factor = log, factor

    def __call__(self, act, *, hook):
        self.log.append(("object", hook.name))
        return act * self.factor

    def method(self, act, *, hook):
        self.log.append(("method", hook.name))


def keyword_hooks(log: list) -> list:
    """One hook of each keyword-taking form: keyword-only, **kwargs, partial, object, bound method."""

    def keyword_only(act, *, hook):
        log.append(("keyword-only", hook.name))

    def var_keyword(act, **kwargs):
        log.append(("**kwargs", kwargs["hook"].name))

    def scaled(act, hook, factor):
        log.append(("partial", hook.name))
        return act * factor

    return [
        keyword_only,
        var_keyword,
        functools.partial(scaled, factor=0.5),
        Scaler(log, -1.0),
        Scaler(log, 1).method,
    ]


def test_forward_hooks_that_take_hook_by_keyword_run_on_both(pair) -> None:
    def scenario(model):
        log: list = []
        logits = model.run_with_hooks(TOKENS, fwd_hooks=[(A, fn) for fn in keyword_hooks(log)])
        return logits, log

    _, log = both(pair, scenario)
    assert [tag for tag, _ in log] == ["keyword-only", "**kwargs", "partial", "object", "method"]


def test_keyword_hooks_through_add_hook_and_hook_points(pair) -> None:
    def scenario(model):
        log: list = []
        first, second, *_ = keyword_hooks(log)
        model.add_hook(lambda name: name.endswith("hook_z"), first)
        model.hook_dict[A].add_hook(second, prepend=True)
        model.add_perma_hook(B, Scaler(log, 2.0))
        return model(TOKENS), log

    assert [tag for tag, _ in both(pair, scenario)[1]] == [
        "keyword-only",
        "**kwargs",
        "keyword-only",
        "object",
    ]


def test_backward_hooks_that_take_hook_by_keyword(pair) -> None:
    def scenario(model):
        log: list = []

        def halve(grad, *, hook):
            log.append((hook.name, grad.shape))
            return (grad * 0.5,)

        model.run_with_hooks(TOKENS, bwd_hooks=[(A, halve)], reset_hooks_end=False).sum().backward()
        return log, model.embed.W_E.grad

    assert len(both(pair, scenario)[0]) == 1


def test_a_positional_second_parameter_works_in_circuitlab_only(pair) -> None:
    ours, theirs = pair
    seen: list = []
    ours.run_with_hooks(TOKENS, fwd_hooks=[(A, lambda act, point: seen.append(point.name))])
    assert seen == [A]
    with pytest.raises(TypeError, match="hook"):  # TransformerLens calls fn(act, hook=...)
        theirs.run_with_hooks(TOKENS, fwd_hooks=[(A, lambda act, point: None)])
    torch.testing.assert_close(ours(TOKENS), theirs(TOKENS), atol=1e-5, rtol=1e-4)  # nothing left on
