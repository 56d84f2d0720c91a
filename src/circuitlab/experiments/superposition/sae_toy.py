"""A sparse autoencoder undoes superposition: it recovers the feature directions of a toy model.

A ToyModel(10, 5) at feature probability 0.05 (S = 0.95) stores more than 5 features in its
hidden layer; an SAE with 4x latents, trained on ``hook_hidden`` read through ``run_with_cache``,
must find them: the mean over the toy model's represented features (||W_i|| > 0.5) of the best
cosine with any decoder direction is >= 0.9, with more than d_hidden features represented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.superposition import figures as figs
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import (
    SAEConfig,
    SAETrainResult,
    ToyModel,
    feature_norms,
    max_cosine_similarity,
    train_sae,
    train_toy_model,
)

SAE_TOY = {"n_features": 10, "d_hidden": 5, "p": 0.05, "expansion": 4, "l1_coeff": 0.2, "lr": 3e-3}


@dataclass
class SAERecoveryResult(ClaimResult):
    """``max_cosine``: for each true feature, its best cosine with any SAE decoder direction."""

    max_cosine: list[float] = field(default_factory=list)
    l0: float = 0.0
    fraction_variance_explained: float = 0.0
    dead_latents: int = 0


@dataclass(frozen=True)
class RecoveryMeasurement:
    sae: SAETrainResult
    cfg: SAEConfig
    truth: torch.Tensor  # [represented features, d_hidden]: the toy model's W_i
    cos: torch.Tensor  # [represented features]: best cosine with any decoder direction

    @property
    def mean_cos(self) -> float:
        return float(self.cos.mean()) if len(self.cos) else 0.0


def sae_recovers_features(ctx: RunContext) -> SAERecoveryResult:
    """Train a toy model in superposition (10 features in 5 dims, S = 0.95), then an SAE on its
    ``hook_hidden`` read through ``run_with_cache``; compare decoder rows with the columns W_i."""
    m = measure(ctx)
    return render(ctx, m, judge(m))


def measure(ctx: RunContext) -> RecoveryMeasurement:
    sizes, c = PROFILES[ctx.profile], SAE_TOY
    ctx.report(0.0, "training the toy model")
    gen = torch.Generator().manual_seed(ctx.seed)
    toy = ToyModel(c["n_features"], c["d_hidden"], 1, None, c["p"], generator=gen).to(ctx.device)
    train_toy_model(toy, steps=sizes.sae_toy_steps, batch=sizes.batch, seed=ctx.seed)
    gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed + 1)
    batches = [toy.generate_batch(8192, gen) for _ in range(8)]
    ctx.report(0.4, "training the sparse autoencoder")
    cfg = SAEConfig(
        d_in=c["d_hidden"], expansion=c["expansion"], l1_coeff=c["l1_coeff"], lr=c["lr"], steps=sizes.sae_steps,
        batch_size=1024, resample_every=max(sizes.sae_steps // 6, 1), seed=ctx.seed,
    )  # fmt: skip
    result = train_sae(toy, "hook_hidden", batches, cfg)
    W = toy.W.detach()[0].cpu()
    truth = W.T[feature_norms(W) > 0.5]
    return RecoveryMeasurement(result, cfg, truth, max_cosine_similarity(result.sae.directions.cpu(), truth))


def judge(m: RecoveryMeasurement) -> Judgement:
    return Judgement(
        {
            "features recovered": m.mean_cos >= 0.9,
            "in superposition": len(m.truth) >= SAE_TOY["d_hidden"] + 1,
        },
        "mean over the toy model's features of the max cosine with any decoder direction >= 0.9",
    )


def render(ctx: RunContext, m: RecoveryMeasurement, judgement: Judgement) -> SAERecoveryResult:
    sizes, c, cfg, metrics = PROFILES[ctx.profile], SAE_TOY, m.cfg, m.sae.metrics
    directions = m.sae.sae.directions.cpu()
    fig = figs.sae_recovery(m.cos, m.truth, directions, ctx.path("superposition", "sae_recovery.png"))
    ctx.report(1.0, "SAE done")
    return SAERecoveryResult(
        measured={
            "mean_max_cosine": round(m.mean_cos, 4),
            "min_max_cosine": round(float(m.cos.min()), 4),
            "true_features": len(m.truth),
            "l0": round(metrics.l0, 4),
            "fraction_variance_explained": round(metrics.fraction_variance_explained, 4),
            "dead_latents": metrics.dead_latents,
            "resampled": m.sae.resampled,
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=(
            f"ToyModel({c['n_features']}, {c['d_hidden']}), p = {c['p']}, {sizes.sae_toy_steps} steps; SAE with "
            f"{cfg.n_latents} latents, l1 {cfg.l1_coeff}, {cfg.steps} steps on 65536 hook_hidden activations"
        ),
        figures={"SAE decoder directions against the true features": ctx.rel(fig)},
        tables={
            "max cosine per true feature": [["feature", "max cos"]]
            + [[i, round(float(v), 4)] for i, v in enumerate(m.cos)]
        },
        max_cosine=[round(float(v), 4) for v in m.cos],
        l0=round(metrics.l0, 4),
        fraction_variance_explained=round(metrics.fraction_variance_explained, 4),
        dead_latents=metrics.dead_latents,
    )
