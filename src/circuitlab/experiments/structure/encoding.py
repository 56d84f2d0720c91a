"""The seed's transformer pieces: the sinusoidal positional encoding and LayerNorm, from their formulas.

PE[p, 2i] = sin(p / 10000^(2i / d_model)),   PE[p, 2i + 1] = cos(p / 10000^(2i / d_model))
LN(x) = w * (x - mu) / sqrt(sigma^2 + eps) + b
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, save_figure
from circuitlab.experiments.structure.models import max_diff
from circuitlab.report.figures import pyplot
from circuitlab.transformer.embed import sinusoidal_table
from circuitlab.transformer.norm import LayerNorm

N_CTX, D_MODEL, SHIFT = 256, 64, 5


@dataclass(frozen=True)
class PositionalMeasurement:
    table: np.ndarray  # [n_ctx, d_model]
    formula_error: float
    distinct_frequencies: int
    rotation_error: float


def positional_encoding(ctx: RunContext) -> ClaimResult:
    """The sinusoidal table equals the seed's formula, with one frequency per sin/cos pair."""
    m = measure_positional()
    return render_positional(ctx, m, judge_positional(m))


def measure_positional() -> PositionalMeasurement:
    table = sinusoidal_table(N_CTX, D_MODEL).double().numpy()
    p, two_i = np.arange(N_CTX)[:, None], np.arange(0, D_MODEL, 2)[None, :]
    expected = np.empty((N_CTX, D_MODEL))
    expected[:, 0::2] = np.sin(p / 10000 ** (two_i / D_MODEL))
    expected[:, 1::2] = np.cos(p / 10000 ** (two_i / D_MODEL))
    freqs = 1 / 10000 ** (np.arange(0, D_MODEL, 2) / D_MODEL)
    # PE(p + k) is a fixed rotation of PE(p): each (sin, cos) pair turns by w_i * k.
    sin_p, cos_p = table[:-SHIFT, 0::2], table[:-SHIFT, 1::2]
    c, sn = np.cos(freqs * SHIFT), np.sin(freqs * SHIFT)
    shifted = np.empty_like(table[:-SHIFT])
    shifted[:, 0::2] = sin_p * c + cos_p * sn
    shifted[:, 1::2] = cos_p * c - sin_p * sn
    return PositionalMeasurement(
        table,
        float(np.abs(table - expected).max()),
        len(np.unique(np.round(freqs, 12))),
        float(np.abs(shifted - table[SHIFT:]).max()),
    )


def judge_positional(m: PositionalMeasurement) -> Judgement:
    return Judgement(
        {
            "the formula": m.formula_error < 1e-6,
            "one frequency per pair": m.distinct_frequencies == D_MODEL // 2,
            "shifts are rotations": m.rotation_error < 1e-6,
        },
        "table equals sin/cos formula (error < 1e-6); d_model/2 distinct frequencies; "
        "PE(p+k) a fixed rotation of PE(p) (error < 1e-6)",
    )


def render_positional(ctx: RunContext, m: PositionalMeasurement, judgement: Judgement) -> ClaimResult:
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
    im = ax.imshow(m.table.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(xlabel="position", ylabel="dimension")
    fig.colorbar(im, ax=ax)
    return ClaimResult(
        measured={
            "max_abs_error_vs_formula": m.formula_error,
            "distinct_frequencies": m.distinct_frequencies,
            "pairs": D_MODEL // 2,
            "shift_by_5_is_rotation_error": m.rotation_error,
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"circuitlab.transformer.embed.sinusoidal_table({N_CTX}, {D_MODEL}) against numpy",
        figures={
            "Sinusoidal positional encoding (positions x dimensions)": save_figure(
                ctx, fig, "figures", "positional_encoding"
            )
        },
    )


def layernorm(ctx: RunContext) -> ClaimResult:
    """circuitlab's LayerNorm (the seed's formula) equals torch's, and normalises each vector."""
    errors = measure_layernorm(ctx.seed)
    return render_layernorm(errors, judge_layernorm(errors))


def measure_layernorm(seed: int) -> dict[str, float]:
    """The formula step by step (``LayerNorm.explicit``) on 8 x 32 random vectors of width 128."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 32, 128, generator=gen) * 3 + 1.5
    ln = LayerNorm(128)
    with torch.no_grad():
        ln.w.uniform_(0.5, 1.5, generator=gen)
        ln.b.uniform_(-0.5, 0.5, generator=gen)
        explicit = ln.explicit(x)  # the seed's formula, step by step
        x_hat = ln.normalize(x)
    reference = F.layer_norm(x, (128,), ln.w, ln.b, eps=1e-5)
    return {
        "max_abs_error_vs_torch": max_diff(explicit, reference),
        "max_abs_mean": float(x_hat.mean(-1).abs().max()),
        "max_variance_error": float((x_hat.var(-1, unbiased=False) - 1).abs().max()),
    }


def judge_layernorm(errors: dict[str, float]) -> Judgement:
    return Judgement(
        {
            "equals torch": errors["max_abs_error_vs_torch"] < 1e-5,
            "mean 0": errors["max_abs_mean"] < 1e-5,
            "variance 1": errors["max_variance_error"] < 1e-3,
        },
        "w * x_hat + b equals torch.nn.functional.layer_norm (< 1e-5); each x_hat has mean 0 and variance 1",
    )


def render_layernorm(errors: dict[str, float], judgement: Judgement) -> ClaimResult:
    return ClaimResult(
        measured=errors,
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="LayerNorm(128) with random gain and bias, the formula step by step, on 8x32 random vectors "
        "against F.layer_norm",
    )
