"""Tiny transformer configs shared by the transformer tests."""

from __future__ import annotations

import torch

from circuitlab.transformer import Transformer, TransformerConfig

TINY = dict(n_layers=2, d_model=16, n_heads=2, d_head=4, d_vocab=23, n_ctx=10, seed=3)


def tiny_cfg(**changes) -> TransformerConfig:
    return TransformerConfig(**{**TINY, **changes})


def tiny_model(**changes) -> Transformer:
    model = Transformer(tiny_cfg(**changes))
    with torch.no_grad():  # non-zero biases and gains so that every term is exercised
        gen = torch.Generator().manual_seed(11)
        for name, p in model.named_parameters():
            if not name.split(".")[-1].startswith("W_"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def tokens(batch: int = 3, pos: int = 10, d_vocab: int = 23, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, d_vocab, (batch, pos), generator=torch.Generator().manual_seed(seed))
