"""How good an SAE is: reconstruction, sparsity, and the cost of splicing it into its model.

Conventions of Gao et al. 2024 and SAEBench (Karvonen et al. 2025):

    L0                 E_x |{j : f_j(x) > 0}|              mean active latents per input
    FVE                1 - Σ ||x - x_hat||² / Σ ||x - mean(x)||²   fraction of variance explained
    MSE                E ||x - x_hat||²
    dead / dense       fraction of latents firing on no input / on more than ``dense_threshold`` of them
    CE loss recovered  1 - (CE_sae - CE_clean) / (CE_zero - CE_clean)
    KL                 E_pos KL(p_clean || p_sae)

CE_clean is the model's next-token loss, CE_sae the loss with the SAE's reconstruction in place of
the activation at ``hook_name`` (``run_with_saes``), CE_zero the loss with that activation zeroed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae.model import SparseAutoencoder
from circuitlab.superposition.sae.splice import run_with_saes


@dataclass
class SplicedCE:
    """The model's next-token loss clean, with the SAE spliced in, with the activation zeroed."""

    ce_clean: float
    ce_sae: float
    ce_zero: float
    kl: float

    @property
    def ce_loss_recovered(self) -> float:
        """1 - (CE_sae - CE_clean) / (CE_zero - CE_clean): 1 is a perfect splice, 0 no better than zero."""
        gap = self.ce_zero - self.ce_clean
        return 1.0 - (self.ce_sae - self.ce_clean) / gap if gap != 0 else float("nan")


@dataclass
class SAEMetrics:
    """``l0``: mean active latents per input; ``fraction_variance_explained``: 1 - SSE / total
    variance; ``dead_latents``: latents that never fire on the evaluated set; ``dense_latents``:
    latents firing on more than the dense threshold of it; ``spliced``: the model's loss with the
    SAE in place (None when no model was given)."""

    l0: float
    fraction_variance_explained: float
    dead_latents: int
    n_latents: int
    mse: float
    l1: float
    dense_latents: int = 0
    spliced: SplicedCE | None = None

    @property
    def dead_fraction(self) -> float:
        return self.dead_latents / self.n_latents

    @property
    def dense_fraction(self) -> float:
        return self.dense_latents / self.n_latents

    @property
    def ce_loss_recovered(self) -> float | None:
        return None if self.spliced is None else self.spliced.ce_loss_recovered

    @property
    def kl(self) -> float | None:
        return None if self.spliced is None else self.spliced.kl


def fraction_variance_explained(x: Tensor, recon: Tensor) -> float:
    """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over a [n, d_in] set."""
    residual = ((x - recon) ** 2).sum()
    total = ((x - x.mean(0)) ** 2).sum()
    return float(1.0 - residual / total.clamp_min(1e-12))


def max_cosine_similarity(
    directions: Float[Tensor, "n_latents d_in"], truth: Float[Tensor, "n_true d_in"]
) -> Float[Tensor, " n_true"]:
    """For each true direction, the largest cosine similarity with any learned direction."""
    a = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = truth / truth.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if a.shape[-1] != b.shape[-1]:
        raise ConfigError(
            f"directions have width {a.shape[-1]} but true features have width {b.shape[-1]}; "
            "compare directions in the same space"
        )
    return (b @ a.T).max(dim=-1).values


def _next_token_ce(logits: Tensor, tokens: Tensor) -> Tensor:
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tokens[:, 1:].flatten(), reduction="sum")


@torch.no_grad()
def spliced_ce(
    model: HookedModule,
    sae: SparseAutoencoder,
    tokens: Int[Tensor, "batch pos"],
    hook_name: str | None = None,
    batch_size: int = 32,
) -> SplicedCE:
    """CE clean, with ``sae`` spliced in at ``hook_name`` (default ``sae.cfg.hook_name``) and with
    that activation zeroed, and E_pos KL(p_clean || p_sae), over ``tokens`` in chunks of ``batch_size``."""
    hook_name = hook_name or sae.cfg.hook_name
    if hook_name is None:
        raise ConfigError(
            "spliced_ce needs a hook: pass hook_name= or build the SAE with SAEConfig(hook_name=...)"
        )
    if tokens.ndim != 2 or tokens.is_floating_point() or tokens.shape[1] < 2:
        raise ShapeError(
            f"tokens: expected int64 [batch, pos >= 2], got {tuple(tokens.shape)} ({tokens.dtype})"
        )
    sums = torch.zeros(4, dtype=torch.float64)
    zero = [(hook_name, lambda act, hook: torch.zeros_like(act))]
    for chunk in tokens.split(batch_size):
        clean = model(chunk)
        with_sae = run_with_saes(model, chunk, saes={hook_name: sae})
        zeroed = model.run_with_hooks(chunk, fwd_hooks=zero)
        log_p, log_q = clean.float().log_softmax(-1), with_sae.float().log_softmax(-1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1).sum()
        sums += (
            torch.stack([_next_token_ce(x, chunk) for x in (clean, with_sae, zeroed)] + [kl]).double().cpu()
        )
    n_pred, n_pos = tokens.shape[0] * (tokens.shape[1] - 1), tokens.numel()
    ce_clean, ce_sae, ce_zero = (float(v) / n_pred for v in sums[:3])
    return SplicedCE(ce_clean, ce_sae, ce_zero, float(sums[3]) / n_pos)


@torch.no_grad()
def evaluate_sae(
    sae: SparseAutoencoder,
    acts: Float[Tensor, "n d_in"],
    chunk: int = 65536,
    *,
    model: HookedModule | None = None,
    tokens: Int[Tensor, "batch pos"] | None = None,
    hook_name: str | None = None,
    dense_threshold: float = 0.1,
) -> SAEMetrics:
    """L0, fraction of variance explained, MSE, L1, dead and dense latents of ``sae`` on ``acts``;
    with ``model`` and ``tokens`` also the spliced-in cost (CE loss recovered, KL)."""
    counts = torch.zeros(sae.cfg.n_latents, dtype=torch.long, device=acts.device)
    recons, l1 = [], 0.0
    for part in acts.split(chunk):
        out = sae(part)
        recons.append(out.recon)
        counts += out.fire_counts()
        l1 += float(out.top.values.sum() if out.top is not None else out.latents.abs().sum())
    recon = torch.cat(recons)
    n = acts.shape[0]
    spliced = None
    if model is not None and tokens is not None:
        spliced = spliced_ce(model, sae, tokens, hook_name)
    return SAEMetrics(
        l0=float(counts.sum()) / n,
        fraction_variance_explained=fraction_variance_explained(acts, recon),
        dead_latents=int((counts == 0).sum()),
        n_latents=sae.cfg.n_latents,
        mse=float(((acts - recon) ** 2).sum(-1).mean()),
        l1=l1 / n,
        dense_latents=int((counts > dense_threshold * n).sum()),
        spliced=spliced,
    )
