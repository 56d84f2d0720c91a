"""A sparse autoencoder on one hook of a token model, and the tokens its latents fire on.

``sae_on_transformer(model, tokens, hook_name)`` reads ``hook_name`` (a per-position hook such
as ``blocks.1.hook_resid_post``, ``[batch, pos, d]``) through ``run_with_cache`` for int tokens
``[batch, pos]``, trains an SAE on the ``batch * pos`` vectors, and, for the ``n_show`` latents
with the largest mean activation, lists the ``top_k`` positions where each fires most: the token
there, the activation and the ``context`` tokens ending with it (decoded when ``decode`` is given).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae.config import SAEConfig
from circuitlab.superposition.sae.evaluate import SAEMetrics
from circuitlab.superposition.sae.store import collect_activations
from circuitlab.superposition.sae.train import SAETrainResult, train_sae_on_activations
from circuitlab.typing import Float, Int, Tensor


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


def top_tokens(
    latents: Float[Tensor, "n n_latents"],
    tokens: Int[Tensor, "batch pos"],
    latent: int,
    top_k: int,
    context: int,
    decode: Callable[[list[int]], str] | None = None,
) -> LatentTokens:
    """Where ``latent`` fires most; row i of ``latents`` is position (i // pos, i % pos) of ``tokens``."""
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
    tokens: Int[Tensor, "batch pos"],
    hook_name: str,
    cfg: SAEConfig | None = None,
    n_show: int = 4,
    top_k: int = 8,
    context: int = 6,
    batch_size: int = 32,
    decode: Callable[[list[int]], str] | None = None,
    train: Callable[..., SAETrainResult] = train_sae_on_activations,
) -> TransformerSAEResult:
    """Train an SAE on ``hook_name`` of ``model`` over ``tokens`` and show its busiest latents.

    ``cfg`` defaults to 4x latents, L1 1e-2, lr 1e-3, 2000 steps of 512 vectors; ``train(acts, cfg,
    hook_name)`` trains it (``train_sae_on_activations``, or a cached equivalent). Raises
    ShapeError for float tokens or a hook that is not one vector per token, HookNameError
    (from ``run_with_cache``) for a hook the model does not have.
    """
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
    result = train(acts, cfg, hook_name)
    with torch.no_grad():
        latents = torch.cat([result.sae.encode(a) for a in acts.split(65536)])
    chosen = latents.mean(0).topk(min(n_show, cfg.n_latents)).indices.tolist()
    shown = [top_tokens(latents, tokens.cpu(), j, top_k, context, decode) for j in chosen]
    return TransformerSAEResult(hook_name=hook_name, metrics=result.metrics, latents=shown, train=result)


__all__ = ["LatentTokens", "TransformerSAEResult", "sae_on_transformer", "top_tokens"]
