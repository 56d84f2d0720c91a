"""How much a weight matrix W (h = W x, W: [..., d_hidden, n_features]) superposes its features.

From Elhage et al. 2022, "Toy Models of Superposition":
    features represented:     ||W_i||  (~1 learned, ~0 dropped)
    interference:             sum_{j != i} (W_i_hat . W_j)^2   (0 when W_i is orthogonal to the rest)
    dimensions per feature:   d_hidden / ||W||_F^2
    feature dimensionality:   D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2
Every function takes any leading batch axes (``[n_instances, d_hidden, n_features]`` works).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.errors import expect_shape

Weights = Float[Tensor, "... d_hidden n_features"]
PerFeature = Float[Tensor, "... n_features"]

FRACTIONS: tuple[tuple[str, float], ...] = (
    ("1", 1.0),
    ("3/4", 3 / 4),
    ("2/3", 2 / 3),
    ("1/2", 1 / 2),
    ("2/5", 2 / 5),
    ("1/3", 1 / 3),
)
"""The 'sticky' values of D_i the paper finds (tetrahedra 3/4, triangles 2/3, antipodal pairs 1/2,
pentagons 2/5, ...)."""


def _check(W: Tensor) -> Tensor:
    expect_shape("W", W, "[..., d_hidden, n_features]", isinstance(W, Tensor) and W.ndim >= 2)
    return W.detach().float() if not W.is_floating_point() else W.detach()


def feature_norms(W: Weights) -> PerFeature:
    """||W_i||, the length of each feature's direction: [..., n_features]."""
    return _check(W).norm(dim=-2)


def represented_features(W: Weights, threshold: float = 0.5) -> Tensor:
    """How many features have ||W_i|| > threshold: int64 [...]."""
    return (feature_norms(W) > threshold).sum(-1)


def gram(W: Weights) -> Float[Tensor, "... n_features n_features"]:
    """W^T W: diagonal ||W_i||^2, off-diagonal W_i . W_j (the interference between features)."""
    W = _check(W)
    return W.transpose(-1, -2) @ W


def _unit_projections_squared(W: Tensor) -> Tensor:
    """(W_i_hat . W_j)^2 as [..., i, j]; zero rows for zero columns W_i."""
    norms = W.norm(dim=-2, keepdim=True)
    W_hat = torch.where(norms > 1e-8, W / norms.clamp_min(1e-8), torch.zeros_like(W))
    return (W_hat.transpose(-1, -2) @ W) ** 2


def interference(W: Weights) -> PerFeature:
    """sum_{j != i} (W_i_hat . W_j)^2 per feature: how much other features leak into feature i's
    direction (the paper's 'superposition' colour in its ||W_i|| bar plots)."""
    W = _check(W)
    proj = _unit_projections_squared(W)
    return proj.sum(-1) - torch.diagonal(proj, dim1=-2, dim2=-1)


def dimensions_per_feature(W: Weights) -> Float[Tensor, "..."]:
    """d_hidden / ||W||_F^2: 1 without superposition, below 1 with it."""
    W = _check(W)
    frob = (W**2).sum(dim=(-2, -1))
    return W.shape[-2] / frob.clamp_min(1e-12)


def feature_dimensionality(W: Weights) -> PerFeature:
    """D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2: the fraction of a dimension feature i gets.

    1 for a feature with a dimension to itself, 1/2 for an antipodal pair, 2/5 for a pentagon; 0
    for a dropped feature (zero column, guarded). W: [..., d_hidden, n_features] -> [..., n_features].
    """
    W = _check(W)
    norms_sq = (W**2).sum(-2)
    denom = _unit_projections_squared(W).sum(-1)
    return torch.where(denom > 1e-12, norms_sq / denom.clamp_min(1e-12), torch.zeros_like(norms_sq))


def nearest_fraction(D: Tensor, tolerance: float = 0.03) -> list[str | None]:
    """For each D_i, the name of the sticky fraction within ``tolerance`` of it, else None."""
    out: list[str | None] = []
    for d in D.flatten().tolist():
        best = min(FRACTIONS, key=lambda nv: abs(nv[1] - d))
        out.append(best[0] if abs(best[1] - d) <= tolerance else None)
    return out
