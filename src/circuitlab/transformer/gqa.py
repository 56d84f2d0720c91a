"""Grouped-query attention, and the one place a block's attention is chosen from its config.

Ainslie et al. 2023, "GQA": n_key_value_heads key/value heads, each shared by a group of
g = n_heads / n_key_value_heads consecutive query heads. Query head h reads key/value head h // g:

    k^j = x W_K^j + b_K^j,  v^j = x W_V^j + b_V^j          j < n_key_value_heads   (hook_k, hook_v)
    A^h = softmax(q^h (k^(h//g))^T / sqrt(d_head) + mask),  z^h = A^h v^(h//g)

As in TransformerLens's GroupedQueryAttention the stored weights are ``_W_K``, ``_W_V`` [n_kv_heads,
d_model, d_head] and ``_b_K``, ``_b_V`` [n_kv_heads, d_head]; ``W_K``, ``W_V``, ``b_K``, ``b_V`` read
them repeated per query head ([n_heads, ...]), so every head's QK and OV circuit, the model's
stacked ``W_K``/``W_V`` and the composition scores see one matrix per query head. hook_k and
hook_v see the grouped [batch, pos, n_kv_heads, d_head]; the fast path passes them to
``F.scaled_dot_product_attention(enable_gqa=True)`` without repeating them.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from circuitlab.transformer.attention import Attention, HeadVecs
from circuitlab.transformer.config import TransformerConfig
from circuitlab.transformer.ops import affine
from circuitlab.transformer.rotary import Rotary
from circuitlab.typing import Float, Tensor

KVHeads = Float[Tensor, "batch pos n_kv_heads d_head"]


class GroupedQueryAttention(Attention):
    """Attention whose key and value heads are shared by groups of query heads."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_head: int,
        n_ctx: int,
        n_kv_heads: int,
        rotary: nn.Module | None = None,
    ) -> None:
        super().__init__(d_model, n_heads, d_head, n_ctx, rotary)
        if n_heads % n_kv_heads:
            raise ValueError(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}")
        for name in ("W_K", "W_V", "b_K", "b_V"):  # replaced by the grouped stacks below
            delattr(self, name)
        self.n_kv_heads, self.group = n_kv_heads, n_heads // n_kv_heads
        self._W_K = nn.Parameter(torch.empty(n_kv_heads, d_model, d_head))
        self._W_V = nn.Parameter(torch.empty(n_kv_heads, d_model, d_head))
        self._b_K = nn.Parameter(torch.zeros(n_kv_heads, d_head))
        self._b_V = nn.Parameter(torch.zeros(n_kv_heads, d_head))

    def per_query_head(self, t: Tensor, dim: int = 0) -> Tensor:
        """Repeat each key/value head for the ``group`` query heads it serves (axis ``dim``)."""
        return torch.repeat_interleave(t, self.group, dim=dim)

    W_K = property(lambda self: self.per_query_head(self._W_K), doc="[n_heads, d_model, d_head]")
    W_V = property(lambda self: self.per_query_head(self._W_V), doc="[n_heads, d_model, d_head]")
    b_K = property(lambda self: self.per_query_head(self._b_K), doc="[n_heads, d_head]")
    b_V = property(lambda self: self.per_query_head(self._b_V), doc="[n_heads, d_head]")

    def qkv(
        self, x_q: Tensor, x_k: Tensor, x_v: Tensor, qk_pos: Tensor | None
    ) -> tuple[HeadVecs, KVHeads, KVHeads]:
        """q [batch, pos, n_heads, d_head]; k, v [batch, pos, n_kv_heads, d_head]; one fused
        matmul with [W_Q | _W_K | _W_V] when the three inputs are one tensor. Per-head inputs
        (``set_use_split_qkv_input``) have one copy per query head for q and per key/value head
        for k and v."""
        if qk_pos is not None:
            x_q, x_k = x_q + qk_pos, x_k + qk_pos
        stacks = ((self.W_Q, self.b_Q), (self._W_K, self._b_K), (self._W_V, self._b_V))
        if x_q.ndim == 4:  # per-head inputs: [.., n_heads, d_model] for q, [.., n_kv_heads, d_model] k, v
            return tuple(self.project(x, W, b) for x, (W, b) in zip((x_q, x_k, x_v), stacks, strict=True))
        if not (x_q is x_k and x_k is x_v):
            return tuple(
                self.heads(affine(x, *flat(W, b)), W.shape[0])
                for x, (W, b) in zip((x_q, x_k, x_v), stacks, strict=True)
            )
        Ws, bs = zip(*(flat(W, b) for W, b in stacks), strict=True)
        qkv = affine(x_q, torch.cat(Ws, dim=1), torch.cat(bs))
        q, k, v = qkv.split([W.shape[1] for W in Ws], dim=-1)
        return self.heads(q, self.n_heads), self.heads(k, self.n_kv_heads), self.heads(v, self.n_kv_heads)

    def heads(self, t: Float[Tensor, "batch pos width"], n: int) -> Float[Tensor, "batch pos n d_head"]:
        return t.view(*t.shape[:-1], n, self.d_head)

    def explicit_z(self, q: HeadVecs, k: KVHeads, v: KVHeads, padding=None) -> HeadVecs:
        """The reference path of :class:`Attention` with each key/value head repeated per query head."""
        return super().explicit_z(q, self.per_query_head(k, dim=2), self.per_query_head(v, dim=2), padding)


def flat(W: Float[Tensor, "h d_model d_head"], b: Float[Tensor, "h d_head"]) -> tuple[Tensor, Tensor]:
    """A head stack as one right-multiplying [d_model, h * d_head] matrix and its [h * d_head] bias."""
    return rearrange(W, "h d e -> d (h e)"), b.reshape(-1)


def make_attention(cfg: TransformerConfig) -> Attention:
    """The attention of one block of ``cfg``: rotary positions when ``positional="rotary"``, grouped
    key/value heads when ``n_key_value_heads`` is set below ``n_heads``."""
    rotary = Rotary(cfg.rotary_dim_resolved, cfg.rotary_base) if cfg.positional == "rotary" else None
    if cfg.n_kv_heads == cfg.n_heads:
        return Attention(cfg.d_model, cfg.n_heads, cfg.d_head, cfg.n_ctx, rotary)
    return GroupedQueryAttention(cfg.d_model, cfg.n_heads, cfg.d_head, cfg.n_ctx, cfg.n_kv_heads, rotary)


__all__ = ["GroupedQueryAttention", "make_attention"]
