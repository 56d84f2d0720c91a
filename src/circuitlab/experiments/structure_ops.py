"""Weight surgery used by the structural claims: refactoring heads and rotating the residual stream."""

from __future__ import annotations

import torch

from circuitlab.transformer import Transformer, TransformerConfig


def small_model(seed: int, normalization: str, n_layers: int) -> Transformer:
    cfg = TransformerConfig(
        n_layers=n_layers,
        d_model=32,
        n_heads=4,
        d_head=8,
        d_vocab=64,
        n_ctx=24,
        positional="learned",
        normalization=normalization,
        seed=seed,
        init_range=0.2,
    )
    model = Transformer(cfg).double()
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():  # non-zero biases so the claims are tested with them
        for name, p in model.named_parameters():
            if name.split(".")[-1].startswith("b_"):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.1)
    return model


def random_tokens(model: Transformer, seed: int, batch: int = 4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.cfg.d_vocab, (batch, model.cfg.n_ctx), generator=gen)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().max())


def _invertible(n_heads: int, d_head: int, gen: torch.Generator, dtype) -> torch.Tensor:
    m = torch.randn(n_heads, d_head, d_head, generator=gen, dtype=dtype)
    return m + 3 * torch.eye(d_head, dtype=dtype)


@torch.no_grad()
def refactor_ov_qk(model: Transformer, gen: torch.Generator) -> None:
    """W_V <- W_V M, b_V <- b_V M, W_O <- M^-1 W_O; W_Q <- W_Q N, W_K <- W_K N^-T (per head)."""
    for block in model.blocks:
        a = block.attn
        M = _invertible(a.n_heads, a.d_head, gen, a.W_V.dtype)
        N = _invertible(a.n_heads, a.d_head, gen, a.W_V.dtype)
        a.W_V.copy_(a.W_V @ M)
        a.b_V.copy_(torch.einsum("he,hef->hf", a.b_V, M))
        a.W_O.copy_(torch.linalg.inv(M) @ a.W_O)
        N_inv_T = torch.linalg.inv(N).transpose(-2, -1)
        a.W_Q.copy_(a.W_Q @ N)
        a.b_Q.copy_(torch.einsum("he,hef->hf", a.b_Q, N))
        a.W_K.copy_(a.W_K @ N_inv_T)
        a.b_K.copy_(torch.einsum("he,hef->hf", a.b_K, N_inv_T))


@torch.no_grad()
def rotate_residual(model: Transformer, gen: torch.Generator) -> torch.Tensor:
    """Change the residual stream's basis by a random orthogonal R: writers W -> W R, readers
    W -> R^T W. Returns R. LayerNorm weights are left alone (they are what breaks invariance)."""
    d = model.cfg.d_model
    R, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=model.W_E.dtype))
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
