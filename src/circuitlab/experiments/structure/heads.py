"""Attention heads are independent and additive, and W_OV / W_QK can be factored any way.

attn_out = sum_h r^h + b_O,   r^h = z^h W_O^h                       (per-head writes add up)
W_V M, M^-1 W_O and W_Q N, W_K N^-T leave W_OV = W_V W_O, W_QK = W_Q W_K^T and every logit alone
"""

from __future__ import annotations

import torch

from circuitlab.circuits.reparametrize import refactor_heads
from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.structure.models import TOL, max_diff, random_tokens, small_model


def additive_heads(ctx: RunContext) -> ClaimResult:
    """Per-head writes r^h = z^h W_O^h sum (with b_O) to the attention output."""
    errors = measure_additive(ctx.seed)
    return render_additive(errors, judge_additive(errors))


def measure_additive(seed: int) -> dict[str, float]:
    model = small_model(seed, normalization="layernorm", n_layers=2)
    tokens = random_tokens(model, seed)
    # attn_out from the fast path (SDPA, one fused W_O product) ...
    _, fast = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_attn_out"))
    # ... against the per-head writes r^h, computed separately when hook_result is cached.
    _, heads = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_result"))
    return {
        f"max_abs_error_layer{l}": max_diff(
            heads[f"blocks.{l}.attn.hook_result"].sum(-2) + model.blocks[l].attn.b_O,
            fast[f"blocks.{l}.hook_attn_out"],
        )
        for l in range(2)
    }


def judge_additive(errors: dict[str, float]) -> Judgement:
    return Judgement(
        {"heads add up": max(errors.values()) < TOL},
        f"sum over heads of hook_result + b_O equals hook_attn_out (< {TOL})",
    )


def render_additive(errors: dict[str, float], judgement: Judgement) -> ClaimResult:
    return ClaimResult(
        measured=errors,
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="2-layer, 4-head random transformer: per-head results (hook_result) against the fast path's "
        "attention output (scaled_dot_product_attention, fused W_O)",
    )


def refactor_ov(ctx: RunContext) -> ClaimResult:
    """W_V M, M^-1 W_O (and W_Q N, W_K N^-T) leave every logit unchanged."""
    changes = measure_refactor(ctx.seed)
    return render_refactor(changes, judge_refactor(changes))


def measure_refactor(seed: int) -> dict[str, float]:
    model = small_model(seed, normalization="layernorm", n_layers=2)
    tokens = random_tokens(model, seed)
    before, ov_before, qk_before = model(tokens), model.OV.AB, model.QK.AB
    refactor_heads(model, torch.Generator().manual_seed(seed + 1))
    return {
        "max_logit_change": max_diff(before, model(tokens)),
        "max_W_OV_change": max_diff(ov_before, model.OV.AB),
        "max_W_QK_change": max_diff(qk_before, model.QK.AB),
        "W_V_entries_changed_by": max_diff(model.blocks[0].attn.W_V, model.blocks[0].attn.W_V * 0),
    }


def judge_refactor(changes: dict[str, float]) -> Judgement:
    unchanged = ("max_logit_change", "max_W_OV_change", "max_W_QK_change")
    return Judgement(
        {"nothing changes": max(changes[k] for k in unchanged) < TOL},
        f"logits, W_OV and W_QK unchanged (< {TOL}) although W_V, W_O, W_Q, W_K all changed",
    )


def render_refactor(changes: dict[str, float], judgement: Judgement) -> ClaimResult:
    return ClaimResult(
        measured=changes,
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="2-layer random transformer; W_V <- W_V M, W_O <- M^-1 W_O, W_Q <- W_Q N, "
        "W_K <- W_K N^-T per head with random invertible M, N",
    )
