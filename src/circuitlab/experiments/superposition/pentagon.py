"""Five sparse features in two dimensions: dense keeps 2 orthogonal features, sparse makes a pentagon.

ToyModel(5, 2), importance 0.9^i, trained at feature probabilities 1 .. 0.05 (S = 1 - p). Dense
(S = 0): exactly features 0 and 1 are represented (||W_i|| > 0.5), 90 degrees apart. Sparsest
(S = 0.95): all five are, their directions 72 degrees apart (a regular pentagon), each with
feature dimensionality D_i = 2/5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.superposition import figures as figs
from circuitlab.experiments.superposition.restarts import RestartRun, ToySweep, train_with_restarts
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import (
    feature_dimensionality,
    feature_norms,
    geometric_importance,
    represented_features,
    sparsity_sweep,
)


@dataclass
class PentagonResult(ClaimResult):
    """``dense_features``: indices with ||W_i|| > 0.5 at S = 0; ``sparse_gaps_deg``: angles between
    neighbouring feature directions at the sparsest S; ``sparse_dimensionality``: D_i there."""

    dense_features: list[int] = field(default_factory=list)
    sparse_gaps_deg: list[float] = field(default_factory=list)
    sparse_dimensionality: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class PentagonMeasurement:
    run: RestartRun
    dense: list[int]  # features with ||W_i|| > 0.5 at S = 0
    dense_angle: float  # degrees between the two dense features (0 unless exactly two)
    sparse_represented: int
    gaps: list[float]  # degrees between neighbouring directions at the sparsest S (all five represented)
    D: torch.Tensor  # feature dimensionality at the sparsest S, [5]

    @property
    def gap_error(self) -> float:
        return max((abs(g - 72) for g in self.gaps), default=180.0)

    @property
    def dimensionality_error(self) -> float:
        return float((self.D - 0.4).abs().max())


def superposition_pentagon(ctx: RunContext) -> PentagonResult:
    """5 features into 2 dimensions, importance 0.9^i, feature probability 1 -> 0.05."""
    m = measure(ctx)
    return render(ctx, m, judge(m))


def gaps_deg(W2: torch.Tensor) -> list[float]:
    """Angles (deg) between neighbouring directions of the columns of a [2, n] matrix, sorted."""
    angles = sorted(math.degrees(math.atan2(float(y), float(x))) % 360 for x, y in W2.T)
    return [((angles[(k + 1) % len(angles)] - angles[k]) % 360) for k in range(len(angles))]


def measure(ctx: RunContext) -> PentagonMeasurement:
    sizes = PROFILES[ctx.profile]
    ctx.report(0.0, "training 5->2 toy models")
    sweep = ToySweep(
        5, 2, tuple(sparsity_sweep(sizes.pentagon_sparsities, 0.05)), tuple(geometric_importance(5, 0.9)),
        restarts=sizes.pentagon_restarts,
    )  # fmt: skip
    run = train_with_restarts(sweep, sizes.pentagon_steps, sizes.batch, seed=ctx.seed, device=ctx.device)
    norms = feature_norms(run.W)
    dense = [i for i in range(5) if float(norms[0, i]) > 0.5]
    angle = figs.angle_degrees(run.W[0, :, dense[0]], run.W[0, :, dense[1]]) if len(dense) == 2 else 0.0
    sparse_rep = int((norms[-1] > 0.5).sum())
    gaps = gaps_deg(run.W[-1]) if sparse_rep == 5 else []
    return PentagonMeasurement(run, dense, angle, sparse_rep, gaps, feature_dimensionality(run.W[-1]))


def judge(m: PentagonMeasurement) -> Judgement:
    return Judgement(
        {
            "dense: two orthogonal features": m.dense == [0, 1] and abs(m.dense_angle - 90) <= 10,
            "sparse: a pentagon": m.sparse_represented == 5
            and m.gap_error <= 12
            and m.dimensionality_error <= 0.08,
        },
        "dense (S=0): exactly features 0 and 1 have ||W_i|| > 0.5, at 90 +- 10 deg; sparsest "
        "(S=0.95): all 5 have ||W_i|| > 0.5, neighbours 72 +- 12 deg apart, every |D_i - 2/5| <= 0.08",
    )


def render(ctx: RunContext, m: PentagonMeasurement, judgement: Judgement) -> PentagonResult:
    run, sizes = m.run, PROFILES[ctx.profile]
    sparsities = [1 - p for p in run.probabilities]
    bars = figs.gram_and_norms(run.W, sparsities, ctx.path("superposition", "pentagon_gram_norms.png"))
    plane = figs.directions_in_plane(run.W, sparsities, ctx.path("superposition", "pentagon_plane.png"))
    per_sparsity = zip(sparsities, represented_features(run.W).tolist(), run.loss, strict=True)
    ctx.report(1.0, "pentagon done")
    return PentagonResult(
        measured={
            "dense_represented": len(m.dense),
            "dense_angle_deg": round(m.dense_angle, 2),
            "sparse_represented": m.sparse_represented,
            "sparse_max_gap_error_deg": round(m.gap_error, 2),
            "sparse_max_dimensionality_error": round(m.dimensionality_error, 4),
            "sparsest_S": round(1 - run.probabilities[-1], 4),
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=(
            f"ToyModel(5, 2), importance 0.9^i, {len(run.probabilities)} feature probabilities 1..0.05 x "
            f"{sizes.pentagon_restarts} restarts (lowest loss kept), {sizes.pentagon_steps} Adam steps "
            f"(lr 1e-3, batch {sizes.batch}) on {ctx.device}"
        ),
        figures={
            "W^T W and ||W_i|| per sparsity": ctx.rel(bars),
            "feature directions in the hidden plane": ctx.rel(plane),
        },
        tables={
            "per sparsity": [["S", "represented", "loss"]]
            + [[round(s, 4), int(n), round(float(loss), 5)] for s, n, loss in per_sparsity]
        },
        dense_features=m.dense,
        sparse_gaps_deg=[round(g, 2) for g in m.gaps],
        sparse_dimensionality=[round(float(d), 4) for d in m.D],
    )
