"""Causal multi-head attention, one head at a time in the equations, all heads at once in code.

For head h (Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits"):

    q = x_q W_Q^h + b_Q^h,  k = x_k W_K^h + b_K^h,  v = x_v W_V^h + b_V^h
    A^h = softmax(q k^T / sqrt(d_head) + causal mask)          (hook_attn_scores, hook_pattern)
    z^h = A^h v                                                  (hook_z)
    r^h = z^h W_O^h                                              (hook_result: the head's write)
    attn_out = sum_h r^h + b_O                                   (heads are independent and additive)

Fast path: when nothing hooks the scores, the pattern or the per-head result, the pattern is
never materialised and ``F.scaled_dot_product_attention`` computes z; the explicit path runs
the softmax above. Both give the same output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import einsum
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.typing import Float, Tensor


class Attention(nn.Module):
    """W_Q, W_K, W_V: [n_heads, d_model, d_head]; W_O: [n_heads, d_head, d_model] (right-multiplying)."""

    def __init__(self, d_model: int, n_heads: int, d_head: int, n_ctx: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.W_Q = nn.Parameter(torch.empty(n_heads, d_model, d_head))
        self.W_K = nn.Parameter(torch.empty(n_heads, d_model, d_head))
        self.W_V = nn.Parameter(torch.empty(n_heads, d_model, d_head))
        self.W_O = nn.Parameter(torch.empty(n_heads, d_head, d_model))
        self.b_Q = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_K = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_V = nn.Parameter(torch.zeros(n_heads, d_head))
        self.b_O = nn.Parameter(torch.zeros(d_model))
        self.register_buffer("mask", torch.ones(n_ctx, n_ctx, dtype=torch.bool).tril(), persistent=False)
        for name in ("q", "k", "v", "z", "attn_scores", "pattern", "result"):
            setattr(self, f"hook_{name}", HookPoint())

    @property
    def needs_pattern(self) -> bool:
        return self.hook_attn_scores.active or self.hook_pattern.active

    def project(self, x: Float[Tensor, "batch pos d_model"], W: Tensor, b: Tensor) -> Tensor:
        """x W + b for every head at once: [batch, pos, d_model] -> [batch, pos, n_heads, d_head]."""
        flat = W.permute(1, 0, 2).reshape(W.shape[1], -1)
        out = torch.addmm(b.reshape(-1), x.reshape(-1, x.shape[-1]), flat)
        return out.view(*x.shape[:-1], self.n_heads, self.d_head)

    def forward(
        self,
        x_q: Float[Tensor, "batch pos d_model"],
        x_k: Float[Tensor, "batch pos d_model"],
        x_v: Float[Tensor, "batch pos d_model"],
    ) -> Float[Tensor, "batch pos d_model"]:
        q = self.hook_q(self.project(x_q, self.W_Q, self.b_Q))
        k = self.hook_k(self.project(x_k, self.W_K, self.b_K))
        v = self.hook_v(self.project(x_v, self.W_V, self.b_V))
        if self.needs_pattern:
            z = self.explicit_z(q, k, v)
        else:
            z = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
            ).transpose(1, 2)
        z = self.hook_z(z)
        if self.hook_result.active:
            result = self.hook_result(einsum(z, self.W_O, "b p h e, h e d -> b p h d"))
            return result.sum(-2) + self.b_O
        flat_O = self.W_O.reshape(-1, self.W_O.shape[-1])
        return torch.addmm(self.b_O, z.reshape(-1, flat_O.shape[0]), flat_O).view(*z.shape[:2], -1)

    def explicit_z(self, q: Tensor, k: Tensor, v: Tensor) -> Float[Tensor, "batch pos n_heads d_head"]:
        n = q.shape[1]
        scores = einsum(q, k, "b q h e, b k h e -> b h q k") / math.sqrt(self.d_head)
        scores = self.hook_attn_scores(scores.masked_fill(~self.mask[:n, :n], float("-inf")))
        pattern = self.hook_pattern(torch.softmax(scores, dim=-1))
        return einsum(pattern, v, "b h q k, b k h e -> b q h e")
