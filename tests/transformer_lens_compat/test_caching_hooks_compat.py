"""The caching-hook methods against TransformerLens 3.9's HookedRootModule: ``add_caching_hooks``,
``get_caching_hooks``, ``cache_all``, ``cache_some``, ``list_hooks`` and ``is_caching``.

Each scenario runs on a circuitlab Transformer and its TransformerLens twin; the caches (plain
dicts), the hook lists and the flags must be equal. TransformerLens applies ln1 three times (q, k
and v inputs), so its ln1 gradients are one of three parts (test_cache_compat.py); those are left
out of the gradient comparisons.
"""

from __future__ import annotations

import pytest
import torch
from compat_models import assert_same, both, tokens

from circuitlab.errors import ShapeError

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

A, B = "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"
TOKENS, OTHER = tokens(), tokens(seed=1)
FILTERS = {
    "none": None,
    "str": B,
    "list": [A, B, "blocks.1.hook_mlp_out"],
    "predicate": lambda name: "resid" in name or name.endswith("hook_z"),
}


@pytest.fixture
def pair(hooked_pair):
    return hooked_pair


def comparable(cache: dict) -> dict:
    """The cache without TransformerLens's partial ln1 gradients, sorted by name."""
    return {k: cache[k] for k in sorted(cache) if not (".ln1." in k and k.endswith("_grad"))}


@pytest.mark.parametrize("incl_bwd", [False, True], ids=["fwd", "fwd+bwd"])
@pytest.mark.parametrize("names_filter", list(FILTERS.values()), ids=list(FILTERS))
def test_add_caching_hooks_fills_the_same_dict_on_every_forward(pair, names_filter, incl_bwd) -> None:
    def scenario(model):
        mine: dict = {"kept": torch.zeros(1)}
        cache = model.add_caching_hooks(names_filter, incl_bwd=incl_bwd, cache=mine)
        flags = [cache is mine, model.is_caching]
        model(TOKENS).mean().backward()
        first = comparable(cache)
        model(OTHER).mean().backward()  # the hooks stay until reset_hooks: the dict is refilled
        second = comparable(cache)
        model.reset_hooks()
        model(TOKENS)
        return flags + [model.is_caching], first, second, comparable(cache)

    flags, first, second, after_reset = both(pair, scenario)
    assert flags == [True, True, False]
    assert any(name.endswith("_grad") for name in first) == incl_bwd
    name = sorted(first)[0]  # a block's activation: other tokens, other values
    assert name.startswith("blocks.") and not torch.equal(first[name], second[name])
    assert_same(second, after_reset)  # removed by reset_hooks: nothing overwrote the last forward's


@pytest.mark.parametrize("names_filter", list(FILTERS.values()), ids=list(FILTERS))
def test_get_caching_hooks_hands_out_hooks_for_a_hooks_block(pair, names_filter) -> None:
    def scenario(model):
        cache, fwd, bwd = model.get_caching_hooks(names_filter, incl_bwd=True)
        flag = model.is_caching
        with model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
            model(TOKENS).mean().backward()
        return flag, model.is_caching, not model.list_hooks(), comparable(cache)

    flag, after, clean, cache = both(pair, scenario)
    assert (flag, after, clean) == (True, False, True) and cache


def test_get_caching_hooks_names_one_hook_per_selected_point(pair) -> None:
    def scenario(model):
        _, fwd, bwd = model.get_caching_hooks(FILTERS["list"], incl_bwd=True)
        _, fwd_only, none = model.get_caching_hooks(B)
        return [name for name, _ in fwd], [name for name, _ in bwd], [n for n, _ in fwd_only], none

    assert both(pair, scenario) == (FILTERS["list"], FILTERS["list"], [B], [])


POS_IDS = {"None": "all", "-1": "int", "[0, 2]": "list", "(1, 4)": "tuple"}


@pytest.mark.parametrize("pos_slice", [None, -1, [0, 2], (1, 4)], ids=list(POS_IDS.values()))
def test_get_caching_hooks_remove_batch_dim_and_pos_slice(pair, pos_slice) -> None:
    def scenario(model):
        names = lambda name: "resid" in name or name.endswith(("hook_pattern", "hook_q", "scale"))  # noqa: E731
        cache, fwd, _ = model.get_caching_hooks(names, remove_batch_dim=True, pos_slice=pos_slice)
        model.run_with_hooks(TOKENS[:1], fwd_hooks=fwd)
        return comparable(cache)

    cache = both(pair, scenario)
    kept = {"all": 7, "int": 1, "list": 2, "tuple": 3}[POS_IDS[str(pos_slice)]]
    assert cache["blocks.0.attn.hook_q"].shape[0] == cache["blocks.1.hook_resid_post"].shape[0] == kept


@pytest.mark.parametrize(
    "call",
    [
        lambda m, c: m.cache_all(c, incl_bwd=True),
        lambda m, c: m.cache_some(c, lambda name: name.endswith(("hook_pattern", "hook_v")), incl_bwd=True),
        lambda m, c: m.cache_some(c, [A, B]),
    ],
    ids=["cache_all", "cache_some-predicate", "cache_some-list"],
)
def test_cache_all_and_cache_some_attach_caching_hooks(pair, call) -> None:
    def scenario(model):
        cache: dict = {}
        call(model, cache)
        model(TOKENS).mean().backward()
        return model.is_caching, comparable(cache)

    ours, theirs = pair
    with pytest.warns(DeprecationWarning, match="add_caching_hooks or run_with_cache"):
        mine = scenario(ours)
    assert_same(mine, scenario(theirs))  # TransformerLens logs its deprecation with logging.warning
    assert mine[0] and mine[1]


@pytest.mark.parametrize("dir", ["fwd", "bwd", "both"])
@pytest.mark.parametrize("including_permanent", [True, False])
@pytest.mark.parametrize(
    "name_filter", [None, A, [A, B], lambda name: "attn" in name], ids=["all", "one", "list", "callable"]
)
def test_list_hooks_groups_attached_hooks_by_point(pair, dir, including_permanent, name_filter) -> None:
    fns = [lambda act, hook: None for _ in range(4)]

    def scenario(model):
        model.add_hook(A, fns[0])
        model.add_perma_hook(A, fns[1], dir="bwd")
        model.add_hook(B, fns[2], dir="bwd")
        with model.hooks(fwd_hooks=[(B, fns[3])], reset_hooks_end=False):
            pass
        listed = model.list_hooks(name_filter, dir=dir, including_permanent=including_permanent)
        return {
            name: [(fns.index(h.user_hook), h.is_permanent, h.context_level) for h in handles]
            for name, handles in listed.items()
        }

    both(pair, scenario)


def test_hook_points_are_the_hook_dicts_points(pair) -> None:
    ours, theirs = pair
    assert [p.name for p in ours.hook_points()] == list(ours.hook_dict)
    assert {p.name for p in ours.hook_points()} <= {p.name for p in theirs.hook_points()}


def test_run_with_cache_sets_is_caching_until_its_hooks_are_reset(pair) -> None:
    def scenario(model):
        model.run_with_cache(TOKENS, names_filter=A)
        after_reset = model.is_caching
        model.run_with_cache(TOKENS, names_filter=A, reset_hooks_end=False)
        kept = model.is_caching, sorted(model.list_hooks())
        model.reset_hooks()
        return after_reset, kept, model.is_caching

    assert both(pair, scenario) == (False, (True, [A]), False)


def test_remove_batch_dim_on_a_batch_of_several_is_a_shape_error(pair) -> None:
    ours, theirs = pair
    _, fwd, _ = ours.get_caching_hooks(A, remove_batch_dim=True)
    with pytest.raises(ShapeError, match="remove_batch_dim=True: 'blocks.0.hook_resid_post' has shape"):
        ours.run_with_hooks(TOKENS, fwd_hooks=fwd)
    cache, fwd, _ = theirs.get_caching_hooks(A, remove_batch_dim=True)
    theirs.run_with_hooks(TOKENS, fwd_hooks=fwd)  # TransformerLens keeps the first sequence
    assert cache[A].shape == TOKENS.shape[1:] + (16,)
