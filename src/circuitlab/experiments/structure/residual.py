"""The residual stream has no privileged basis, and virtual weights connect any two layers.

rotation: writers W -> W R, readers W -> R^T W (R orthogonal): logits unchanged without LayerNorm
virtual weights: v^1 = (resid_pre + b_O^0) W_V^1 + b_V^1 + sum_h z^{0,h} (W_O^{0,h} W_V^1)
"""

from __future__ import annotations

import torch

from circuitlab.circuits.reparametrize import rotate_residual
from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.structure.models import TOL, max_diff, random_tokens, small_model


def no_privileged_basis(ctx: RunContext) -> ClaimResult:
    """Rotating the residual stream (and every weight that reads or writes it) changes nothing,
    without LayerNorm; LayerNorm's centring and per-dimension gain make it basis-dependent."""
    changes = {norm: measure_rotation(ctx.seed, norm) for norm in ("none", "layernorm")}
    return render_rotation(changes, judge_rotation(changes))


def measure_rotation(seed: int, norm: str) -> float:
    """Largest logit change when a random orthogonal matrix rotates the residual stream."""
    model = small_model(seed, normalization=norm, n_layers=2)
    if norm == "layernorm":
        for ln in (model.blocks[0].ln1, model.blocks[1].ln1, model.ln_final):
            torch.nn.init.normal_(ln.w, 1.0, 0.3, generator=torch.Generator().manual_seed(3))
    tokens = random_tokens(model, seed)
    before = model(tokens)
    rotate_residual(model, torch.Generator().manual_seed(seed + 2))
    return max_diff(before, model(tokens))


def judge_rotation(changes: dict[str, float]) -> Judgement:
    return Judgement(
        {
            "invariant without LayerNorm": changes["none"] < TOL,
            "LayerNorm breaks it": changes["layernorm"] > 1e-2,
        },
        f"without LayerNorm a random rotation leaves logits unchanged (< {TOL}); with "
        "LayerNorm (non-uniform gain) it does not (> 1e-2): LayerNorm is where a basis is privileged",
    )


def render_rotation(changes: dict[str, float], judgement: Judgement) -> ClaimResult:
    return ClaimResult(
        measured={
            "max_logit_change_without_layernorm": changes["none"],
            "max_logit_change_with_layernorm": changes["layernorm"],
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="2-layer random transformers; W_E, W_pos, W_Q, W_K, W_V, W_O, b_O, W_U rotated by a "
        "random orthogonal matrix",
    )


def virtual_weights(ctx: RunContext) -> ClaimResult:
    """The virtual weight W_O^{0,h} W_V^{1,h'} predicts exactly how much of head (0,h)'s write
    head (1,h') reads into its values (LayerNorm-free model, so the path is linear)."""
    err = measure_virtual(ctx.seed)
    return render_virtual(err, judge_virtual(err))


def measure_virtual(seed: int) -> float:
    """Largest error of layer 1's values rebuilt through the virtual weights."""
    model = small_model(seed, normalization="none", n_layers=2)
    _, cache = model.run_with_cache(random_tokens(model, seed))
    attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
    z0 = cache["blocks.0.attn.hook_z"]  # [b p h e]
    virtual = torch.einsum("hed,gdf->hgef", attn0.W_O, attn1.W_V)  # [h0, h1, d_head, d_head]
    predicted = torch.einsum("bphe,hgef->bpgf", z0, virtual)  # all layer-0 heads into layer-1 values
    rest = cache["blocks.0.hook_resid_pre"] + attn0.b_O
    v1 = torch.einsum("bpd,gdf->bpgf", rest, attn1.W_V) + attn1.b_V + predicted
    return max_diff(v1, cache["blocks.1.attn.hook_v"])


def judge_virtual(err: float) -> Judgement:
    return Judgement(
        {"values rebuilt": err < TOL},
        f"layer-1 values rebuilt from the embedding path plus virtual weights W_O W_V (< {TOL})",
    )


def render_virtual(err: float, judgement: Judgement) -> ClaimResult:
    return ClaimResult(
        measured={"max_abs_error_values_from_virtual_weights": err},
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="2-layer LayerNorm-free random transformer; v^1 = (resid_pre + b_O^0) W_V^1 + b_V^1 + "
        "sum_h z^{0,h} (W_O^{0,h} W_V^1)",
    )
