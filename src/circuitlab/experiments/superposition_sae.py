"""Sparse autoencoders on circuitlab models: the toy-model recovery claim and a transformer readout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from circuitlab.errors import ShapeError
from circuitlab.experiments import superposition_figures as figs
from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.superposition_setup import PROFILES, SEED_WORDS
from circuitlab.hooks import HookedModule
from circuitlab.superposition import (
    SAEConfig,
    SAEMetrics,
    SAETrainResult,
    ToyModel,
    collect_activations,
    feature_norms,
    max_cosine_similarity,
    train_sae,
    train_sae_on_activations,
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


@dataclass
class LatentTokens:
    """The ``top_k`` positions where one latent fires most: the token there, its activation, and
    the few tokens before it (``contexts``, ending with the token); ``text`` when a decoder was given."""

    latent: int
    tokens: list[int]
    activations: list[float]
    contexts: list[list[int]]
    text: list[str] = field(default_factory=list)


@dataclass
class TransformerSAEResult:
    """An SAE trained on one hook of a token model, its metrics and a few latents' top tokens."""

    hook_name: str
    metrics: SAEMetrics
    latents: list[LatentTokens]
    train: SAETrainResult


def _top_tokens(
    latents: Tensor,
    tokens: Tensor,
    latent: int,
    top_k: int,
    context: int,
    decode: Callable[[list[int]], str] | None,
) -> LatentTokens:
    pos = tokens.shape[1]
    values, flat = latents[:, latent].topk(min(top_k, latents.shape[0]))
    ctxs = [tokens[i // pos, max(0, i % pos - context + 1) : i % pos + 1].tolist() for i in flat.tolist()]
    return LatentTokens(
        latent=latent,
        tokens=[int(tokens.flatten()[i]) for i in flat.tolist()],
        activations=[round(float(v), 4) for v in values],
        contexts=ctxs,
        text=[decode(c) for c in ctxs] if decode is not None else [],
    )


def sae_on_transformer(
    model: HookedModule,
    tokens: Tensor,
    hook_name: str,
    cfg: SAEConfig | None = None,
    n_show: int = 4,
    top_k: int = 8,
    context: int = 6,
    batch_size: int = 32,
    decode: Callable[[list[int]], str] | None = None,
) -> TransformerSAEResult:
    """Train an SAE on ``hook_name`` (e.g. ``blocks.1.hook_resid_post``) of a model over int tokens
    [batch, pos], read through ``run_with_cache``; report its metrics and, for the ``n_show`` latents
    with the largest mean activation, the ``top_k`` tokens where each fires most."""
    if tokens.ndim != 2 or tokens.is_floating_point():
        raise ShapeError(
            f"tokens: expected int64 [batch, pos], got {tuple(tokens.shape)} (dtype {tokens.dtype})"
        )
    acts = collect_activations(model, hook_name, list(tokens.split(batch_size)))
    if acts.shape[0] != tokens.numel():
        raise ShapeError(
            f"{hook_name!r} gave {acts.shape[0]} vectors for {tokens.numel()} tokens; "
            "pick a per-position hook like blocks.{l}.hook_resid_post"
        )
    if cfg is None:
        cfg = SAEConfig(d_in=acts.shape[-1], expansion=4, l1_coeff=1e-2, lr=1e-3, steps=2000, batch_size=512)
    result = train_sae_on_activations(acts, cfg, hook_name=hook_name)
    with torch.no_grad():
        latents = torch.cat([result.sae.encode(a) for a in acts.split(65536)])
    chosen = latents.mean(0).topk(min(n_show, cfg.n_latents)).indices.tolist()
    shown = [_top_tokens(latents, tokens.cpu(), j, top_k, context, decode) for j in chosen]
    return TransformerSAEResult(hook_name=hook_name, metrics=result.metrics, latents=shown, train=result)
