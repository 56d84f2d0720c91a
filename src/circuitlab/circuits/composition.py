"""Composition scores between heads, their random baseline, and copying scores.

Elhage et al. (2021): a head in a later layer composes with an earlier head when it reads what
the earlier one wrote. With the earlier head's W_OV as the left matrix and the later head's
reading matrix as the right one,

    score = ||W_A W_B||_F / (||W_A||_F ||W_B||_F)

    Q-composition: W_A = W_OV^(l1,h1),  W_B = W_QK^(l2,h2)        (the output feeds the query)
    K-composition: W_A = W_OV^(l1,h1),  W_B = (W_QK^(l2,h2))^T    (the output feeds the key)
    V-composition: W_A = W_OV^(l1,h1),  W_B = W_OV^(l2,h2)        (the output feeds the value)

exactly TransformerLens's ``HookedTransformer.all_composition_scores`` (raw weights, no
LayerNorm folding; zero unless l1 < l2). Computed from the factors: with W_A = A1 B1 and
W_B = A2 B2, A1 = Q R_1 and B2^T = Q' R_2 (QR), ||W_A W_B||_F = ||(R_1 B1)(A2 R_2^T)||_F, one
[H d_head, d_model] x [d_model, H d_head] product per pair of layers.
"""

from __future__ import annotations

from typing import Literal

import torch
from einops import rearrange

from circuitlab.circuits.factored_matrix import FactoredMatrix
from circuitlab.circuits.qk_ov import full_ov_circuit
from circuitlab.errors import ConfigError
from circuitlab.typing import Float, Tensor

Mode = Literal["Q", "K", "V"]
MODES = ("Q", "K", "V")


def _collapse_left(A: Tensor, B: Tensor) -> Tensor:
    """R B with A = Q R: same ||(A B) X||_F as A B for every X. [..., k, d_model]"""
    return torch.linalg.qr(A, mode="r").R @ B


def _collapse_right(A: Tensor, B: Tensor) -> Tensor:
    """A R^T with B^T = Q R: same ||X (A B)||_F as A B for every X. [..., d_model, k]"""
    return A @ torch.linalg.qr(B.transpose(-2, -1), mode="r").R.transpose(-2, -1)


def _right_factors(model, mode: str) -> tuple[Tensor, Tensor]:
    if mode == "Q":
        return model.W_Q, model.W_K.transpose(-2, -1)
    if mode == "K":
        return model.W_K, model.W_Q.transpose(-2, -1)
    return model.W_V, model.W_O


def _pair_scores(left: Tensor, right: Tensor) -> Float[Tensor, "a b"]:
    """||left_a right_b||_F / (||left_a||_F ||right_b||_F) for left [a, k, d], right [b, d, k']."""
    a, k, _ = left.shape
    b, _, k2 = right.shape
    prod = rearrange(left, "a k d -> (a k) d") @ rearrange(right, "b d k -> d (b k)")
    comp = rearrange(prod, "(a k) (b j) -> a b (k j)", a=a, k=k, b=b, j=k2).pow(2).sum(-1).sqrt()
    return comp / left.flatten(1).norm(dim=-1)[:, None] / right.flatten(1).norm(dim=-1)[None, :]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"composition mode {mode!r}: choose one of 'Q', 'K', 'V'")


@torch.no_grad()
def composition_scores(model, mode: Mode) -> Float[Tensor, "n_layers n_heads n_layers n_heads"]:
    """[L, H, L, H]: score of head (l1, h1)'s OV output feeding head (l2, h2)'s ``mode`` input.

    Zero unless l1 < l2. Needs at least two layers (ConfigError otherwise).
    """
    _check_mode(mode)
    L, H = model.cfg.n_layers, model.cfg.n_heads
    if L < 2:
        raise ConfigError(
            f"composition_scores needs a model with at least 2 layers (a head composes with an earlier "
            f"layer's head); this one has n_layers={L}"
        )
    left = _collapse_left(model.W_V, model.W_O)  # [L, H, k, d_model]
    right = _collapse_right(*_right_factors(model, mode))  # [L, H, d_model, k]
    scores = left.new_zeros(L, H, L, H)
    for l1 in range(L - 1):
        later = rearrange(right[l1 + 1 :], "l h d k -> (l h) d k")
        block = _pair_scores(left[l1], later)
        scores[l1, :, l1 + 1 :, :] = rearrange(block, "h (l g) -> h l g", g=H)
    return scores


@torch.no_grad()
def composition_baseline(model, mode: Mode = "K", n_samples: int = 256, seed: int = 0) -> float:
    """Mean composition score of random Gaussian weights with the model's shapes.

    W_V, W_O, W_Q, W_K are drawn i.i.d. N(0, 1) ([d_model, d_head] / [d_head, d_model]) and scored
    like ``composition_scores`` over ``n_samples`` independent (left, right) pairs. For
    low-rank products this lands near 1/sqrt(d_model) up to a rank-dependent factor; it is the
    level a composition score must clear to mean something (Elhage et al. 2021 compare against
    it too).
    """
    _check_mode(mode)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"composition_baseline n_samples={n_samples!r}: must be an integer >= 1")
    d, e = model.cfg.d_model, model.cfg.d_head
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape: int) -> Tensor:
        return torch.randn(n_samples, *shape, generator=gen, dtype=torch.float64)

    left = _collapse_left(draw(d, e), draw(e, d))
    if mode == "V":
        right = _collapse_right(draw(d, e), draw(e, d))
    else:
        right = _collapse_right(draw(d, e), draw(d, e).transpose(-2, -1))
    comp = (left @ right).flatten(1).norm(dim=-1)
    scores = comp / left.flatten(1).norm(dim=-1) / right.flatten(1).norm(dim=-1)
    return float(scores.mean())


@torch.no_grad()
def copying_scores(model, fold_ln: bool = True) -> Float[Tensor, "n_layers n_heads"]:
    """sum(lambda) / sum(|lambda|) over the eigenvalues of each head's full OV circuit.

    The circuit W_E W_V W_O W_U is [d_vocab, d_vocab]; its nonzero eigenvalues are those of the
    [d_head, d_head] product W_O W_U W_E W_V (``FactoredMatrix.eigenvalues``), so nothing of size
    d_vocab^2 is formed. +1: every eigenvalue positive (the head copies the tokens it attends
    to, raising their logits); -1: it suppresses them. Elhage et al. (2021) found 10 of 12 heads
    of a one-layer model positive. (Real part of the sum over the modulus sum.)
    """
    if model.cfg.n_layers < 1:
        raise ConfigError("copying_scores needs a model with attention layers; this one has n_layers=0")
    scores = []
    for layer in range(model.cfg.n_layers):
        eig = full_ov_circuit(model, layer, fold_ln=fold_ln).eigenvalues  # [H, d_head]
        scores.append(eig.sum(-1).real / eig.abs().sum(-1))
    return torch.stack(scores)


__all__ = ["FactoredMatrix", "composition_baseline", "composition_scores", "copying_scores"]
