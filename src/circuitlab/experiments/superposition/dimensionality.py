"""Feature dimensionality sticks at fractions: D_i clusters at 1, 3/4, 2/3, 1/2, 2/5 and 1/3.

    D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2          (Elhage et al. 2022, "feature dimensionality")

Many features with uniform importance are trained over a sweep of sparsity. Of the represented
features (||W_i|| > 0.5), at least half must have D_i within ``tolerance`` of a sticky fraction,
and at least 1.5x the share that an even spread of D_i over [min D_i, 1] would put there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.superposition import figures as figs
from circuitlab.experiments.superposition.restarts import RestartRun, ToySweep, train_with_restarts
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import (
    FRACTIONS,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    nearest_fraction,
    sparsity_sweep,
)


@dataclass
class DimensionalityResult(ClaimResult):
    """``fractions``: share of represented features within ``tolerance`` of each sticky value;
    ``histogram``: counts of D_i in bins of width 0.02 over [0, 1.1)."""

    fractions: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.02
    histogram: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DimensionalityMeasurement:
    run: RestartRun
    D: torch.Tensor  # [n_sparsities, n_features]
    represented: int
    near: float  # share of represented features near a sticky fraction
    chance: float  # the share an even spread over [min D_i, 1] would give
    fractions: dict[str, float]  # share near each fraction
    tolerance: float


def feature_dimensionality_claim(ctx: RunContext, tolerance: float = 0.02) -> DimensionalityResult:
    """Many features, uniform importance, a sweep of sparsity: D_i clusters at the sticky fractions."""
    m = measure(ctx, tolerance)
    return render(ctx, m, judge(m))


def measure(ctx: RunContext, tolerance: float) -> DimensionalityMeasurement:
    s = PROFILES[ctx.profile]
    ctx.report(0.0, f"training {s.dim_features}->{s.dim_hidden} toy models")
    sweep = ToySweep(s.dim_features, s.dim_hidden, tuple(sparsity_sweep(s.dim_sparsities, s.dim_p_min)))
    run = train_with_restarts(sweep, s.dim_steps, s.dim_batch, seed=ctx.seed, device=ctx.device)
    D = feature_dimensionality(run.W)
    represented = D[feature_norms(run.W) > 0.5]
    names = nearest_fraction(represented, tolerance)
    n = max(len(names), 1)
    near = sum(name is not None for name in names) / n
    fractions = {name: names.count(name) / n for name, _ in FRACTIONS}
    # a spread with no preference over the observed range [min D_i, 1] would put this share near them:
    low = float(represented.min()) if len(names) else 0.0
    chance = min(1.0, len(FRACTIONS) * 2 * tolerance / max(1.0 + tolerance - low, 1e-6))
    return DimensionalityMeasurement(run, D, len(names), near, chance, fractions, tolerance)


def judge(m: DimensionalityMeasurement) -> Judgement:
    return Judgement(
        {"half near a fraction": m.near >= 0.5, "above an even spread": m.near >= 1.5 * m.chance},
        f"at least half of the represented features (||W_i|| > 0.5) have D_i within {m.tolerance} of "
        "1, 3/4, 2/3, 1/2, 2/5 or 1/3, and at least 1.5x the share an even spread over [min D_i, 1] would give",
    )


def render(ctx: RunContext, m: DimensionalityMeasurement, judgement: Judgement) -> DimensionalityResult:
    s, probs = PROFILES[ctx.profile], m.run.probabilities
    fig = figs.dimensionality_scatter(
        m.D, [1 / p for p in probs], dimensions_per_feature(m.run.W), m.fractions,
        ctx.path("superposition", "feature_dimensionality.png"),
    )  # fmt: skip
    ctx.report(1.0, "feature dimensionality done")
    return DimensionalityResult(
        measured={
            "represented_features": m.represented,
            "fraction_near_sticky": round(m.near, 4),
            "chance_fraction": round(m.chance, 4),
            **{f"share_{k}": round(v, 4) for k, v in m.fractions.items()},
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=(
            f"ToyModel({s.dim_features}, {s.dim_hidden}), uniform importance, {len(probs)} feature "
            f"probabilities 1..{s.dim_p_min}, {s.dim_steps} Adam steps (lr 1e-3, batch {s.dim_batch}) on {ctx.device}"
        ),
        figures={"feature dimensionality against 1/(1-S), and its histogram": ctx.rel(fig)},
        tables={
            "D_i near each fraction": [["fraction", "share of represented features"]]
            + [[k, round(v, 4)] for k, v in m.fractions.items()]
        },
        fractions={k: round(v, 4) for k, v in m.fractions.items()},
        tolerance=m.tolerance,
        histogram=torch.histc(m.D.flatten(), bins=55, min=0.0, max=1.1).long().tolist(),
    )
