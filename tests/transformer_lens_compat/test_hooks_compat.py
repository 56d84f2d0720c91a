"""circuitlab's hook system against TransformerLens 3.9's: the same scenario, the same result.

Each scenario runs on a circuitlab Transformer and on its TransformerLens twin and returns what
a user can observe (which hooks ran in which order, handles' flags, contexts, logits,
gradients); the two must be equal. Backward hooks are in test_backward_hooks_compat.py, the errors
(where circuitlab deliberately differs) in test_hook_errors_compat.py; docs/transformer-lens.md
lists every difference.
"""

from __future__ import annotations

import logging

import pytest
import torch
from compat_models import both, make_pair, recorder, tokens

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A, B = "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"
TOKENS = tokens()


@pytest.fixture(scope="module")
def pair():
    return make_pair()


@pytest.fixture(autouse=True)
def _clean(pair, caplog):
    caplog.set_level(logging.ERROR)  # TL logs a warning for run_with_hooks with backward hooks
    yield
    for model in pair:
        model.reset_hooks(including_permanent=True)
        model.zero_grad(set_to_none=True)


def test_hooks_run_in_order_and_prepend_goes_first(pair) -> None:
    def scenario(model):
        calls: list = []
        point = model.hook_dict[A]
        point.add_hook(recorder(calls, "first"))
        point.add_hook(recorder(calls, "second"))
        point.add_hook(recorder(calls, "prepended"), prepend=True)
        model.add_hook(A, recorder(calls, "model"), prepend=True)
        model(TOKENS)
        return calls, [(h.is_permanent, h.context_level) for h in point.fwd_hooks]

    calls, _ = both(pair, scenario)
    assert [tag for tag, _ in calls] == ["model", "prepended", "first", "second"]


def test_a_forward_hook_replaces_the_activation_and_later_hooks_see_it(pair) -> None:
    def scenario(model):
        seen: list = []
        logits = model.run_with_hooks(
            TOKENS,
            fwd_hooks=[
                (A, lambda act, hook: act * 2),
                (A, lambda act, hook: seen.append(act.detach().clone())),
                (B, lambda pattern, hook: torch.ones_like(pattern) / pattern.shape[-1]),
            ],
        )
        return logits, seen

    both(pair, scenario)


def test_model_add_hook_takes_a_name_filter_in_both_directions(pair) -> None:
    def scenario(model):
        fwd: list = []
        bwd: list = []
        model.add_hook(lambda name: name.endswith("resid_pre"), recorder(fwd, "fwd"))
        model.add_hook(lambda name: name.endswith("hook_z"), recorder(bwd, "bwd"), dir="bwd")
        model(TOKENS).sum().backward()
        return fwd, bwd

    fwd, bwd = both(pair, scenario)
    assert len(fwd) == 2 and len(bwd) == 2


def test_permanent_hooks_survive_reset_hooks_until_including_permanent(pair) -> None:
    def scenario(model):
        calls: list = []
        count = recorder(calls, "n")
        model.add_perma_hook(A, count)
        model.add_hook(A, count)
        counts = []
        for step in ("both", "reset", "context", "run_with_hooks", "reset all"):
            calls.clear()
            if step == "reset":
                model.reset_hooks()
            if step == "context":
                with model.hooks(fwd_hooks=[(A, count)]) as same:
                    assert same is model
                    model(TOKENS)
            elif step == "run_with_hooks":
                model.run_with_hooks(TOKENS, fwd_hooks=[(A, count)])
            else:
                if step == "reset all":
                    model.reset_hooks(including_permanent=True)
                model(TOKENS)
            counts.append(len(calls))
        return counts

    assert both(pair, scenario) == [2, 1, 2, 2, 0]


def test_remove_hooks_takes_direction_permanence_and_level(pair) -> None:
    def scenario(model):
        point = model.hook_dict[A]
        noop = lambda act, hook: None  # noqa: E731
        point.add_hook(noop)
        point.add_hook(noop, dir="bwd")
        point.add_perma_hook(noop)
        point.add_hook(noop, level=1)
        point.add_hook(noop, level=2)
        sizes = []
        for args, kwargs in (
            ((), {"level": 1}),
            ((), {}),
            (("bwd",), {}),
            (("both",), {"including_permanent": True}),
        ):
            point.remove_hooks(*args, **kwargs)
            sizes.append(
                (len(point.fwd_hooks), len(point.bwd_hooks), [h.context_level for h in point.fwd_hooks])
            )
        return sizes

    assert both(pair, scenario)[1] == (1, 1, [None])


def test_has_hooks_by_direction_permanence_and_level(pair) -> None:
    def scenario(model):
        point = model.hook_dict[A]
        point.add_perma_hook(lambda act, hook: None)
        point.add_hook(lambda g, hook: None, dir="bwd", level=3)
        return [
            point.has_hooks(),
            point.has_hooks("fwd"),
            point.has_hooks("fwd", including_permanent=False),
            point.has_hooks("bwd", level=3),
            point.has_hooks("bwd", level=2),
            point.has_hooks("both", including_permanent=False),
            model.hook_dict[B].has_hooks(),
        ]

    assert both(pair, scenario) == [True, True, False, True, False, True, False]


def test_nested_contexts_remove_only_their_own_level(pair) -> None:
    def scenario(model):
        log: list = []
        point = model.hook_dict[A]
        with model.hooks(fwd_hooks=[(A, recorder(log, "outer"))]):
            log.append(("level", model.context_level))
            with model.hooks(fwd_hooks=[(A, recorder(log, "inner")), (B, recorder(log, "inner"))]):
                log.append(("level", model.context_level))
                model(TOKENS)
                log.append(("levels", [h.context_level for h in point.fwd_hooks]))
            log.append(("level", model.context_level))
            model(TOKENS)
            with model.hooks(fwd_hooks=[(A, recorder(log, "kept"))], reset_hooks_end=False):
                pass
            model(TOKENS)
        log.append(("after", model.context_level, [h.context_level for h in point.fwd_hooks]))
        model(TOKENS)
        return log

    log = both(pair, scenario)
    assert log[-2] == ("after", 0, [2])  # a level-2 hook left by reset_hooks_end=False stays


class Boom(Exception):
    pass


def test_a_hook_that_raises_leaves_the_outer_context_hooked(pair) -> None:
    def boom(act, hook):
        raise Boom(hook.name)

    def scenario(model):
        log: list = []
        with model.hooks(fwd_hooks=[(A, recorder(log, "outer"))]):
            with pytest.raises(Boom), model.hooks(fwd_hooks=[(B, boom)]):
                model(TOKENS)
            log.append(("hooked", model.hook_dict[A].has_hooks(), model.hook_dict[B].has_hooks()))
            log.append(("level", model.context_level))
            model(TOKENS)
        log.append(("hooked", any(p.has_hooks() for p in model.hook_dict.values()), model.context_level))
        return log

    both(pair, scenario)


def test_ctx_is_state_hooks_share_until_contexts_are_cleared(pair) -> None:
    def count(act, hook):
        hook.ctx["n"] = hook.ctx.get("n", 0) + 1

    def scenario(model):
        point, seen = model.hook_dict[A], []
        with model.hooks(fwd_hooks=[(A, count)]):
            model(TOKENS)
            model(TOKENS)
        seen.append(dict(point.ctx))
        with model.hooks(fwd_hooks=[(A, count)], clear_contexts=True):
            model(TOKENS)
            seen.append(dict(point.ctx))
        seen.append(dict(point.ctx))
        model.run_with_hooks(TOKENS, fwd_hooks=[(A, count)])
        point.ctx["kept"] = True
        model.reset_hooks(clear_contexts=False)
        seen.append(dict(point.ctx))
        model.reset_hooks()
        seen.append(dict(point.ctx))
        point.ctx["x"] = 1
        model.clear_contexts()
        seen.append(dict(point.ctx))
        return seen

    assert both(pair, scenario) == [{"n": 2}, {"n": 3}, {}, {"n": 1, "kept": True}, {}, {}]


def test_a_removed_handle_stops_its_hook(pair) -> None:
    def scenario(model):
        calls: list = []
        point = model.hook_dict[A]
        point.add_hook(recorder(calls, "removed"))
        point.add_hook(recorder(calls, "kept"))
        point.fwd_hooks[0].hook.remove()
        model(TOKENS)
        return calls

    assert both(pair, scenario) == [("kept", A)]


def test_hook_dict_mod_dict_names_and_layers(pair) -> None:
    ours, theirs = pair
    assert set(ours.hook_dict) <= set(theirs.hook_dict)
    for name, point in ours.hook_dict.items():
        assert point.name == theirs.hook_dict[name].name == name
        assert ours.mod_dict[name] is point
        if name.startswith("blocks."):
            assert point.layer() == theirs.hook_dict[name].layer()
    assert set(ours.mod_dict) <= set(theirs.mod_dict)
    assert {"embed", "blocks.0.attn", "blocks.1.mlp", "ln_final", "unembed"} <= set(ours.mod_dict)


def test_run_with_hooks_clear_contexts_empties_ctx_at_the_end(pair) -> None:
    def scenario(model):
        def note(act, hook):
            hook.ctx["seen"] = True

        model.run_with_hooks(TOKENS, fwd_hooks=[(A, note)])
        kept = dict(model.hook_dict[A].ctx)
        model.run_with_hooks(TOKENS, fwd_hooks=[(A, note)], clear_contexts=True)
        return kept, dict(model.hook_dict[A].ctx)

    assert both(pair, scenario) == ({"seen": True}, {})
