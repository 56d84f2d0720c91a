"""The seed's transformer pieces and the framework's structural claims, measured.

Each function builds small models from a seed, measures the claim numerically and returns a
ClaimResult. No training: these are properties of the architecture itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from circuitlab.circuits.reparametrize import refactor_heads, rotate_residual
from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.structure_ops import max_diff, random_tokens, small_model
from circuitlab.transformer.embed import sinusoidal_table
from circuitlab.transformer.norm import LayerNorm

SEED_POSITIONAL = (
    "Each position in the input sequence is represented using a combination of various sine and "
    "cosine functions where each dimension in a token embedding is represented by unique frequencies."
)
SEED_LAYERNORM = "For an input vector x, the Layer Normalization is computed as: x_hat_i = (x_i - mu) / sqrt(sigma^2 + eps)"
SEED_ADDITIVE = "The attention heads are independent and additive."
SEED_REFACTOR = (
    "the W_OV can be factorized in any way to get a W_O and a W_V, same goes for W_QK though OV "
    "and QK are very different functions."
)
SEED_BASIS = (
    "Any communication to and from the residual stream only happens in terms of linear operations- "
    "addition or linear map- ... This also has the consequence that residual stream doesn't have a "
    "privileged basis."
)
SEED_VIRTUAL = (
    "The linearity of the residual stream means that the amount of connection between any two layer "
    'can be quantified as "virtual weights" that indicate extent to which the later layer reads the '
    "information written by the previous layer."
)
TOL = 1e-4


def positional_encoding(ctx: RunContext) -> ClaimResult:
    """The sinusoidal table equals the seed's formula, with one frequency per sin/cos pair."""
    with timed() as elapsed:
        n_ctx, d_model = 256, 64
        table = sinusoidal_table(n_ctx, d_model).double().numpy()
        p, two_i = np.arange(n_ctx)[:, None], np.arange(0, d_model, 2)[None, :]
        expected = np.empty((n_ctx, d_model))
        expected[:, 0::2] = np.sin(p / 10000 ** (two_i / d_model))
        expected[:, 1::2] = np.cos(p / 10000 ** (two_i / d_model))
        err = float(np.abs(table - expected).max())
        freqs = 1 / 10000 ** (np.arange(0, d_model, 2) / d_model)
        distinct = len(np.unique(np.round(freqs, 12)))
        # PE(p + k) is a fixed rotation of PE(p): each (sin, cos) pair turns by w_i * k.
        k = 5
        sin_p, cos_p = table[:-k, 0::2], table[:-k, 1::2]
        c, sn = np.cos(freqs * k), np.sin(freqs * k)
        shifted = np.empty_like(table[:-k])
        shifted[:, 0::2] = sin_p * c + cos_p * sn
        shifted[:, 1::2] = cos_p * c - sin_p * sn
        rel_err = float(np.abs(shifted - table[k:]).max())
        fig = _plot_table(ctx, table)
    ok = err < 1e-6 and distinct == d_model // 2 and rel_err < 1e-6
    return ClaimResult(
        id="positional_encoding",
        seed=SEED_POSITIONAL,
        measured={
            "max_abs_error_vs_formula": err,
            "distinct_frequencies": distinct,
            "pairs": d_model // 2,
            "shift_by_5_is_rotation_error": rel_err,
        },
        threshold="table equals sin/cos formula (error < 1e-6); d_model/2 distinct frequencies; "
        "PE(p+k) a fixed rotation of PE(p) (error < 1e-6)",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran=f"circuitlab.transformer.embed.sinusoidal_table({n_ctx}, {d_model}) against numpy",
        figures={"Sinusoidal positional encoding (positions x dimensions)": fig},
    )


def _plot_table(ctx: RunContext, table: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    im = ax.imshow(table.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xlabel("position")
    ax.set_ylabel("dimension")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    path = ctx.path("figures", "positional_encoding.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ctx.rel(path)


def layernorm(ctx: RunContext) -> ClaimResult:
    """circuitlab's LayerNorm (the seed's formula) equals torch's, and normalises each vector."""
    with timed() as elapsed:
        gen = torch.Generator().manual_seed(ctx.seed)
        x = torch.randn(8, 32, 128, generator=gen) * 3 + 1.5
        ln = LayerNorm(128)
        with torch.no_grad():
            ln.w.uniform_(0.5, 1.5, generator=gen)
            ln.b.uniform_(-0.5, 0.5, generator=gen)
            explicit = ln.explicit(x)  # the seed's formula, step by step
            x_hat = ln.normalize(x)
        reference = F.layer_norm(x, (128,), ln.w, ln.b, eps=1e-5)
        err = max_diff(explicit, reference)
        mean_abs = float(x_hat.mean(-1).abs().max())
        var_err = float((x_hat.var(-1, unbiased=False) - 1).abs().max())
    ok = err < 1e-5 and mean_abs < 1e-5 and var_err < 1e-3
    return ClaimResult(
        id="layernorm",
        seed=SEED_LAYERNORM,
        measured={"max_abs_error_vs_torch": err, "max_abs_mean": mean_abs, "max_variance_error": var_err},
        threshold="w * x_hat + b equals torch.nn.functional.layer_norm (< 1e-5); each x_hat has mean 0 and "
        "variance 1",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran="LayerNorm(128) with random gain and bias, the formula step by step, on 8x32 random vectors "
        "against F.layer_norm",
    )


def additive_heads(ctx: RunContext) -> ClaimResult:
    """Per-head writes r^h = z^h W_O^h sum (with b_O) to the attention output."""
    with timed() as elapsed:
        model = small_model(ctx.seed, normalization="layernorm", n_layers=2)
        tokens = random_tokens(model, ctx.seed)
        # attn_out from the fast path (SDPA, one fused W_O product) ...
        _, fast = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_attn_out"))
        # ... against the per-head writes r^h, computed separately when hook_result is cached.
        _, heads = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_result"))
        errs = [
            max_diff(
                heads[f"blocks.{l}.attn.hook_result"].sum(-2) + model.blocks[l].attn.b_O,
                fast[f"blocks.{l}.hook_attn_out"],
            )
            for l in range(2)
        ]
    return ClaimResult(
        id="additive_heads",
        seed=SEED_ADDITIVE,
        measured={"max_abs_error_layer0": errs[0], "max_abs_error_layer1": errs[1]},
        threshold=f"sum over heads of hook_result + b_O equals hook_attn_out (< {TOL})",
        verdict=verdict(max(errs) < TOL),
        seconds=elapsed(),
        ran="2-layer, 4-head random transformer: per-head results (hook_result) against the fast path's "
        "attention output (scaled_dot_product_attention, fused W_O)",
    )


def refactor_ov(ctx: RunContext) -> ClaimResult:
    """W_V M, M^-1 W_O (and W_Q N, W_K N^-T) leave every logit unchanged."""
    with timed() as elapsed:
        model = small_model(ctx.seed, normalization="layernorm", n_layers=2)
        tokens = random_tokens(model, ctx.seed)
        before = model(tokens)
        ov_before, qk_before = model.OV.AB, model.QK.AB
        refactor_heads(model, torch.Generator().manual_seed(ctx.seed + 1))
        after = model(tokens)
        logit_err = max_diff(before, after)
        ov_err, qk_err = max_diff(ov_before, model.OV.AB), max_diff(qk_before, model.QK.AB)
        changed = max_diff(model.blocks[0].attn.W_V, model.blocks[0].attn.W_V * 0)
    return ClaimResult(
        id="refactor_ov",
        seed=SEED_REFACTOR,
        measured={
            "max_logit_change": logit_err,
            "max_W_OV_change": ov_err,
            "max_W_QK_change": qk_err,
            "W_V_entries_changed_by": changed,
        },
        threshold=f"logits, W_OV and W_QK unchanged (< {TOL}) although W_V, W_O, W_Q, W_K all changed",
        verdict=verdict(max(logit_err, ov_err, qk_err) < TOL),
        seconds=elapsed(),
        ran="2-layer random transformer; W_V <- W_V M, W_O <- M^-1 W_O, W_Q <- W_Q N, "
        "W_K <- W_K N^-T per head with random invertible M, N",
    )


def no_privileged_basis(ctx: RunContext) -> ClaimResult:
    """Rotating the residual stream (and every weight that reads or writes it) changes nothing,
    without LayerNorm; LayerNorm's centring and per-dimension gain make it basis-dependent."""
    with timed() as elapsed:
        errs = {}
        for norm in ("none", "layernorm"):
            model = small_model(ctx.seed, normalization=norm, n_layers=2)
            if norm == "layernorm":
                for ln in (model.blocks[0].ln1, model.blocks[1].ln1, model.ln_final):
                    torch.nn.init.normal_(ln.w, 1.0, 0.3, generator=torch.Generator().manual_seed(3))
            tokens = random_tokens(model, ctx.seed)
            before = model(tokens)
            rotate_residual(model, torch.Generator().manual_seed(ctx.seed + 2))
            errs[norm] = max_diff(before, model(tokens))
    ok = errs["none"] < TOL and errs["layernorm"] > 1e-2
    return ClaimResult(
        id="no_privileged_basis",
        seed=SEED_BASIS,
        measured={
            "max_logit_change_without_layernorm": errs["none"],
            "max_logit_change_with_layernorm": errs["layernorm"],
        },
        threshold=f"without LayerNorm a random rotation leaves logits unchanged (< {TOL}); with "
        "LayerNorm (non-uniform gain) it does not (> 1e-2): LayerNorm is where a basis is privileged",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran="2-layer random transformers; W_E, W_pos, W_Q, W_K, W_V, W_O, b_O, W_U rotated by a "
        "random orthogonal matrix",
    )


def virtual_weights(ctx: RunContext) -> ClaimResult:
    """The virtual weight W_O^{0,h} W_V^{1,h'} predicts exactly how much of head (0,h)'s write
    head (1,h') reads into its values (LayerNorm-free model, so the path is linear)."""
    with timed() as elapsed:
        model = small_model(ctx.seed, normalization="none", n_layers=2)
        tokens = random_tokens(model, ctx.seed)
        _, cache = model.run_with_cache(tokens)
        attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
        z0 = cache["blocks.0.attn.hook_z"]  # [b p h e]
        virtual = torch.einsum("hed,gdf->hgef", attn0.W_O, attn1.W_V)  # [h0, h1, d_head, d_head]
        predicted = torch.einsum("bphe,hgef->bpgf", z0, virtual)  # all layer-0 heads into layer-1 values
        rest = cache["blocks.0.hook_resid_pre"] + attn0.b_O
        v1 = torch.einsum("bpd,gdf->bpgf", rest, attn1.W_V) + attn1.b_V + predicted
        err = max_diff(v1, cache["blocks.1.attn.hook_v"])
    return ClaimResult(
        id="virtual_weights",
        seed=SEED_VIRTUAL,
        measured={"max_abs_error_values_from_virtual_weights": err},
        threshold=f"layer-1 values rebuilt from the embedding path plus virtual weights W_O W_V (< {TOL})",
        verdict=verdict(err < TOL),
        seconds=elapsed(),
        ran="2-layer LayerNorm-free random transformer; v^1 = (resid_pre + b_O^0) W_V^1 + b_V^1 + "
        "sum_h z^{0,h} (W_O^{0,h} W_V^1)",
    )
