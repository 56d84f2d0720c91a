"""ReLU latents with an L1 penalty: the SAE of Bricken et al. 2023 ("Towards Monosemanticity").

    pre   = (x - b_dec) W_enc + b_enc                 [..., d_sae]
    f     = ReLU(pre)
    L     = E ||x - x_hat||^2 + l1_coeff E ||f||_1

Decoder norm: each row W_dec[j] is held at unit norm (the gradient's component along the row is
removed before the step, the row renormalised after it). Without it the SAE could shrink f and
grow W_dec and so lower the L1 penalty without changing x_hat. Dead latents are resampled towards
the inputs reconstructed worst (``resample_every``), as in Bricken et al.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor


def relu_latents(pre: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_sae"]:
    """f = ReLU(pre)."""
    return torch.relu(pre)


def l1_penalty(f: Float[Tensor, "batch d_sae"]) -> Tensor:
    """E ||f||_1: the sum of |f_j| over latents, averaged over the batch."""
    return f.abs().sum(-1).mean()
