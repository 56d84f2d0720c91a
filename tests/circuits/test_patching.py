"""Ablation and activation patching change exactly what they claim to change."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_models import close, induction_model, tiny, tokens_for

from circuitlab.circuits import (
    ablate_heads,
    head_ablation_hooks,
    patch_activation,
    patch_heads,
    patch_resid,
    repeated_random_tokens,
)
from circuitlab.errors import ConfigError, ShapeError


@torch.no_grad()
def test_zero_ablation_equals_a_model_whose_heads_write_nothing():
    model = tiny()
    tokens = tokens_for(model)
    result = ablate_heads(model, tokens, [(0, 1), (1, 2)])
    reference = copy.deepcopy(model)
    reference.blocks[0].attn.W_O[1].zero_()
    reference.blocks[1].attn.W_O[2].zero_()
    close(result.ablated_logits, reference(tokens))
    assert result.heads == ((0, 1), (1, 2)) and result.kind == "zero"
    assert result.clean_loss.shape == result.ablated_loss.shape == (3, 11)
    assert not any(p.active for p in model.hook_dict.values())


@torch.no_grad()
def test_mean_ablation_writes_the_per_position_mean_z_through_w_o():
    model = tiny(n_layers=1, normalization="none")
    tokens, reference = tokens_for(model, seed=1), tokens_for(model, batch=5, seed=2)
    _, clean = model.run_with_cache(tokens)
    _, ref = model.run_with_cache(reference)
    result = ablate_heads(model, tokens, [(0, 2)], kind="mean", reference_tokens=reference)
    W_O = model.blocks[0].attn.W_O[2]
    delta_write = (ref["z", 0].mean(0)[:, 2] - clean["z", 0][:, :, 2]) @ W_O  # 1 layer, no LN: linear
    close(result.ablated_logits - model(tokens), delta_write @ model.W_U, tol=1e-4)


@torch.no_grad()
def test_ablating_the_induction_head_removes_in_context_learning():
    model = induction_model()
    tokens = repeated_random_tokens(model.cfg.d_vocab, half_len=11, batch=16)
    result = ablate_heads(model, tokens, [(1, 0)])
    first, second = slice(0, 11), slice(11, 22)
    clean_gain = result.clean_loss[:, first].mean() - result.clean_loss[:, second].mean()
    ablated_gain = result.ablated_loss[:, first].mean() - result.ablated_loss[:, second].mean()
    assert clean_gain > 1.0 and abs(ablated_gain) < 0.2 * clean_gain, (clean_gain, ablated_gain)
    assert (result.ablated_loss[:, second] - result.clean_loss[:, second]).mean() > 1.0
    assert result.loss_increase == pytest.approx(
        (result.ablated_loss.mean() - result.clean_loss.mean()).item()
    )


@torch.no_grad()
def test_patching_one_head_moves_a_linear_metric_by_exactly_that_heads_write():
    model = tiny(n_layers=1, normalization="none")
    clean, corrupted = tokens_for(model, seed=1), tokens_for(model, seed=2)

    def metric(logits):
        return logits[:, -1, 5].mean()

    result = patch_heads(model, clean, corrupted, metric)
    _, c = model.run_with_cache(clean)
    _, k = model.run_with_cache(corrupted)
    W_O = model.blocks[0].attn.W_O
    for h in range(3):
        delta = ((c["z", 0][:, -1, h] - k["z", 0][:, -1, h]) @ W_O[h] @ model.W_U[:, 5]).mean()
        close(result.scores[0, h], result.corrupted_metric + delta, tol=1e-4)
    assert result.axes == ("layer", "head")


@torch.no_grad()
def test_patching_the_residual_where_prompts_differ_restores_the_clean_metric_and_nowhere_else():
    model = tiny()
    clean = tokens_for(model, batch=2)
    corrupted = clean.clone()
    corrupted[:, 6] = (corrupted[:, 6] + 1) % model.cfg.d_vocab

    def metric(logits):
        return logits[:, -1].log_softmax(-1)[:, 3].mean()

    result = patch_resid(model, clean, corrupted, metric)
    assert result.scores.shape == (2, 12) and result.axes == ("layer", "pos")
    norm = result.normalized
    close(norm[0, 6], torch.tensor(1.0), tol=1e-4)
    close(norm[0, [p for p in range(12) if p != 6]], torch.zeros(11), tol=1e-4)


@torch.no_grad()
def test_patch_activation_with_the_clean_cache_everywhere_reproduces_the_clean_logits():
    model = tiny()
    clean, corrupted = tokens_for(model, seed=1), tokens_for(model, seed=2)
    clean_logits, cache = model.run_with_cache(clean)
    close(patch_activation(model, corrupted, cache, "blocks.1.hook_resid_post"), clean_logits)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, t: ablate_heads(m, t, [(0, 3)]), ConfigError, "head 3 out of range"),
        (lambda m, t: ablate_heads(m, t, [(2, 0)]), ConfigError, "layer 2 out of range"),
        (lambda m, t: ablate_heads(m, t, [0]), ConfigError, r"\(layer, head\) pairs"),
        (lambda m, t: ablate_heads(m, t, [(0, 0)], kind="resample"), ConfigError, "kind 'resample'"),
        (lambda m, t: head_ablation_hooks(m, [(0, 0)], kind="mean"), ConfigError, "reference_tokens"),
        (lambda m, t: ablate_heads(m, t, [(0, 0)], "mean", t[:, :4]), ShapeError, "at least as long"),
        (lambda m, t: patch_heads(m, t, t[:, :5], lambda x: x.sum()), ShapeError, "same shape"),
        (lambda m, t: patch_resid(tiny(n_layers=0), t, t, lambda x: x.sum()), ConfigError, "n_layers=0"),
    ],
    ids=[
        "head-too-big",
        "layer-too-big",
        "not-a-pair",
        "unknown-kind",
        "mean-without-reference",
        "reference-too-short",
        "prompts-differ-in-shape",
        "no-layers",
    ],
)
def test_bad_ablation_and_patching_requests_raise_clear_errors(call, error, match):
    model = tiny()
    with pytest.raises(error, match=match):
        call(model, tokens_for(model))
    assert not any(p.active for p in model.hook_dict.values())
