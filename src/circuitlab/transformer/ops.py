"""Small tensor helpers shared by the transformer's layers (no parameters, no hooks)."""

from __future__ import annotations

import torch

from circuitlab.typing import Float, Tensor


def affine(
    x: Float[Tensor, "... d_in"], W: Float[Tensor, "d_in d_out"], b: Tensor
) -> Float[Tensor, "... d_out"]:
    """x W + b over the last axis as one fused ``addmm`` (bias added inside the matmul kernel)."""
    out = torch.addmm(b, x.reshape(-1, x.shape[-1]), W)
    return out.view(*x.shape[:-1], W.shape[-1])
