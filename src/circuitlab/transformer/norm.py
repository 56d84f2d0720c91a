"""LayerNorm as the seed writes it, RMSNorm (Llama-family), and the identity for normalization="none"."""

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

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        # bias=False: LN(x) = w * x_hat, no b at all (not a zero parameter).
        self.b = nn.Parameter(torch.zeros(d_model)) if bias else None
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not (self.hook_scale.active or self.hook_normalized.active):
            return F.layer_norm(x, self.w.shape, self.w, self.b, self.eps)  # the same equation, fused
        return self.affine(self.hook_normalized(self.normalize(x)))

    def affine(self, x_hat: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """w * x_hat + b (w * x_hat without a bias)."""
        return x_hat * self.w if self.b is None else torch.addcmul(self.b, x_hat, self.w)

    def normalize(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """x_hat, from the fused kernel unless a hook on ``hook_scale`` may edit the scale.

        A hook that only reads the scale (``run_with_cache``) sees sqrt(sigma^2 + eps) computed
        beside the kernel, outside autograd (x_hat does not depend on this copy). The variance is
        the mean of the centred squares, as in ``explicit_normalize`` (on CPU ``Tensor.var`` over
        the last axis is several times slower than the whole fused kernel)."""
        if self.hook_scale.edits:
            return self.explicit_normalize(x)
        if self.hook_scale.active:
            with torch.no_grad():
                centered = x - x.mean(-1, keepdim=True)
                scale = (centered.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
            self.hook_scale(scale)
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
        return self.affine(self.explicit_normalize(x))


class RMSNorm(nn.Module):
    """RMSNorm(x) = w * x / sqrt(mean_i x_i^2 + eps): LayerNorm without centring or bias.

    Zhang & Sennrich 2019, as Llama, Mistral and Qwen2 use it: the normalisation is computed in
    float32 and cast back before the gain (Hugging Face's LlamaRMSNorm). ``hook_scale`` sees
    sqrt(mean x^2 + eps) [batch, pos, 1] and ``hook_normalized`` x / scale, as in
    TransformerLens's RMSNorm. Unhooked, the same equation runs as ``F.rms_norm``.
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.w = nn.Parameter(torch.ones(d_model))
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not (self.hook_scale.active or self.hook_normalized.active):
            return self.w * F.rms_norm(x.float(), self.w.shape, None, self.eps).to(x.dtype)
        return self.w * self.hook_normalized(self.normalize(x))

    def normalize(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """x / sqrt(mean x^2 + eps) from the formula, the scale passed through ``hook_scale``."""
        x32 = x.float()
        scale = self.hook_scale((x32.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return (x32 / scale).to(x.dtype)

    def explicit(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """w * x / sqrt(mean x^2 + eps) computed from the formula (never the fused kernel)."""
        return self.w * self.normalize(x)


class NoNorm(nn.Module):
    """normalization="none": the identity, kept as a module so every model has ``ln1``."""

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        return x


def make_norm(kind: str, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    """The normalization named by ``TransformerConfig.normalization`` (``bias``: LayerNorm's b)."""
    if kind == "layernorm":
        return LayerNorm(d_model, eps, bias)
    return RMSNorm(d_model, eps) if kind == "rmsnorm" else NoNorm()
