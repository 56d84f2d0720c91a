"""TopK latents and the AuxK loss: the SAE of Gao et al. 2024 ("Scaling and evaluating sparse
autoencoders").

    pre   = (x - b_dec) W_enc + b_enc                 [..., d_sae]
    z     = ReLU(TopK_k(pre))                         the k largest entries of pre kept, the rest 0
    x_hat = z W_dec + b_dec
    L     = E ||x - x_hat||^2 + aux_coeff L_aux

AuxK (Gao et al. §A.2): with e = x - x_hat (no gradient), the ``k_aux`` largest pre-activations
among the dead latents (none fired on the last ``dead_tokens`` inputs), without the ReLU, give
e_hat = z_aux W_dec; L_aux = scale E ||e - e_hat||^2 with scale = min(n_dead / k_aux, 1), as in
SAELens and EleutherAI's sparsify. It gives dead latents a gradient towards what the live ones
miss.

Sparsity is exact by construction, so no penalty needs the decoder's scale; its rows are still held
at unit norm (gradient component along each row removed, row renormalised after the step), as in
Gao et al.'s code, so that TopK compares pre-activations in the units of x.

Speed: the encoder's ``torch.topk`` runs once on the pre-activations; the decoder reads only the
k chosen rows (``F.embedding_bag`` with the values as per-sample weights), so neither pass, nor
the backward, multiplies by a dense [batch, d_sae] mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor


@dataclass
class TopKLatents:
    """The k active latents of each input: ``values`` z (>= 0) at latent ids ``indices``."""

    values: Float[Tensor, "... k"]
    indices: Int[Tensor, "... k"]

    def dense(self, d_sae: int) -> Float[Tensor, "... d_sae"]:
        """z as a dense [..., d_sae] tensor (zeros outside the k indices)."""
        out = self.values.new_zeros(*self.values.shape[:-1], d_sae)
        return out.scatter(-1, self.indices, self.values)

    def counts(self, d_sae: int) -> Int[Tensor, " d_sae"]:
        """How many inputs each latent fired on (value > 0)."""
        fired = self.indices[self.values > 0]
        return torch.bincount(fired, minlength=d_sae)


def topk_latents(pre: Float[Tensor, "... d_sae"], k: int) -> TopKLatents:
    """z = ReLU(TopK_k(pre)): one ``torch.topk`` over the last axis, the ReLU on the k values only."""
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return TopKLatents(torch.relu(values), indices)


def decode_rows(
    values: Float[Tensor, "... k"], indices: Int[Tensor, "... k"], W_dec: Float[Tensor, "d_sae d_in"]
) -> Float[Tensor, "... d_in"]:
    """sum_i values_i W_dec[indices_i]: z W_dec reading only the chosen rows (no b_dec)."""
    lead = values.shape[:-1]
    flat_idx = indices.reshape(-1, indices.shape[-1])
    flat_val = values.reshape(-1, values.shape[-1])
    out = F.embedding_bag(flat_idx, W_dec, per_sample_weights=flat_val, mode="sum")
    return out.reshape(*lead, W_dec.shape[-1])


def auxk_loss(
    x_centred: Float[Tensor, "batch d_in"],
    residual: Float[Tensor, "batch d_in"],
    W_enc: Float[Tensor, "d_in d_sae"],
    b_enc: Float[Tensor, " d_sae"],
    W_dec: Float[Tensor, "d_sae d_in"],
    dead: Int[Tensor, " n_dead"],
    k_aux: int,
) -> Tensor:
    """L_aux = min(n_dead / k_aux, 1) E ||e - e_hat||^2 over the ``dead`` latent ids (0 when none).

    The dead latents' pre-activations are recomputed from their encoder columns only, so the cost
    grows with the number of dead latents, not with d_sae."""
    if dead.numel() == 0:
        return residual.new_zeros(())
    scale = min(dead.numel() / k_aux, 1.0)
    pre_dead = x_centred @ W_enc[:, dead] + b_enc[dead]
    values, which = pre_dead.topk(min(k_aux, dead.numel()), dim=-1, sorted=False)
    e_hat = decode_rows(values, dead[which], W_dec)
    return scale * ((e_hat - residual.detach()) ** 2).sum(-1).mean()
