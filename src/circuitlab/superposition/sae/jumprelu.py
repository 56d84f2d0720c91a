"""JumpReLU latents with an L0 penalty trained through straight-through estimators: the SAE of
Rajamanoharan et al. 2024 ("Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
Sparse Autoencoders").

    pre   = (x - b_dec) W_enc + b_enc                 [..., d_sae]
    f     = JumpReLU_θ(pre) = pre H(pre - θ)          θ = exp(log_threshold) > 0, one per latent
    L     = E ||x - x_hat||^2 + l0_coeff E ||f||_0,   ||f||_0 = sum_j H(pre_j - θ_j)

H is the Heaviside step, so neither f nor the L0 term has a useful gradient in θ. The paper's
pseudo-derivatives (its eqs. 11-12), with the rectangle kernel K(u) = 1[|u| < 1/2] and bandwidth ε:

    ∂/∂θ JumpReLU_θ(pre) := -(θ/ε) K((pre - θ)/ε)       ∂/∂pre JumpReLU_θ(pre) = H(pre - θ)
    ∂/∂θ H(pre - θ)      := -(1/ε) K((pre - θ)/ε)       ∂/∂pre H(pre - θ)      := 0

so θ alone learns from the step; the encoder learns from the reconstruction. Decoder norm: the
L0 penalty does not depend on it, but the rows of W_dec are held at unit norm (as in Gemma
Scope's JumpReLU SAEs), so θ is measured in the units of x. SAELens stores ``threshold`` = θ.
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor


def rectangle(u: Tensor) -> Tensor:
    """K(u) = 1 when |u| < 1/2, else 0."""
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


def _theta_grad(grad: Tensor, theta: Tensor) -> Tensor:
    """Sum a gradient of θ's broadcast shape [..., d_sae] back to θ's [d_sae]."""
    return grad.reshape(-1, theta.shape[-1]).sum(0)


class _ThresholdSTE(torch.autograd.Function):
    """What both estimators keep for the backward: pre, θ and the bandwidth ε."""

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        pre, theta, bandwidth = inputs
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth


class JumpReLUFunction(_ThresholdSTE):
    """f = pre H(pre - θ), with the pseudo-derivative -(θ/ε) K((pre - θ)/ε) in θ."""

    @staticmethod
    def forward(pre: Tensor, theta: Tensor, bandwidth: float) -> Tensor:
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = (pre > theta).to(grad.dtype) * grad
        grad_theta = -(theta / eps) * rectangle((pre - theta) / eps) * grad
        return grad_pre, _theta_grad(grad_theta, theta), None


class StepFunction(_ThresholdSTE):
    """H(pre - θ), with the pseudo-derivative -(1/ε) K((pre - θ)/ε) in θ and none in pre."""

    @staticmethod
    def forward(pre: Tensor, theta: Tensor, bandwidth: float) -> Tensor:
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, None]:
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_theta = -(1.0 / eps) * rectangle((pre - theta) / eps) * grad
        return None, _theta_grad(grad_theta, theta), None


def jumprelu_latents(
    pre: Float[Tensor, "... d_sae"], theta: Float[Tensor, " d_sae"], bandwidth: float
) -> Float[Tensor, "... d_sae"]:
    """f = JumpReLU_θ(pre) = pre H(pre - θ)."""
    return JumpReLUFunction.apply(pre, theta, bandwidth)


def l0_penalty(pre: Float[Tensor, "batch d_sae"], theta: Float[Tensor, " d_sae"], bandwidth: float) -> Tensor:
    """E ||f||_0 = E sum_j H(pre_j - θ_j), differentiable in θ through the step's STE."""
    return StepFunction.apply(pre, theta, bandwidth).sum(-1).mean()
