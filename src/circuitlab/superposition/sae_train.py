"""Training a sparse autoencoder on activations read through the one hook system.

``train_sae(model, hook_name, batches, cfg)`` runs ``model.run_with_cache(batch,
names_filter=hook_name)`` on each batch (a hook the model lacks raises the hook system's
HookNameError), flattens the activation to [n, d_in] and trains on it; ``train_sae_on_activations``
takes the tensor directly. Dead latents are resampled as in Bricken et al. 2023: towards inputs
the SAE reconstructs worst.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.errors import DataError, TrainingError, expect_shape
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae import SAEConfig, SparseAutoencoder, fraction_variance_explained


@dataclass
class SAEMetrics:
    """``l0``: mean number of active latents per input; ``fraction_variance_explained``:
    1 - SSE / total variance; ``dead_latents``: latents that never fire on the evaluated set."""

    l0: float
    fraction_variance_explained: float
    dead_latents: int
    n_latents: int
    mse: float
    l1: float

    @property
    def dead_fraction(self) -> float:
        return self.dead_latents / self.n_latents


@dataclass
class SAETrainResult:
    """A trained SAE, its metrics on the training activations, and what training did."""

    sae: SparseAutoencoder
    metrics: SAEMetrics
    loss_history: list[float]
    resampled: int
    seconds: float
    hook_name: str | None = None


@torch.no_grad()
def evaluate_sae(sae: SparseAutoencoder, acts: Float[Tensor, "n d_in"], chunk: int = 65536) -> SAEMetrics:
    """L0, fraction of variance explained, dead latents, MSE and L1 of ``sae`` on ``acts``."""
    recons, fired, l0, l1 = [], torch.zeros(sae.cfg.n_latents, dtype=torch.bool, device=acts.device), 0.0, 0.0
    for part in acts.split(chunk):
        out = sae(part)
        recons.append(out.recon)
        active = out.latents > 0
        fired |= active.any(0)
        l0 += float(active.sum())
        l1 += float(out.latents.sum())
    recon = torch.cat(recons)
    n = acts.shape[0]
    return SAEMetrics(
        l0=l0 / n,
        fraction_variance_explained=fraction_variance_explained(acts, recon),
        dead_latents=int((~fired).sum()),
        n_latents=sae.cfg.n_latents,
        mse=float(((acts - recon) ** 2).sum(-1).mean()),
        l1=l1 / n,
    )


def collect_activations(model: HookedModule, hook_name: str, batches: Iterable[Any] | Tensor) -> Tensor:
    """The activation at ``hook_name`` for every batch, flattened to [n, d_in] (d_in = last axis).

    ``batches``: one input tensor, or an iterable of inputs (a tuple is unpacked as arguments)."""
    if isinstance(batches, Tensor):
        batches = [batches]
    acts = []
    with torch.no_grad():
        for batch in batches:
            args = batch if isinstance(batch, tuple) else (batch,)
            _, cache = model.run_with_cache(*args, names_filter=hook_name)
            act = cache[hook_name]
            acts.append(act.reshape(-1, act.shape[-1]).float())
    if not acts:
        raise DataError(f"no batches given to read {hook_name!r} from; pass at least one model input")
    return torch.cat(acts)


@torch.no_grad()
def _resample_dead(
    sae: SparseAutoencoder, opt: torch.optim.Optimizer, dead: Tensor, acts: Tensor, gen: torch.Generator
) -> int:
    """Point each dead latent at an input drawn with probability ∝ its squared reconstruction error."""
    idx = dead.nonzero().flatten()
    if idx.numel() == 0:
        return 0
    sample = acts[
        torch.randint(0, acts.shape[0], (min(8192, acts.shape[0]),), generator=gen, device=acts.device)
    ]
    err = ((sample - sae(sample).recon) ** 2).sum(-1)
    if float(err.sum()) <= 0:
        return 0
    pick = torch.multinomial(err / err.sum(), idx.numel(), replacement=True, generator=gen)
    centred = sample[pick] - sae.b_dec
    direction = centred / centred.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    alive = ~dead
    enc_norm = float(sae.W_enc[:, alive].norm(dim=0).mean()) if bool(alive.any()) else 1.0
    sae.W_dec[idx] = direction
    sae.W_enc[:, idx] = direction.T * 0.2 * enc_norm
    sae.b_enc[idx] = 0.0
    for param, view in ((sae.W_dec, (idx,)), (sae.W_enc, (slice(None), idx)), (sae.b_enc, (idx,))):
        state = opt.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][view] = 0.0
    return int(idx.numel())


def train_sae_on_activations(
    acts: Float[Tensor, "n d_in"], cfg: SAEConfig, hook_name: str | None = None
) -> SAETrainResult:
    """Train a fresh SAE on minibatches drawn (seeded by ``cfg.seed``) from ``acts``."""
    expect_shape("acts", acts, f"[n, d_in={cfg.d_in}]", acts.ndim == 2 and acts.shape[-1] == cfg.d_in)
    if acts.shape[0] == 0:
        raise DataError("acts is empty; collect activations from at least one input")
    gen = torch.Generator(device=acts.device).manual_seed(cfg.seed)
    sae = SparseAutoencoder(cfg, generator=torch.Generator().manual_seed(cfg.seed)).to(acts.device)
    with torch.no_grad():
        sae.b_dec.copy_(acts.mean(0))
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    fired = torch.zeros(cfg.n_latents, dtype=torch.bool, device=acts.device)
    history: list[float] = []
    resampled = 0
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        x = acts[torch.randint(0, acts.shape[0], (cfg.batch_size,), generator=gen, device=acts.device)]
        loss = sae.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.total.backward()
        sae.remove_parallel_decoder_grad()
        opt.step()
        sae.normalize_decoder()
        fired |= (loss.latents.detach() > 0).any(0)
        if step % 50 == 0 or step == cfg.steps:
            value = float(loss.total.detach())
            if value != value or value in (float("inf"), float("-inf")):
                raise TrainingError(f"SAE loss became {value} at step {step}; lower lr ({cfg.lr})")
            history.append(value)
        if cfg.resample_every and step % cfg.resample_every == 0 and step <= cfg.steps - cfg.resample_every:
            resampled += _resample_dead(sae, opt, ~fired, acts, gen)
            fired.zero_()
    return SAETrainResult(
        sae=sae,
        metrics=evaluate_sae(sae, acts),
        loss_history=history,
        resampled=resampled,
        seconds=time.perf_counter() - start,
        hook_name=hook_name,
    )


def train_sae(
    model: HookedModule, hook_name: str, batches: Iterable[Any] | Tensor, cfg: SAEConfig
) -> SAETrainResult:
    """Read ``hook_name`` from ``model`` on ``batches`` through ``run_with_cache`` and train an SAE
    on it. An unknown ``hook_name`` raises ``HookNameError`` from the hook system."""
    acts = collect_activations(model, hook_name, batches)
    return train_sae_on_activations(acts, cfg, hook_name=hook_name)
