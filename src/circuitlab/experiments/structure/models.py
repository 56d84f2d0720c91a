"""The small random transformers the structural claims are measured on (float64, non-zero biases).

``small_model``: 2 layers (or ``n_layers``), d_model 32, 4 heads of 8, vocabulary 64, context 24,
learned positions, weights N(0, 0.2^2), every bias N(0, 0.1^2) so the claims are tested with them.
"""

from __future__ import annotations

import torch

from circuitlab.transformer import Transformer, TransformerConfig

TOL = 1e-4  # float64 models: an identity holds when outputs agree to this


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
    """max |a - b| over every entry."""
    return float((a - b).detach().abs().max())
