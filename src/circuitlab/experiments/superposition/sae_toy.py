"""A sparse autoencoder recovers the feature directions of a toy model in superposition."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from circuitlab.experiments import superposition_figures as figs
from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.superposition_setup import PROFILES, SEED_WORDS
from circuitlab.superposition import (
    SAEConfig,
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


def sae_recovers_features(ctx: RunContext) -> SAERecoveryResult:
    """Train a toy model in superposition (10 features in 5 dims, S = 0.95), then an SAE on its
    ``hook_hidden`` read through ``run_with_cache``; compare decoder rows with the columns W_i."""
    sizes, c = PROFILES[ctx.profile], SAE_TOY
    with timed() as elapsed:
        ctx.report(0.0, "training the toy model")
        toy = ToyModel(
            c["n_features"], c["d_hidden"], 1, None, c["p"], generator=torch.Generator().manual_seed(ctx.seed)
        ).to(ctx.device)
        train_toy_model(toy, steps=sizes.sae_toy_steps, batch=sizes.batch, seed=ctx.seed)
        gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed + 1)
        batches = [toy.generate_batch(8192, gen) for _ in range(8)]
        ctx.report(0.4, "training the sparse autoencoder")
        cfg = SAEConfig(
            d_in=c["d_hidden"],
            expansion=c["expansion"],
            l1_coeff=c["l1_coeff"],
            lr=c["lr"],
            steps=sizes.sae_steps,
            batch_size=1024,
            resample_every=max(sizes.sae_steps // 6, 1),
            seed=ctx.seed,
        )
        result = train_sae(toy, "hook_hidden", batches, cfg)
        W = toy.W.detach()[0].cpu()
        represented = feature_norms(W) > 0.5
        truth = W.T[represented]
        cos = max_cosine_similarity(result.sae.directions.cpu(), truth)
        mean_cos = float(cos.mean()) if len(cos) else 0.0
        fig = figs.sae_recovery(
            cos, truth, result.sae.directions.cpu(), ctx.path("superposition", "sae_recovery.png")
        )
        ctx.report(1.0, "SAE done")
    m = result.metrics
    return SAERecoveryResult(
        id="sae_recovers_features",
        seed=SEED_WORDS,
        measured={
            "mean_max_cosine": round(mean_cos, 4),
            "min_max_cosine": round(float(cos.min()), 4),
            "true_features": int(represented.sum()),
            "l0": round(m.l0, 4),
            "fraction_variance_explained": round(m.fraction_variance_explained, 4),
            "dead_latents": m.dead_latents,
            "resampled": result.resampled,
        },
        threshold="mean over the toy model's features of the max cosine with any decoder direction >= 0.9",
        verdict=verdict(mean_cos >= 0.9 and int(represented.sum()) >= c["d_hidden"] + 1),
        seconds=elapsed(),
        ran=(
            f"ToyModel({c['n_features']}, {c['d_hidden']}), p = {c['p']}, {sizes.sae_toy_steps} steps; SAE with "
            f"{cfg.n_latents} latents, l1 {cfg.l1_coeff}, {cfg.steps} steps on 65536 hook_hidden activations"
        ),
        figures={"SAE decoder directions against the true features": ctx.rel(fig)},
        tables={
            "max cosine per true feature": [["feature", "max cos"]]
            + [[i, round(float(v), 4)] for i, v in enumerate(cos)]
        },
        max_cosine=[round(float(v), 4) for v in cos],
        l0=round(m.l0, 4),
        fraction_variance_explained=round(m.fraction_variance_explained, 4),
        dead_latents=m.dead_latents,
    )
