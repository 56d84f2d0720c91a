"""Resampling dead latents (Bricken et al. 2023, "Towards Monosemanticity"): each latent that has
not fired is pointed at an input drawn with probability ∝ its squared reconstruction error.

    W_dec[j] = (x - b_dec) / ||x - b_dec||,   W_enc[:, j] = 0.2 * mean alive ||W_enc[:, i]|| * W_dec[j],
    b_enc[j] = 0, and Adam's moments for those entries reset to 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from circuitlab.superposition.sae.model import SparseAutoencoder


@torch.no_grad()
def resample_dead(
    sae: SparseAutoencoder, opt: torch.optim.Optimizer, dead: Tensor, acts: Tensor, gen: torch.Generator
) -> int:
    """Point each ``dead`` latent (bool mask [d_sae]) at an input from ``acts``; return how many."""
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
