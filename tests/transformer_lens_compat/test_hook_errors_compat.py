"""Hook errors against TransformerLens 3.9's: where circuitlab raises its own error class with a
one-line message that names the fix, and where that class is still what TransformerLens code
catches (``HookNameError`` is a ``KeyError``, as TransformerLens's unknown-name error)."""

from __future__ import annotations

import pytest
from compat_models import tokens

from circuitlab.errors import ConfigError, HookNameError, ShapeError

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A = "blocks.0.hook_resid_post"
TYPO = "blocks.0.hook_resid_pots"
TOKENS = tokens()


@pytest.fixture
def pair(hooked_pair):
    return hooked_pair


def noop(act, hook):
    return None


UNKNOWN_NAME_CALLS = {
    "add_hook": lambda m: m.add_hook(TYPO, noop),
    "add_perma_hook": lambda m: m.add_perma_hook(TYPO, noop),
    "run_with_hooks": lambda m: m.run_with_hooks(TOKENS, fwd_hooks=[(TYPO, noop)]),
    "hooks": lambda m: m.hooks(fwd_hooks=[(TYPO, noop)]).__enter__(),
}


@pytest.mark.parametrize("call", list(UNKNOWN_NAME_CALLS), ids=list(UNKNOWN_NAME_CALLS))
def test_code_that_catches_key_error_for_an_unknown_name_runs_on_both(pair, call) -> None:
    def scenario(model):
        try:
            UNKNOWN_NAME_CALLS[call](model)
        except KeyError:
            return "caught"
        return "not raised"

    assert [scenario(model) for model in pair] == ["caught", "caught"]
    assert not any(point.active for point in pair[0].hook_dict.values())  # nothing left attached


def test_an_unknown_name_is_a_hook_name_error_with_a_one_line_message(pair) -> None:
    ours, _ = pair
    with pytest.raises(HookNameError) as err:
        ours.add_hook(TYPO, noop)
    message = str(err.value)
    assert message.startswith("no hook point named 'blocks.0.hook_resid_pots'")  # not quoted as KeyError's
    assert "did you mean blocks.0.hook_resid_post" in message and "\n" not in message
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert repr(err.value).startswith("HookNameError(")


def test_a_module_that_is_not_a_hook_point_is_a_hook_name_error(pair) -> None:
    ours, theirs = pair
    with pytest.raises(HookNameError, match="blocks.0.attn"):
        ours.add_hook("blocks.0.attn", noop)
    with pytest.raises(AssertionError):  # TransformerLens asserts isinstance(..., HookPoint)
        theirs.add_hook("blocks.0.attn", noop)


def test_a_bad_direction_is_a_config_error(pair) -> None:
    ours, theirs = pair
    with pytest.raises(ConfigError, match="fwd, bwd"):
        ours.hook_dict[A].add_hook(noop, dir="sideways")
    with pytest.raises(ValueError):
        theirs.hook_dict[A].add_hook(noop, dir="sideways")


def test_a_hook_returning_the_wrong_shape_is_a_shape_error(pair) -> None:
    ours, theirs = pair
    with pytest.raises(ShapeError, match="must return None or a tensor"):
        ours.run_with_hooks(TOKENS, fwd_hooks=[(A, lambda act, hook: act[0])])
    with pytest.raises(RuntimeError):  # TL fails later, inside the next layer
        theirs.run_with_hooks(TOKENS, fwd_hooks=[(A, lambda act, hook: act[0])])
    with pytest.raises(ShapeError, match="backward hook"):
        ours.run_with_hooks(TOKENS, bwd_hooks=[(A, lambda g, hook: g[0])]).sum().backward()
