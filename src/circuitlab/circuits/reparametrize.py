"""Weight surgery that leaves what a transformer computes unchanged (Elhage et al. 2021).

``refactor_heads``: per head, for invertible M, N ``[d_head, d_head]``,

    W_V <- W_V M,  b_V <- b_V M,  W_O <- M^-1 W_O          (W_OV = W_V W_O unchanged)
    W_Q <- W_Q N,  b_Q <- b_Q N,  W_K <- W_K N^-T,  b_K <- b_K N^-T   (W_QK, the scores unchanged)

``rotate_residual``: for an orthogonal R ``[d_model, d_model]``, the residual stream x becomes
x R: every matrix that writes to it goes W -> W R (W_E, W_pos, W_O, b_O, W_out, b_out) and every
one that reads it goes W -> R^T W (W_Q, W_K, W_V, W_in, W_U). Without LayerNorm the logits are
unchanged: the stream has no privileged basis. LayerNorm's gain w is left alone; its centring and
per-dimension gain are what give the stream a basis, so with LayerNorm the logits change.

Both edit the model in place, under ``torch.no_grad``, and return the matrices they used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from circuitlab.typing import Float, Tensor

if TYPE_CHECKING:
    from circuitlab.transformer import Transformer


def random_invertible(
    n_heads: int, d_head: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> Float[Tensor, "n_heads d_head d_head"]:
    """A + 3 I with A standard normal: invertible with overwhelming probability, well conditioned."""
    m = torch.randn(n_heads, d_head, d_head, generator=generator, dtype=dtype)
    return m + 3 * torch.eye(d_head, dtype=dtype)


def random_orthogonal(d: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensor:
    """The Q of the QR decomposition of a standard normal ``[d, d]``: a random orthogonal matrix."""
    R, _ = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=dtype))
    return R


@torch.no_grad()
def refactor_heads(model: Transformer, generator: torch.Generator) -> list[tuple[Tensor, Tensor]]:
    """Refactor every head's W_V, W_O by a random M and W_Q, W_K by a random N; return [(M, N)]."""
    used = []
    for block in model.blocks:
        a = block.attn
        M = random_invertible(a.n_heads, a.d_head, generator, a.W_V.dtype)
        N = random_invertible(a.n_heads, a.d_head, generator, a.W_V.dtype)
        a.W_V.copy_(a.W_V @ M)
        a.b_V.copy_(torch.einsum("he,hef->hf", a.b_V, M))
        a.W_O.copy_(torch.linalg.inv(M) @ a.W_O)
        N_inv_T = torch.linalg.inv(N).transpose(-2, -1)
        a.W_Q.copy_(a.W_Q @ N)
        a.b_Q.copy_(torch.einsum("he,hef->hf", a.b_Q, N))
        a.W_K.copy_(a.W_K @ N_inv_T)
        a.b_K.copy_(torch.einsum("he,hef->hf", a.b_K, N_inv_T))
        used.append((M, N))
    return used


@torch.no_grad()
def rotate_residual(
    model: Transformer, generator: torch.Generator | None = None, R: Tensor | None = None
) -> Float[Tensor, "d_model d_model"]:
    """Change the residual stream's basis by ``R`` (default: a random orthogonal matrix drawn
    from ``generator``): writers W -> W R, readers W -> R^T W; LayerNorm left alone. Returns R."""
    if R is None:
        R = random_orthogonal(model.cfg.d_model, generator or torch.Generator(), model.W_E.dtype)
    model.embed.W_E.copy_(model.embed.W_E @ R)
    if model.cfg.positional in ("learned", "shortformer"):
        model.pos_embed.W_pos.copy_(model.pos_embed.W_pos @ R)
    for block in model.blocks:
        a = block.attn
        for W in (a.W_Q, a.W_K, a.W_V):
            W.copy_(torch.einsum("de,hef->hdf", R.T, W))
        a.W_O.copy_(a.W_O @ R)
        a.b_O.copy_(a.b_O @ R)
        if hasattr(block, "mlp"):
            block.mlp.W_in.copy_(R.T @ block.mlp.W_in)
            block.mlp.W_out.copy_(block.mlp.W_out @ R)
            block.mlp.b_out.copy_(block.mlp.b_out @ R)
    model.unembed.W_U.copy_(R.T @ model.unembed.W_U)
    return R


__all__ = ["random_invertible", "random_orthogonal", "refactor_heads", "rotate_residual"]
