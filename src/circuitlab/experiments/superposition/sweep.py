"""Sparser features, more of them stored: 20 features in 5 dimensions over a sweep of sparsity.

ToyModel(20, 5), importance 0.7^i, ReLU and linear readouts. A feature is represented when
||W_i|| > 0.5. The ReLU model stores about d_hidden = 5 features when dense and at least 8 when
sparse (superposition); the linear model never stores more than 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.superposition import figures as figs
from circuitlab.experiments.superposition.restarts import ToySweep, train_with_restarts
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import geometric_importance, represented_features, sparsity_sweep


@dataclass
class SweepResult(ClaimResult):
    """Features represented (||W_i|| > 0.5) at each sparsity for the ReLU and the linear model."""

    sparsities: list[float] = field(default_factory=list)
    relu_represented: list[int] = field(default_factory=list)
    linear_represented: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class SweepMeasurement:
    probabilities: list[float]
    counts: dict[str, list[int]]  # "relu" / "linear": features represented at each probability
    relu_W: torch.Tensor  # [n_sparsities, 5, 20]

    @property
    def sparsities(self) -> list[float]:
        return [1 - p for p in self.probabilities]


def superposition_sweep(ctx: RunContext) -> SweepResult:
    """20 features into 5 dimensions, importance 0.7^i, over a sweep of sparsity."""
    m = measure(ctx)
    return render(ctx, m, judge(m))


def measure(ctx: RunContext) -> SweepMeasurement:
    sizes = PROFILES[ctx.profile]
    probs = sparsity_sweep(sizes.sweep_sparsities, sizes.sweep_p_min)
    counts, weights = {}, {}
    for k, act in enumerate(("relu", "linear")):
        ctx.report(k / 2, f"training {act} 20->5 models")
        sweep = ToySweep(20, 5, tuple(probs), tuple(geometric_importance(20, 0.7)), activation=act)
        run = train_with_restarts(sweep, sizes.sweep_steps, sizes.batch, seed=ctx.seed, device=ctx.device)
        counts[act], weights[act] = represented_features(run.W).tolist(), run.W
    return SweepMeasurement(list(probs), counts, weights["relu"])


def judge(m: SweepMeasurement) -> Judgement:
    relu, linear = m.counts["relu"], m.counts["linear"]
    return Judgement(
        {
            "ReLU dense ~5": 4 <= relu[0] <= 6,
            "ReLU sparse >= 8": max(relu) >= 8,
            "linear <= 5": max(linear) <= 5,
        },
        "ReLU: 4..6 features at S=0 and >= 8 at some sparsity; linear: never more than 5",
    )


def render(ctx: RunContext, m: SweepMeasurement, judgement: Judgement) -> SweepResult:
    sizes, relu, linear = PROFILES[ctx.profile], m.counts["relu"], m.counts["linear"]
    curve = figs.represented_vs_sparsity(
        [1 / p for p in m.probabilities], {"ReLU": relu, "linear": linear}, 5,
        ctx.path("superposition", "sweep_represented.png"),
    )  # fmt: skip
    bars = figs.gram_and_norms(m.relu_W, m.sparsities, ctx.path("superposition", "sweep_gram_norms.png"))
    ctx.report(1.0, "sweep done")
    rows = zip(m.sparsities, relu, linear, strict=True)
    return SweepResult(
        measured={
            "relu_dense": relu[0],
            "relu_max": max(relu),
            "linear_max": max(linear),
            "sparsest_S": round(m.sparsities[-1], 4),
        },  # fmt: skip
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=(
            f"ToyModel(20, 5), importance 0.7^i, {len(m.probabilities)} feature probabilities "
            f"1..{sizes.sweep_p_min}, ReLU and linear, {sizes.sweep_steps} Adam steps (lr 1e-3, batch "
            f"{sizes.batch}) on {ctx.device}"
        ),
        figures={
            "features represented against 1/(1-S)": ctx.rel(curve),
            "W^T W and ||W_i|| per sparsity (ReLU)": ctx.rel(bars),
        },
        tables={
            "features represented": [["S", "ReLU", "linear"]] + [[round(s, 4), r, lin] for s, r, lin in rows]
        },
        sparsities=[round(s, 4) for s in m.sparsities],
        relu_represented=relu,
        linear_represented=linear,
    )
