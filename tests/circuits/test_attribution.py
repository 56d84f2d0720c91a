"""Residual-stream decompositions sum exactly to what the model computed; DLA sums to the logits."""

from __future__ import annotations

import pytest
import torch
from tiny_models import close, tiny, tokens_for

from circuitlab.circuits import (
    accumulated_resid,
    decompose_resid,
    logit_attrs,
    stack_head_results,
)
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import ActivationCache

CONFIGS = {
    "attn-only-ln-shortformer": dict(),
    "mlp-ln-learned": dict(attn_only=False, d_mlp=8, positional="learned"),
    "mlp-none-sinusoidal": dict(attn_only=False, d_mlp=8, positional="sinusoidal", normalization="none"),
    "attn-only-none-nopos": dict(positional="none", normalization="none"),
}


def run(model, with_result: bool = False):
    tokens = tokens_for(model)
    keep = (lambda n: "hook_result" not in n) if not with_result else None
    logits, cache = model.run_with_cache(tokens, names_filter=keep)
    return tokens, logits, cache


@torch.no_grad()
@pytest.mark.parametrize("with_result", [False, True], ids=["from-z", "from-hook-result"])
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_stacked_head_results_plus_b_o_sum_to_attn_out(overrides, with_result):
    model = tiny(**overrides)
    _, _, cache = run(model, with_result)
    for layer in range(2):
        stack = stack_head_results(cache, layer)
        assert stack.labels == [f"L{layer}H0", f"L{layer}H1", f"L{layer}H2", f"L{layer} b_O"]
        close(stack.total(), cache["attn_out", layer])
    every = stack_head_results(cache)
    assert len(every.labels) == 8
    close(every["L1H2"], stack_head_results(cache, 1)["L1H2"])


@torch.no_grad()
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_decomposed_residual_sums_to_the_cached_stream_at_every_layer(overrides):
    model = tiny(**overrides)
    _, _, cache = run(model)
    for layer in range(2):
        close(decompose_resid(cache, layer).total(), cache["resid_pre", layer])
        close(decompose_resid(cache, layer, split_heads=True).total(), cache["resid_pre", layer])
    final = decompose_resid(cache)
    close(final.total(), cache["resid_post", 1])
    assert ("pos_embed" in final.labels) == (model.cfg.positional in ("learned", "sinusoidal"))
    assert ("L1 mlp" in final.labels) == model.cfg.has_mlp


@torch.no_grad()
def test_accumulated_residual_walks_through_the_stream_in_order():
    model = tiny(attn_only=False, d_mlp=8)
    _, _, cache = run(model)
    acc = accumulated_resid(cache, incl_mid=True)
    assert acc.labels == ["0_pre", "0_mid", "1_pre", "1_mid", "final"]
    close(acc.resid[1], cache["resid_mid", 0])
    close(acc.resid[-1], cache["resid_post", 1])
    assert accumulated_resid(cache, 1).labels == ["0_pre", "1_pre"]
    zero = tiny(n_layers=0, positional="learned")
    _, _, zcache = run(zero)
    close(accumulated_resid(zcache).resid[0], zcache["hook_embed"] + zcache["hook_pos_embed"])


@torch.no_grad()
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_direct_logit_attributions_sum_to_the_answer_logits(overrides):
    model = tiny(**overrides)
    tokens, logits, cache = run(model)
    answers = torch.roll(tokens, -1, dims=1)
    dla = logit_attrs(cache, answers)
    expected = logits.gather(-1, answers[..., None])[..., 0]
    assert dla.attrs.shape == (len(dla.labels), 3, 12) and dla.labels[-1] == "bias"
    close(dla.attrs.sum(0), expected, tol=1e-4)
    close(dla.logits, expected, tol=1e-4)
    against = (answers + 1) % model.cfg.d_vocab
    diff = logit_attrs(cache, answers, against=against)
    close(diff.logits, expected - logits.gather(-1, against[..., None])[..., 0], tol=1e-4)


@torch.no_grad()
def test_layer_norm_free_attribution_is_each_component_dotted_with_the_unembedding():
    model = tiny(normalization="none")
    tokens, _, cache = run(model)
    dla = logit_attrs(cache, tokens)
    head = stack_head_results(cache, 1)["L1H2"]
    close(dla["L1H2"], (head * model.W_U.T[tokens]).sum(-1))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda c, t: logit_attrs(c, t[:, :3]), ShapeError, r"expected int ids of shape \(3, 12\)"),
        (lambda c, t: logit_attrs(c, t.float()), ShapeError, "int ids"),
        (lambda c, t: logit_attrs(c, t, against=t[:1]), ShapeError, "against"),
        (lambda c, t: decompose_resid(c, 5), ConfigError, r"layer 5 out of range \[0, 2\]"),
        (lambda c, t: stack_head_results(c, 2), ConfigError, r"layer 2 out of range \[0, 1\]"),
        (lambda c, t: decompose_resid(ActivationCache(dict(c)), 1), ConfigError, "has no model"),
    ],
    ids=[
        "answers-wrong-shape",
        "answers-float",
        "against-wrong-shape",
        "layer-too-big",
        "head-layer-too-big",
        "cache-without-model",
    ],
)
def test_bad_attribution_requests_raise_clear_errors(call, error, match):
    model = tiny()
    tokens, _, cache = run(model)
    with pytest.raises(error, match=match):
        call(cache, tokens)


@torch.no_grad()
def test_layernorm_attribution_needs_the_cached_scale_and_says_how_to_keep_it():
    model = tiny()
    _, cache = model.run_with_cache(tokens_for(model), names_filter=lambda n: "ln_final" not in n)
    with pytest.raises(KeyError, match="names_filter"):
        logit_attrs(cache, tokens_for(model))
