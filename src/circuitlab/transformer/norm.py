"""LayerNorm as the seed writes it, and the identity for normalization="none"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.typing import Float, Tensor


class LayerNorm(nn.Module):
    """x_hat_i = (x_i - mu) / sqrt(sigma^2 + eps);  LN(x) = w * x_hat + b.

    mu and sigma^2 are the mean and (biased) variance over ``d_model`` (the seed's formula; Ba
    et al. 2016). ``hook_scale`` sees sqrt(sigma^2 + eps) [batch, pos, 1]; ``hook_normalized``
    sees x_hat (before w and b, as in TransformerLens). When neither is hooked the same
    equation runs as the fused ``F.layer_norm`` kernel (tests check both paths agree).
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not (self.hook_scale.active or self.hook_normalized.active):
            return F.layer_norm(x, self.w.shape, self.w, self.b, self.eps)  # the same equation, fused
        return torch.addcmul(self.b, self.hook_normalized(self.normalize(x)), self.w)

    def normalize(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """x_hat, from the fused kernel unless a hook on ``hook_scale`` may edit the scale.

        A hook that only reads the scale (``run_with_cache``) gets it from the same kernel, which
        returns 1 / sqrt(sigma^2 + eps) beside x_hat."""
        if self.hook_scale.edits:
            return self.explicit_normalize(x)
        if self.hook_scale.active:
            x_hat, _, rstd = torch.native_layer_norm(x, self.w.shape, None, None, self.eps)
            self.hook_scale(rstd.reciprocal())
            return x_hat
        return F.layer_norm(x, self.w.shape, None, None, self.eps)

    def explicit_normalize(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """x_hat = (x - mu) / sqrt(sigma^2 + eps), the seed's formula step by step, with the scale
        passed through ``hook_scale`` (so a hook can freeze or edit it, as direct logit
        attribution does). ``hook_normalized`` sees x_hat before the gain w and bias b, as in
        TransformerLens."""
        centered = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((centered.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return centered / scale

    def explicit(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """w * x_hat + b computed from the formula (never the fused kernel)."""
        return torch.addcmul(self.b, self.explicit_normalize(x), self.w)


class NoNorm(nn.Module):
    """normalization="none": the identity, kept as a module so every model has ``ln1``."""

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        return x


def make_norm(kind: str, d_model: int, eps: float) -> nn.Module:
    return LayerNorm(d_model, eps) if kind == "layernorm" else NoNorm()
