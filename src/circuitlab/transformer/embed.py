"""Token embedding, positional encodings and unembedding (TransformerLens weight names)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.ops import affine
from circuitlab.typing import Float, Int, Tensor


class Embed(nn.Module):
    """x_0 = W_E[t]: each token id picks a row of W_E [d_vocab, d_model] (the seed's N_l x N_dim
    embedding matrix for a sequence of N_l tokens)."""

    def __init__(self, d_vocab: int, d_model: int) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(d_vocab, d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return F.embedding(tokens, self.W_E)  # = W_E[tokens], with a dense-gradient backward


def sinusoidal_table(n_ctx: int, d_model: int) -> Float[Tensor, "n_ctx d_model"]:
    """PE(p, 2i) = sin(p / 10000^(2i/d_model)), PE(p, 2i+1) = cos(p / 10000^(2i/d_model)).

    Each dimension oscillates at its own frequency, as the seed describes (Vaswani et al. 2017).
    """
    pos = torch.arange(n_ctx, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, two_i / d_model)
    table = torch.zeros(n_ctx, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table.float()


class PosEmbed(nn.Module):
    """W_pos [n_ctx, d_model]: learned (a parameter) or sinusoidal (a fixed buffer)."""

    def __init__(self, n_ctx: int, d_model: int, learned: bool) -> None:
        super().__init__()
        if learned:
            self.W_pos = nn.Parameter(torch.empty(n_ctx, d_model))
        else:
            self.register_buffer("W_pos", sinusoidal_table(n_ctx, d_model))

    def forward(self, n_pos: int) -> Float[Tensor, "pos d_model"]:
        return self.W_pos[:n_pos]


class Unembed(nn.Module):
    """logits = x W_U + b_U with W_U [d_model, d_vocab] (the seed's N_dim x N_v linear layer).

    ``hook_in`` sees x and ``hook_out`` the logits, as TransformerLens 3.9's ``unembed`` hooks."""

    def __init__(self, d_model: int, d_vocab: int) -> None:
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(d_model, d_vocab))
        self.b_U = nn.Parameter(torch.zeros(d_vocab))
        self.hook_in, self.hook_out = HookPoint(), HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_vocab"]:
        return self.hook_out(affine(self.hook_in(x), self.W_U, self.b_U))


def init_normal_(param: Tensor, std: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        param.copy_(torch.randn(param.shape, generator=generator) * std)


__all__ = ["Embed", "PosEmbed", "Unembed", "init_normal_", "sinusoidal_table"]
