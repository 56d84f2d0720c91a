"""Reproductions of "Toy Models of Superposition" (Elhage et al. 2022), each a typed ClaimResult.

superposition_pentagon     5 features in 2 dims: dense keeps 2 orthogonal, sparse makes a pentagon
superposition_sweep        20 features in 5 dims: sparsity lets ReLU models store more than 5
feature_dimensionality     D_i sticks at 1, 3/4, 2/3, 1/2, 2/5, 1/3
sae_recovers_features      a sparse autoencoder finds the toy model's feature directions
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from circuitlab.experiments import superposition_figures as figs
from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.superposition_sae import SAERecoveryResult, sae_recovers_features
from circuitlab.experiments.superposition_setup import PROFILES, SEED_WORDS, train_with_restarts
from circuitlab.superposition import (
    FRACTIONS,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    geometric_importance,
    nearest_fraction,
    represented_features,
    sparsity_sweep,
)

__all__ = [
    "CLAIMS",
    "DimensionalityResult",
    "PentagonResult",
    "SAERecoveryResult",
    "SweepResult",
    "feature_dimensionality_claim",
    "sae_recovers_features",
    "superposition_pentagon",
    "superposition_sweep",
]


@dataclass
class PentagonResult(ClaimResult):
    """``dense_features``: indices with ||W_i|| > 0.5 at S = 0; ``sparse_gaps_deg``: angles between
    neighbouring feature directions at the sparsest S; ``sparse_dimensionality``: D_i there."""

    dense_features: list[int] = field(default_factory=list)
    sparse_gaps_deg: list[float] = field(default_factory=list)
    sparse_dimensionality: list[float] = field(default_factory=list)


def _gaps_deg(W2: torch.Tensor) -> list[float]:
    """Angles (deg) between neighbouring directions of the columns of a [2, n] matrix, sorted."""
    angles = sorted(math.degrees(math.atan2(float(y), float(x))) % 360 for x, y in W2.T)
    return [((angles[(k + 1) % len(angles)] - angles[k]) % 360) for k in range(len(angles))]


def superposition_pentagon(ctx: RunContext) -> PentagonResult:
    """5 features into 2 dimensions, importance 0.9^i, feature probability 1 -> 0.05."""
    sizes = PROFILES[ctx.profile]
    with timed() as elapsed:
        probs = sparsity_sweep(sizes.pentagon_sparsities, 0.05)
        ctx.report(0.0, "training 5->2 toy models")
        run = train_with_restarts(
            5,
            2,
            probs,
            geometric_importance(5, 0.9),
            sizes.pentagon_restarts,
            sizes.pentagon_steps,
            sizes.batch,
            ctx.seed,
            ctx.device,
        )
        norms = feature_norms(run.W)
        dense = [i for i in range(5) if float(norms[0, i]) > 0.5]
        dense_angle = (
            figs.angle_degrees(run.W[0, :, dense[0]], run.W[0, :, dense[1]]) if len(dense) == 2 else 0.0
        )
        sparse_rep = int((norms[-1] > 0.5).sum())
        gaps = _gaps_deg(run.W[-1]) if sparse_rep == 5 else []
        D = feature_dimensionality(run.W[-1])
        ok_dense = dense == [0, 1] and abs(dense_angle - 90) <= 10
        ok_sparse = (
            sparse_rep == 5 and max(abs(g - 72) for g in gaps) <= 12 and float((D - 0.4).abs().max()) <= 0.08
        )
        sparsities = [1 - p for p in probs]
        fig_bars = figs.gram_and_norms(
            run.W, sparsities, ctx.path("superposition", "pentagon_gram_norms.png")
        )
        fig_plane = figs.directions_in_plane(
            run.W, sparsities, ctx.path("superposition", "pentagon_plane.png")
        )
        ctx.report(1.0, "pentagon done")
    return PentagonResult(
        id="superposition_pentagon",
        seed=SEED_WORDS,
        measured={
            "dense_represented": len(dense),
            "dense_angle_deg": round(dense_angle, 2),
            "sparse_represented": sparse_rep,
            "sparse_max_gap_error_deg": round(max((abs(g - 72) for g in gaps), default=180.0), 2),
            "sparse_max_dimensionality_error": round(float((D - 0.4).abs().max()), 4),
            "sparsest_S": round(1 - probs[-1], 4),
        },
        threshold=(
            "dense (S=0): exactly features 0 and 1 have ||W_i|| > 0.5, at 90 +- 10 deg; sparsest "
            "(S=0.95): all 5 have ||W_i|| > 0.5, neighbours 72 +- 12 deg apart, every |D_i - 2/5| <= 0.08"
        ),
        verdict=verdict(ok_dense and ok_sparse),
        seconds=elapsed(),
        ran=(
            f"ToyModel(5, 2), importance 0.9^i, {len(probs)} feature probabilities 1..0.05 x "
            f"{sizes.pentagon_restarts} restarts (lowest loss kept), {sizes.pentagon_steps} Adam steps "
            f"(lr 1e-3, batch {sizes.batch}) on {ctx.device}"
        ),
        figures={
            "W^T W and ||W_i|| per sparsity": ctx.rel(fig_bars),
            "feature directions in the hidden plane": ctx.rel(fig_plane),
        },
        tables={
            "per sparsity": [["S", "represented", "loss"]]
            + [
                [round(s, 4), int(n), round(float(loss), 5)]
                for s, n, loss in zip(sparsities, represented_features(run.W).tolist(), run.loss, strict=True)
            ]
        },
        dense_features=dense,
        sparse_gaps_deg=[round(g, 2) for g in gaps],
        sparse_dimensionality=[round(float(d), 4) for d in D],
    )


@dataclass
class SweepResult(ClaimResult):
    """Features represented (||W_i|| > 0.5) at each sparsity for the ReLU and the linear model."""

    sparsities: list[float] = field(default_factory=list)
    relu_represented: list[int] = field(default_factory=list)
    linear_represented: list[int] = field(default_factory=list)


def superposition_sweep(ctx: RunContext) -> SweepResult:
    """20 features into 5 dimensions, importance 0.7^i, over a sweep of sparsity."""
    sizes = PROFILES[ctx.profile]
    with timed() as elapsed:
        probs = sparsity_sweep(sizes.sweep_sparsities, sizes.sweep_p_min)
        counts = {}
        for k, act in enumerate(("relu", "linear")):
            ctx.report(k / 2, f"training {act} 20->5 models")
            run = train_with_restarts(
                20,
                5,
                probs,
                geometric_importance(20, 0.7),
                1,
                sizes.sweep_steps,
                sizes.batch,
                ctx.seed,
                ctx.device,
                activation=act,
            )
            counts[act] = represented_features(run.W).tolist()
            if act == "relu":
                relu_W = run.W
        sparsities = [1 - p for p in probs]
        ok = 4 <= counts["relu"][0] <= 6 and max(counts["relu"]) >= 8 and max(counts["linear"]) <= 5
        fig_curve = figs.represented_vs_sparsity(
            [1 / p for p in probs],
            {"ReLU": counts["relu"], "linear": counts["linear"]},
            5,
            ctx.path("superposition", "sweep_represented.png"),
        )
        fig_bars = figs.gram_and_norms(relu_W, sparsities, ctx.path("superposition", "sweep_gram_norms.png"))
        ctx.report(1.0, "sweep done")
    return SweepResult(
        id="superposition_sweep",
        seed=SEED_WORDS,
        measured={
            "relu_dense": counts["relu"][0],
            "relu_max": max(counts["relu"]),
            "linear_max": max(counts["linear"]),
            "sparsest_S": round(sparsities[-1], 4),
        },
        threshold="ReLU: 4..6 features at S=0 and >= 8 at some sparsity; linear: never more than 5",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran=(
            f"ToyModel(20, 5), importance 0.7^i, {len(probs)} feature probabilities 1..{sizes.sweep_p_min}, "
            f"ReLU and linear, {sizes.sweep_steps} Adam steps (lr 1e-3, batch {sizes.batch}) on {ctx.device}"
        ),
        figures={
            "features represented against 1/(1-S)": ctx.rel(fig_curve),
            "W^T W and ||W_i|| per sparsity (ReLU)": ctx.rel(fig_bars),
        },
        tables={
            "features represented": [["S", "ReLU", "linear"]]
            + [
                [round(s, 4), r, lin]
                for s, r, lin in zip(sparsities, counts["relu"], counts["linear"], strict=True)
            ]
        },
        sparsities=[round(s, 4) for s in sparsities],
        relu_represented=counts["relu"],
        linear_represented=counts["linear"],
    )


@dataclass
class DimensionalityResult(ClaimResult):
    """``fractions``: share of represented features within ``tolerance`` of each sticky value;
    ``histogram``: counts of D_i in bins of width 0.02 over [0, 1.1)."""

    fractions: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.02
    histogram: list[int] = field(default_factory=list)


def feature_dimensionality_claim(ctx: RunContext, tolerance: float = 0.02) -> DimensionalityResult:
    """Many features, uniform importance, a sweep of sparsity: D_i clusters at the sticky fractions."""
    s = PROFILES[ctx.profile]
    with timed() as elapsed:
        probs = sparsity_sweep(s.dim_sparsities, s.dim_p_min)
        ctx.report(0.0, f"training {s.dim_features}->{s.dim_hidden} toy models")
        run = train_with_restarts(
            s.dim_features, s.dim_hidden, probs, None, 1, s.dim_steps, s.dim_batch, ctx.seed, ctx.device
        )
        D = feature_dimensionality(run.W)
        represented = D[feature_norms(run.W) > 0.5]
        names = nearest_fraction(represented, tolerance)
        near = sum(n is not None for n in names) / max(len(names), 1)
        fractions = {name: names.count(name) / max(len(names), 1) for name, _ in FRACTIONS}
        # a spread with no preference over the observed range [min D_i, 1] would put this share near them:
        low = float(represented.min()) if len(names) else 0.0
        chance = min(1.0, len(FRACTIONS) * 2 * tolerance / max(1.0 + tolerance - low, 1e-6))
        ok = near >= 0.5 and near >= 1.5 * chance
        fig = figs.dimensionality_scatter(
            D,
            [1 / p for p in probs],
            dimensions_per_feature(run.W),
            fractions,
            ctx.path("superposition", "feature_dimensionality.png"),
        )
        ctx.report(1.0, "feature dimensionality done")
    hist = torch.histc(D.flatten(), bins=55, min=0.0, max=1.1).long().tolist()
    return DimensionalityResult(
        id="feature_dimensionality",
        seed=SEED_WORDS,
        measured={
            "represented_features": len(names),
            "fraction_near_sticky": round(near, 4),
            "chance_fraction": round(chance, 4),
            **{f"share_{k}": round(v, 4) for k, v in fractions.items()},
        },
        threshold=(
            f"at least half of the represented features (||W_i|| > 0.5) have D_i within {tolerance} of "
            "1, 3/4, 2/3, 1/2, 2/5 or 1/3, and at least 1.5x the share an even spread over [min D_i, 1] would give"
        ),
        verdict=verdict(ok),
        seconds=elapsed(),
        ran=(
            f"ToyModel({s.dim_features}, {s.dim_hidden}), uniform importance, {len(probs)} feature "
            f"probabilities 1..{s.dim_p_min}, {s.dim_steps} Adam steps (lr 1e-3, batch {s.dim_batch}) on {ctx.device}"
        ),
        figures={"feature dimensionality against 1/(1-S), and its histogram": ctx.rel(fig)},
        tables={
            "D_i near each fraction": [["fraction", "share of represented features"]]
            + [[k, round(v, 4)] for k, v in fractions.items()]
        },
        fractions={k: round(v, 4) for k, v in fractions.items()},
        tolerance=tolerance,
        histogram=hist,
    )


CLAIMS = {
    "superposition_pentagon": superposition_pentagon,
    "superposition_sweep": superposition_sweep,
    "feature_dimensionality": feature_dimensionality_claim,
    "sae_recovers_features": sae_recovers_features,
}
