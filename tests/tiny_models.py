"""The tiny transformers every test folder builds, in one module (``from tiny_models import ...``).

Two presets: ``tiny_model`` (n_heads=2, n_ctx=10; the transformer tests) and ``tiny`` (n_heads=3,
n_ctx=12, init_range=0.3, eval mode; the circuits tests). Both randomise biases and LayerNorm
parameters, b <- b + 0.1 N(0, 1), so that no term is trivially 0 or 1. Plus the hand-built induction
circuit, residual-stream rotations and token batches. tests/conftest.py puts tests/ on sys.path and
turns the common ones into fixtures.
"""

from __future__ import annotations

import copy

import torch

from circuitlab.transformer import Transformer, TransformerConfig

TINY = dict(n_layers=2, d_model=16, n_heads=2, d_head=4, d_vocab=23, n_ctx=10, seed=3)
TINY_CIRCUITS = dict(n_layers=2, d_model=16, n_heads=3, d_head=4, d_vocab=23, n_ctx=12, init_range=0.3)


def randomise_non_weights(model: Transformer, seed: int) -> Transformer:
    """Add 0.1 N(0, 1) (generator seeded with ``seed``) to every parameter not named W_*; in place."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.split(".")[-1].startswith("W_"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def tiny_cfg(**changes) -> TransformerConfig:
    return TransformerConfig(**{**TINY, **changes})


def tiny_model(**changes) -> Transformer:
    """The transformer tests' preset: TINY with ``changes``, non-weights randomised."""
    return randomise_non_weights(Transformer(tiny_cfg(**changes)), seed=11)


def tiny(seed: int = 0, **overrides) -> Transformer:
    """The circuits tests' preset: TINY_CIRCUITS seeded with ``seed``, non-weights randomised, eval mode."""
    cfg = TransformerConfig(**{**TINY_CIRCUITS, "seed": seed, **overrides})
    return randomise_non_weights(Transformer(cfg), seed=seed + 1000).eval()


def tokens(batch: int = 3, pos: int = 10, d_vocab: int = 23, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, d_vocab, (batch, pos), generator=torch.Generator().manual_seed(seed))


def tokens_for(model: Transformer, batch: int = 3, pos: int | None = None, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.cfg.d_vocab, (batch, pos or model.cfg.n_ctx), generator=gen)


def random_orthogonal(d: int, seed: int, fix_ones: bool = False) -> torch.Tensor:
    """A random orthogonal [d, d]; with ``fix_ones`` it also maps the all-ones vector to itself."""
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    if not fix_ones:
        return Q
    basis, _ = torch.linalg.qr(
        torch.cat(
            [
                torch.ones(d, 1, dtype=torch.float64),
                torch.randn(d, d - 1, generator=gen, dtype=torch.float64),
            ],
            1,
        )
    )
    inner, _ = torch.linalg.qr(torch.randn(d - 1, d - 1, generator=gen, dtype=torch.float64))
    block = torch.block_diag(torch.ones(1, 1, dtype=torch.float64), inner)
    return basis @ block @ basis.T


def rotate_residual(model: Transformer, R: torch.Tensor) -> Transformer:
    """A copy whose residual stream is x R: writers W -> W R, readers W -> R^T W.

    LayerNorm's b is a vector in the stream and is rotated (b -> b R); its w is an elementwise
    scale and is left alone: LN(x R) = LN(x) R then holds only for a constant w and a rotation
    that fixes the all-ones direction (so that centering commutes with R).
    """
    out = copy.deepcopy(model)
    R = R.to(torch.float64)
    with torch.no_grad():
        for name, p in list(out.named_parameters()) + list(out.named_buffers()):
            leaf = name.split(".")[-1]
            d = p.double()
            if leaf in ("W_E", "W_pos", "W_O", "W_out", "b_O", "b_out") or (leaf == "b" and "ln" in name):
                d = d @ R
            elif leaf in ("W_Q", "W_K", "W_V", "W_in", "W_U"):
                d = R.T @ d
            else:
                continue
            p.copy_(d.to(p.dtype))
    return out


def induction_model(
    n_ctx: int = 24, d_vocab: int = 12, c: float = 60.0, logit_scale: float = 5.0
) -> Transformer:
    """A hand-built 2-layer attention-only induction circuit (shortformer, no LayerNorm).

    Residual subspaces: tok (d_vocab dims, W_E = one-hot), prev (where L0H0 writes the previous
    token), out (where L1H0 writes its prediction). L0H0 attends from position i to i - 1 through
    the positions alone and copies tok -> prev; L1H0's query reads tok, its key reads prev
    (K-composition), so it attends to the token after an earlier copy of the current one and
    copies that token into out; W_U reads out. Head 1 of each layer is all zeros.
    """
    V = d_vocab
    tok, prev, out = slice(0, V), slice(V, 2 * V), slice(2 * V, 3 * V)
    pos_dims = slice(3 * V, 3 * V + n_ctx)
    d_model, d_head = 3 * V + n_ctx, max(V, n_ctx)
    cfg = TransformerConfig(
        n_layers=2,
        d_model=d_model,
        n_heads=2,
        d_head=d_head,
        d_vocab=V,
        n_ctx=n_ctx,
        positional="shortformer",
        normalization="none",
    )
    model = Transformer(cfg)
    eye_v, eye_n = torch.eye(V), torch.eye(n_ctx)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, tok] = eye_v
        model.pos_embed.W_pos[:, pos_dims] = eye_n
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        a0.W_Q[0, pos_dims, :n_ctx] = c * eye_n  # q_i = c e_i
        a0.W_K[0, pos_dims, 1:n_ctx] = eye_n[:, :-1]  # k_j = e_{j+1}: q_i . k_j = c [j = i - 1]
        a0.W_V[0, tok, :V] = eye_v
        a0.W_O[0, :V, prev] = eye_v
        a1.W_Q[0, tok, :V] = c * eye_v
        a1.W_K[0, prev, :V] = eye_v
        a1.W_V[0, tok, :V] = eye_v
        a1.W_O[0, :V, out] = eye_v
        model.unembed.W_U[out, :] = logit_scale * eye_v
    return model.eval()


def close(x, y, tol=1e-5):
    """assert_close with one absolute and relative tolerance."""
    torch.testing.assert_close(x, y, rtol=tol, atol=tol)
