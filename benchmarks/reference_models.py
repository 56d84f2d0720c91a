"""Bare PyTorch reference models for the ratio benchmarks (no hooks, no names, fused kernels).

``BareTransformer`` is the fastest plain way to write the seed's transformer in PyTorch:
``nn.Embedding`` tokens and positions, ``nn.LayerNorm``, one fused ``nn.Linear`` for Q, K and V,
``F.scaled_dot_product_attention`` (causal), ``nn.Linear`` output and unembedding. It has the
same shapes and parameter count as ``circuitlab.Transformer`` with the same config, so the
ratio ours / bare is the cost of circuitlab's names, hooks and checks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BareAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_head: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.qkv = nn.Linear(d_model, 3 * n_heads * d_head)
        self.out = nn.Linear(n_heads * d_head, d_model)

    def forward(self, x: torch.Tensor, qk_pos: torch.Tensor | None = None) -> torch.Tensor:
        batch, pos, _ = x.shape
        qkv = self.qkv(x)
        if qk_pos is not None:  # shortformer: (x + p) W = x W + p W for the query and key only
            width = 2 * self.n_heads * self.d_head
            qkv[..., :width] += qk_pos @ self.qkv.weight[:width].T
        q, k, v = qkv.view(batch, pos, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(z.transpose(1, 2).reshape(batch, pos, -1))


class BareMLP(nn.Module):
    def __init__(self, d_model: int, d_mlp: int) -> None:
        super().__init__()
        self.fc_in = nn.Linear(d_model, d_mlp)
        self.fc_out = nn.Linear(d_mlp, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(F.gelu(self.fc_in(x)))


class BareBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_head: int, d_mlp: int | None) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = BareAttention(d_model, n_heads, d_head)
        self.ln2 = nn.LayerNorm(d_model) if d_mlp else None
        self.mlp = BareMLP(d_model, d_mlp) if d_mlp else None

    def forward(self, x: torch.Tensor, qk_pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), qk_pos)
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))
        return x


class BareTransformer(nn.Module):
    """Plain decoder-only transformer: learned positions added to the residual stream
    (``positional="learned"``) or fed only to the query and key (``"shortformer"``)."""

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_head: int,
        d_vocab: int,
        n_ctx: int,
        d_mlp: int | None = None,
        positional: str = "learned",
    ) -> None:
        super().__init__()
        if positional not in ("learned", "shortformer"):
            raise ValueError(f"BareTransformer positional={positional!r}: choose learned or shortformer")
        self.positional = positional
        self.embed = nn.Embedding(d_vocab, d_model)
        self.pos_embed = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(BareBlock(d_model, n_heads, d_head, d_mlp) for _ in range(n_layers))
        self.ln_final = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, d_vocab)

    @classmethod
    def from_config(cls, cfg) -> BareTransformer:
        """The bare model of the same shapes as ``circuitlab.Transformer(cfg)``."""
        return cls(
            cfg.n_layers,
            cfg.d_model,
            cfg.n_heads,
            cfg.d_head,
            cfg.d_vocab,
            cfg.n_ctx,
            cfg.d_mlp_resolved,
            positional=cfg.positional,
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pos = self.pos_embed.weight[: tokens.shape[1]]
        x = self.embed(tokens)
        qk_pos = pos if self.positional == "shortformer" else None
        if qk_pos is None:
            x = x + pos
        for block in self.blocks:
            x = block(x, qk_pos)
        return self.unembed(self.ln_final(x))
