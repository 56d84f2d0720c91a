"""circuitlab's ActivationCache against TransformerLens 3.9's: the same call, the same result.

Both models hold the same weights (``to_transformer_lens``), so every stack, every label list
and every attribution must agree to float rounding. Scenarios are parametrized over an MLP model
with learned positions, an attention-only shortformer model and a model without LayerNorm.
"""

from __future__ import annotations

import logging

import pytest
import torch
from compat_models import assert_same, make_pair, tokens

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError

tl = pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

tl_utils = pytest.importorskip("transformer_lens.utils")

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TOKENS = tokens()
PROJECT = torch.randn(16, 3, generator=torch.Generator().manual_seed(5))

MODELS = {
    "mlp-learned-ln": dict(attn_only=False, positional="learned"),
    "attn-only-shortformer-ln": dict(attn_only=True, positional="shortformer"),
    "mlp-learned-no-norm": dict(attn_only=False, positional="learned", normalization="none"),
}


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def caches(request):
    ours, theirs = make_pair(**MODELS[request.param])
    return ours.run_with_cache(TOKENS)[1], theirs.run_with_cache(TOKENS)[1], request.param


@pytest.fixture(autouse=True)
def _quiet(caplog):
    caplog.set_level(logging.ERROR)  # TL logs a warning when head results are computed twice


MLP_ONLY = {"incl_mid", "neurons", "full", "mlp-input"}
SCENARIOS = {
    "accumulated_resid": lambda c: c.accumulated_resid(return_labels=True),
    "accumulated_resid-incl_mid": lambda c: c.accumulated_resid(1, incl_mid=True, return_labels=True),
    "accumulated_resid-apply_ln": lambda c: c.accumulated_resid(apply_ln=True, return_labels=True),
    "accumulated_resid-mlp-input-ln": lambda c: c.accumulated_resid(1, apply_ln=True, mlp_input=True),
    "accumulated_resid-pos-slice": lambda c: c.accumulated_resid(pos_slice=-1, return_labels=True),
    "decompose_resid": lambda c: c.decompose_resid(return_labels=True),
    "decompose_resid-mlp-input-ln": lambda c: c.decompose_resid(
        1, mlp_input=True, apply_ln=True, pos_slice=(1, 4)
    ),
    "decompose_resid-attn": lambda c: c.decompose_resid(mode="attn", return_labels=True, incl_embeds=False),
    "decompose_resid-mlp": lambda c: c.decompose_resid(mode="mlp", return_labels=True, pos_slice=[0, 2]),
    "stack_head_results": lambda c: c.stack_head_results(return_labels=True),
    "stack_head_results-remainder": lambda c: c.stack_head_results(
        1, return_labels=True, incl_remainder=True
    ),
    "stack_head_results-ln-pos": lambda c: c.stack_head_results(
        apply_ln=True, pos_slice=2, return_labels=True
    ),
    "stack_head_results-layer-0": lambda c: c.stack_head_results(0, return_labels=True, incl_remainder=True),
    "stack_activation": lambda c: c.stack_activation("pattern"),
    "stack_activation-scale-sublayer": lambda c: c.stack_activation("scale", 2, "ln1"),
    "neurons": lambda c: c.stack_neuron_results(2, return_labels=True, incl_remainder=True),
    "neurons-slice-ln": lambda c: c.stack_neuron_results(
        1, neuron_slice=[1, 5], apply_ln=True, return_labels=True
    ),
    "neurons-projected-ln": lambda c: c.stack_neuron_results(
        2, apply_ln=True, project_output_onto=PROJECT[:, 0], incl_remainder=True, return_labels=True
    ),
    "neurons-get_neuron_results": lambda c: c.get_neuron_results(1, neuron_slice=(2, 6), pos_slice=-1),
    "full": lambda c: c.get_full_resid_decomposition(return_labels=True),
    "full-mlp-input-ln": lambda c: c.get_full_resid_decomposition(
        1, mlp_input=True, apply_ln=True, return_labels=True
    ),
    "full-layer-mlp-sum": lambda c: c.get_full_resid_decomposition(expand_neurons=False, return_labels=True),
    "full-projected-ln": lambda c: c.get_full_resid_decomposition(
        apply_ln=True, project_output_onto=PROJECT, return_labels=True
    ),
    "apply_ln_to_stack": lambda c: c.apply_ln_to_stack(c.decompose_resid(), 1),
    "apply_ln_to_stack-recompute": lambda c: c.apply_ln_to_stack(c.accumulated_resid(), recompute_ln=True),
    "apply_ln_to_stack-batch-slice": lambda c: c.apply_ln_to_stack(c.decompose_resid(), batch_slice=1),
    "logit_attrs": lambda c: c.logit_attrs(c.decompose_resid(), TOKENS),
    "logit_attrs-incorrect": lambda c: c.logit_attrs(
        c.decompose_resid(pos_slice=-1), TOKENS[:, -1], incorrect_tokens=TOKENS[:, 0], pos_slice=-1
    ),
    "logit_attrs-one-token": lambda c: c.logit_attrs(c.stack_head_results(pos_slice=-1), 3, pos_slice=-1),
    "logit_attrs-no-batch": lambda c: c.logit_attrs(
        c.decompose_resid(pos_slice=-1)[:, 1],
        torch.tensor(4),
        pos_slice=-1,
        batch_slice=1,
        has_batch_dim=False,
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cache_method_gives_tl_results_and_labels(caches, name) -> None:
    ours, theirs, model = caches
    if "attn-only" in model and any(part in name for part in MLP_ONLY):
        pytest.skip("an attention-only model has no resid_mid, neurons or MLP biases")
    if "no-norm" in model and ("scale" in name or "projected-ln" in name):
        pytest.skip("no LayerNorm: no cached scale (TL's LayerNorm-folded projections read it anyway)")
    assert_same(SCENARIOS[name](ours), SCENARIOS[name](theirs))


KEYS = [
    ("pattern", 0),
    ("resid_post", -1),
    ("resid_pre", -2),
    ("scale", 1, "ln1"),
    ("normalized", 0, "ln1"),
    ("attn_scores", 1, "attn"),
    ("z", -1, "a"),
    "embed",
    "k1",
    "scale0ln1",
    "scale",
    "normalized",
    "blocks.1.hook_attn_out",
]


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_cache_keys_resolve_as_in_tl(caches, key) -> None:
    ours, theirs, model = caches
    if "no-norm" in model and ("scale" in str(key) or "normalized" in str(key)):
        pytest.skip("no LayerNorm, no scale")
    assert_same(ours[key], theirs[key])


def test_the_shared_activations_are_equal(caches) -> None:
    ours, theirs, _ = caches
    shared = [name for name in theirs.cache_dict if name in ours.cache_dict]
    assert len(shared) == len(theirs.cache_dict)  # unembed.hook_in/hook_out included
    assert_same({n: ours.cache_dict[n] for n in shared}, {n: theirs.cache_dict[n] for n in shared})


def test_remove_batch_dim_works_in_place() -> None:
    pair = make_pair()

    def scenario(model):
        _, cache = model.run_with_cache(TOKENS[:1])
        same = cache.remove_batch_dim()
        return (
            same is cache,
            cache.has_batch_dim,
            cache["pattern", 0],
            cache["resid_post", 1],
            cache.decompose_resid(),
        )

    assert_same(*(scenario(model) for model in pair))


@pytest.mark.parametrize("batch_slice", [1, (0, 1), [1, 0], None], ids=["int", "tuple", "list", "none"])
def test_apply_slice_to_batch_dim(caches, batch_slice) -> None:
    ours, theirs = (cache.apply_slice_to_batch_dim(batch_slice) for cache in caches[:2])
    assert ours.has_batch_dim == theirs.has_batch_dim
    assert_same(ours["pattern", 1], theirs["pattern", 1])
    assert_same(ours.accumulated_resid(), theirs.accumulated_resid())


def test_to_moves_in_place_and_toggle_autodiff_sets_grad_mode(caches) -> None:
    for cache in caches[:2]:
        assert cache.to("cpu") is cache
        try:
            cache.toggle_autodiff(False)
            assert not torch.is_grad_enabled()
            cache.toggle_autodiff(True)
            assert torch.is_grad_enabled()
        finally:
            torch.set_grad_enabled(True)


def test_compute_head_results_fills_the_cache_from_z(caches) -> None:
    ours, theirs, _ = caches
    ours = cl.hooks.ActivationCache(
        {k: v for k, v in ours.cache_dict.items() if "hook_result" not in k}, ours.model
    )
    ours.compute_head_results()
    theirs.compute_head_results()
    assert_same(ours["result", 1], theirs["result", 1])


ACT_NAMES = [
    ("pattern", 0),
    ("attn", 3),
    ("attn_logits", 1),
    ("query", 2),
    ("k", 6, "a"),
    ("pre", 2),
    ("mlp_post", 0),
    ("resid_pre", 5),
    ("normalized", 27, "ln2"),
    ("scale", 4, "ln1"),
    ("scale", None, "ln1"),
    ("resid_mid", 1, "b"),
    ("embed",),
    ("pos_embed",),
    ("scale",),
    ("normalized",),
    ("k6",),
    ("scale4ln1",),
    ("pre5",),
    ("resid_post11",),
    ("blocks.0.hook_resid_pre",),
    ("hook_embed",),
    ("pattern",),
]


@pytest.mark.parametrize("args", ACT_NAMES, ids=str)
def test_act_name_resolves_as_tl_get_act_name(args) -> None:
    assert cl.hooks.act_name(*args) == tl_utils.get_act_name(*args)


# --- where circuitlab deliberately differs ------------------------------------------------------


def test_errors_where_tl_asserts_are_circuitlab_value_errors(caches) -> None:
    ours, theirs, _ = caches
    with pytest.raises(ShapeError, match="batch size 1"):
        ours.remove_batch_dim()
    with pytest.raises(AssertionError):
        theirs.remove_batch_dim()
    with pytest.raises(ConfigError, match="mode"):
        ours.decompose_resid(mode="heads")
    with pytest.raises(ShapeError, match="incorrect_tokens"):
        ours.logit_attrs(ours.decompose_resid(), TOKENS, incorrect_tokens=TOKENS[:, 0])
    with pytest.raises(ConfigError, match="token ids"):
        ours.logit_attrs(ours.decompose_resid(), " road")
    single = ours.apply_slice_to_batch_dim(0)
    with pytest.raises(ShapeError, match="no batch dimension"):
        single.apply_slice_to_batch_dim(0)


def test_one_neuron_and_attention_only_decompositions_work_where_tl_raises() -> None:
    ours, theirs = make_pair(attn_only=True, positional="shortformer")
    cache = ours.run_with_cache(TOKENS)[1]
    stack, labels = cache.get_full_resid_decomposition(return_labels=True)
    assert labels == ["L0H0", "L0H1", "L1H0", "L1H1", "embed", "pos_embed", "bias"]
    with pytest.raises(AttributeError):  # TL's accumulated_bias reads the MLP biases of every block
        theirs.run_with_cache(TOKENS)[1].get_full_resid_decomposition()
    ours, _ = make_pair()
    cache = ours.run_with_cache(TOKENS)[1]
    one, labels = cache.stack_neuron_results(2, neuron_slice=3, return_labels=True)
    assert labels == ["L0N3", "L1N3"]
    assert_same(one, cache.stack_neuron_results(2, neuron_slice=[3]))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(incl_bwd=True, return_type="loss"),
        dict(pos_slice=-1),
        dict(pos_slice=(1, 4), names_filter=lambda name: "attn" in name or "resid" in name),
        dict(incl_bwd=True, pos_slice=[0, 2], return_type="loss"),
    ],
    ids=["incl_bwd", "pos-int", "pos-tuple-filter", "incl_bwd-pos-list"],
)
def test_run_with_cache_options(kwargs) -> None:
    caches = [model.run_with_cache(TOKENS, **kwargs)[1] for model in make_pair()]
    shared = [name for name in caches[1].cache_dict if name in caches[0].cache_dict]
    assert set(caches[1].cache_dict) - set(shared) <= {"unembed.hook_in", "unembed.hook_out"} | {
        f"unembed.hook_{x}_grad" for x in ("in", "out")
    }
    if kwargs.get("incl_bwd"):
        assert "blocks.0.attn.hook_pattern_grad" in shared
        # TL runs ln1 once for each of q, k and v; its ln1 gradients are one of the three parts
        # (test_ln1_gradient_is_the_sum_of_tls_three_parts)
        shared = [name for name in shared if not (".ln1." in name and name.endswith("_grad"))]
    assert_same(*({name: cache.cache_dict[name] for name in shared} for cache in caches))


def test_ln1_gradient_is_the_sum_of_tls_three_parts() -> None:
    """TransformerLens applies ln1 three times (query, key and value inputs), so a backward hook on
    ln1 fires three times there, each with one part; circuitlab's one call sees their sum."""
    seen: list[list[torch.Tensor]] = [[], []]
    for model, grads in zip(make_pair(), seen, strict=True):
        hook = [("blocks.0.ln1.hook_normalized", lambda g, hook, grads=grads: grads.append(g.clone()))]
        model.run_with_hooks(TOKENS, return_type="loss", bwd_hooks=hook).backward()
    assert (len(seen[0]), len(seen[1])) == (1, 3)
    assert_same(seen[0][0], sum(seen[1]))


def test_run_with_cache_reset_hooks_end_false_leaves_the_saving_hooks() -> None:
    for model in make_pair():
        model.run_with_cache(TOKENS, names_filter="blocks.0.hook_resid_pre", reset_hooks_end=False)
        assert model.hook_dict["blocks.0.hook_resid_pre"].has_hooks()
        model.reset_hooks()
        assert not model.hook_dict["blocks.0.hook_resid_pre"].has_hooks()


def test_incl_bwd_needs_one_number_out() -> None:
    ours, theirs = make_pair()
    with pytest.raises(ShapeError, match="return_type='loss'"):
        ours.run_with_cache(TOKENS, incl_bwd=True)
    with pytest.raises(RuntimeError):
        theirs.run_with_cache(TOKENS, incl_bwd=True)
    ours.reset_hooks()
    theirs.reset_hooks()
