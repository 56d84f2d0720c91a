"""``set_use_split_qkv_input`` with grouped-query attention against TransformerLens 3.9.

With n_key_value_heads < n_heads TransformerLens gives hook_q_input one copy of resid_pre per
query head and hook_k_input / hook_v_input one copy per key/value head; each key/value head's
copy feeds the query heads of its group. circuitlab does the same. ``set_use_attn_in`` (one copy
per query head for q, k and v) cannot feed the grouped key/value heads: TransformerLens asserts,
circuitlab raises ``ConfigError`` naming ``set_use_split_qkv_input`` as the fix.
"""

from __future__ import annotations

import pytest
import torch
from compat_models import both, make_gqa_pair, tokens

from circuitlab.errors import ConfigError

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOKENS = tokens(batch=3, pos=9)
INPUTS = ("hook_q_input", "hook_k_input", "hook_v_input")


@pytest.fixture(scope="module", params=[2, 1], ids=["kv2", "kv1"])
def module_gqa_pair(request):
    return make_gqa_pair(n_kv_heads=request.param)


@pytest.fixture
def pair(module_gqa_pair):
    yield module_gqa_pair
    for model in module_gqa_pair:
        model.set_use_split_qkv_input(False)
        model.reset_hooks(including_permanent=True)


def split_on(pair) -> None:
    for model in pair:
        model.set_use_split_qkv_input(True)


def test_the_twin_computes_the_same_logits(pair) -> None:
    both(pair, lambda m: m(TOKENS))


def test_split_inputs_cache_transformer_lens_shapes_and_values(pair) -> None:
    clean = both(pair, lambda m: m(TOKENS))
    split_on(pair)
    names = INPUTS + ("hook_normalized", "hook_scale", "hook_q", "hook_k", "hook_v", "hook_z")

    def scenario(model):
        logits, cache = model.run_with_cache(TOKENS, names_filter=lambda n: n.endswith(names))
        return logits, {name: cache[name] for name in sorted(cache.keys())}

    logits, cache = both(pair, scenario)
    torch.testing.assert_close(logits, clean, atol=1e-5, rtol=1e-4)  # an identity until a hook edits
    n_kv = pair[0].cfg.n_kv_heads
    assert cache["blocks.1.hook_q_input"].shape == (3, 9, 4, 16)
    assert cache["blocks.1.hook_k_input"].shape == cache["blocks.1.hook_v_input"].shape == (3, 9, n_kv, 16)
    assert cache["blocks.1.attn.hook_k"].shape == (3, 9, n_kv, 4)


@pytest.mark.parametrize("point", INPUTS)
def test_editing_one_heads_copy_gives_the_same_logits(pair, point) -> None:
    def edit(x, hook):
        x[:, :, -1] = x[:, :, -1].flip(1)  # the last (query or key/value) head reads positions reversed

    split_on(pair)
    logits = both(pair, lambda m: m.run_with_hooks(TOKENS, fwd_hooks=[(f"blocks.1.{point}", edit)]))
    assert not torch.allclose(logits, pair[0](TOKENS))


def test_a_hooked_split_input_switches_the_split_on_by_itself(pair) -> None:
    ours, theirs = pair
    seen: list = []
    ours.run_with_hooks(TOKENS, fwd_hooks=[("blocks.0.hook_q_input", lambda x, hook: seen.append(x.shape))])
    assert seen == [(3, 9, 4, 16)] and not ours.use_split_qkv_input  # circuitlab only: TL needs the switch


def test_attn_in_is_refused_with_the_fix_named(pair) -> None:
    ours, theirs = pair
    with pytest.raises(AssertionError, match="split_qkv_input"):
        theirs.set_use_attn_in(True)
    with pytest.raises(ConfigError, match=r"set_use_attn_in\(True\).*use set_use_split_qkv_input\(True\)"):
        ours.set_use_attn_in(True)
    assert not ours.use_attn_in
    with pytest.raises(ConfigError, match="hook_attn_in .*n_key_value_heads"):
        ours.run_with_hooks(TOKENS, fwd_hooks=[("blocks.0.hook_attn_in", lambda x, hook: None)])
    split_on(pair)  # with the split on, hook_attn_in is computed (unused, as in TransformerLens's block)
    seen: list = []
    ours.run_with_hooks(TOKENS, fwd_hooks=[("blocks.0.hook_attn_in", lambda x, hook: seen.append(x.shape))])
    assert seen == [(3, 9, 4, 16)]


def test_with_shortformer_positions_circuitlab_splits_where_transformer_lens_fails() -> None:
    ours, theirs = make_gqa_pair(n_kv_heads=2, positional="shortformer")
    clean = both((ours, theirs), lambda m: m(TOKENS))
    split_on((ours, theirs))
    _, cache = ours.run_with_cache(TOKENS, names_filter=lambda n: n.endswith(INPUTS))
    torch.testing.assert_close(ours(TOKENS), clean, atol=1e-5, rtol=1e-4)
    assert cache["blocks.0.hook_k_input"].shape == (3, 9, 2, 16)
    with pytest.raises(RuntimeError, match="must match"):  # TL adds W_pos repeated over all 4 query heads
        theirs(TOKENS)
