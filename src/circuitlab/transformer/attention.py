"""Causal multi-head attention, one head at a time in the equations, all heads at once in code.

For head h (Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits"):

    q = x_q W_Q^h + b_Q^h,  k = x_k W_K^h + b_K^h,  v = x_v W_V^h + b_V^h
    A^h = softmax(q k^T / sqrt(d_head) + causal mask)          (hook_attn_scores, hook_pattern)
    z^h = A^h v                                                  (hook_z)
    r^h = z^h W_O^h                                              (hook_result: the head's write)
    attn_out = sum_h r^h + b_O                                   (heads are independent and additive)

Fast path: when nothing hooks the scores, the pattern or the per-head result, the pattern is
never materialised and ``F.scaled_dot_product_attention`` computes z; the explicit path runs
the softmax above. Both give the same output. When the query, key and value read the same
stream (every block of a circuitlab model), q, k and v come from one matmul with
[W_Q | W_K | W_V]; with shortformer positions p, q and k come from one matmul of x + p with
[W_Q | W_K] and v from x W_V (an in-place add of p [W_Q | W_K] to a slice of one qkv matmul
gives the same numbers, but its backward copies and zero-fills the whole [batch, pos, 3 h e]
gradient: 6% of a training step at the headline shape).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.ops import affine
from circuitlab.transformer.padding import Padding
from circuitlab.typing import Float, Tensor

HeadVecs = Float[Tensor, "batch pos n_heads d_head"]


class Attention(nn.Module):
    """W_Q, W_K, W_V: [n_heads, d_model, d_head]; W_O: [n_heads, d_head, d_model] (right-multiplying)."""

    def __init__(
        self, d_model: int, n_heads: int, d_head: int, n_ctx: int, rotary: nn.Module | None = None
    ) -> None:
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
        self.n_ctx = n_ctx
        for name in ("q", "k", "v", "z", "attn_scores", "pattern", "result"):
            setattr(self, f"hook_{name}", HookPoint())
        self.rotary = rotary  # rotary positions: q, k <- rot(q), rot(k) after hook_q/hook_k
        if rotary is not None:
            self.hook_rot_q, self.hook_rot_k = HookPoint(), HookPoint()

    def causal_mask(self, n: int, like: Tensor) -> Float[Tensor, "pos pos"]:
        """0 where key <= query, -inf above the diagonal: added to the scores inside the matmul.

        Built per call (n^2 numbers, next to the n^2 scores of every head) rather than stored, so
        a long n_ctx costs no memory until it is used."""
        return torch.full((n, n), float("-inf"), device=like.device, dtype=like.dtype).triu(1)

    @property
    def needs_pattern(self) -> bool:
        return self.hook_attn_scores.active or self.hook_pattern.active

    def forward(
        self,
        x_q: Float[Tensor, "batch pos d_model"],
        x_k: Float[Tensor, "batch pos d_model"] | None = None,
        x_v: Float[Tensor, "batch pos d_model"] | None = None,
        qk_pos: Float[Tensor, "pos d_model"] | Float[Tensor, "batch pos d_model"] | None = None,
        padding: Padding | None = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        """attn_out for query/key/value inputs (default: all ``x_q``); ``qk_pos`` is added to the
        query and key inputs only (shortformer). Inputs may also be per head, [batch, pos, n_heads,
        d_model] (TransformerLens's split q/k/v inputs). ``padding``: the keys a padded batch may
        read (``transformer.padding``)."""
        q, k, v = self.qkv(x_q, x_q if x_k is None else x_k, x_q if x_v is None else x_v, qk_pos)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        if self.rotary is not None:  # a padded batch rotates by each token's position among the tokens
            positions = None if padding is None else padding.positions
            q, k = self.hook_rot_q(self.rotary(q, positions)), self.hook_rot_k(self.rotary(k, positions))
        if self.needs_pattern:
            z = self.explicit_z(q, k, v, padding)
        elif padding is not None:  # a padded batch: SDPA with the allowed keys as a boolean mask
            z = padding.sdpa_z(q, k, v)
        else:  # enable_gqa: grouped key/value heads (GroupedQueryAttention) serve their query heads
            z = F.scaled_dot_product_attention(
                q.transpose(1, 2),
                k.transpose(1, 2),
                v.transpose(1, 2),
                is_causal=True,
                enable_gqa=k.shape[2] != q.shape[2],
            ).transpose(1, 2)
        z = self.hook_z(z)
        if self.hook_result.active:
            result = self.hook_result(self.head_results(z))
            if self.hook_result.edits:  # the heads' (possibly edited) writes, summed
                return result.sum(-2) + self.b_O
        # sum_h z^h W_O^h + b_O as one matmul over the concatenated heads
        return affine(z.reshape(*z.shape[:2], -1), self.W_O.reshape(-1, self.W_O.shape[-1]), self.b_O)

    def qkv(self, x_q: Tensor, x_k: Tensor, x_v: Tensor, qk_pos: Tensor | None) -> tuple[HeadVecs, ...]:
        """q, k, v [batch, pos, n_heads, d_head]; one fused matmul when the inputs are one tensor."""
        if not (x_q is x_k and x_k is x_v) or x_q.ndim == 4:  # per-head inputs: one matmul per head
            if qk_pos is not None:
                x_q, x_k = x_q + qk_pos, x_k + qk_pos
            return tuple(
                self.project(x, W, b)
                for x, W, b in (
                    (x_q, self.W_Q, self.b_Q),
                    (x_k, self.W_K, self.b_K),
                    (x_v, self.W_V, self.b_V),
                )
            )
        # [W_Q | W_K | W_V] as one [d_model, 3 * n_heads * d_head] matrix, built by a single copy
        W = torch.cat([rearrange(W, "h d e -> d h e") for W in (self.W_Q, self.W_K, self.W_V)], dim=1)
        W = W.flatten(1)
        b = torch.cat([self.b_Q, self.b_K, self.b_V]).flatten()
        if qk_pos is not None:  # positions reach q and k only: [q | k] from x + p, v from x
            width = 2 * self.n_heads * self.d_head
            qk = affine(x_q + qk_pos, W[:, :width], b[:width])
            q, k = qk.view(*x_q.shape[:2], 2, self.n_heads, self.d_head).unbind(2)
            v = affine(x_q, W[:, width:], b[width:]).view(*x_q.shape[:2], self.n_heads, self.d_head)
            return q, k, v
        qkv = affine(x_q, W, b)
        q, k, v = qkv.view(*x_q.shape[:2], 3, self.n_heads, self.d_head).unbind(2)
        return q, k, v

    def project(self, x: Float[Tensor, "batch pos d_model"], W: Tensor, b: Tensor) -> HeadVecs:
        """x W + b for every head at once: [batch, pos, d_model] -> [batch, pos, n_heads, d_head].

        Per-head inputs [batch, pos, n_heads, d_model] give x[:, :, h] W^h + b^h."""
        if x.ndim == 4:
            return torch.einsum("bphd,hde->bphe", x, W) + b
        out = affine(x, rearrange(W, "h d e -> d (h e)"), b.reshape(-1))
        return out.view(*x.shape[:-1], self.n_heads, self.d_head)

    def explicit_z(self, q: HeadVecs, k: HeadVecs, v: HeadVecs, padding: Padding | None = None) -> HeadVecs:
        """z = softmax(q k^T / sqrt(d_head) + mask) v with the scores and pattern hooked.

        Unless a hook sees the scores (and may keep them) or autograd needs them, the softmax
        overwrites them in place: one [batch, n_heads, pos, pos] tensor per layer, not two. A padded
        query row with no key to read gets the zero pattern (``transformer.padding``)."""
        scores = self.attn_scores(q, k, padding)
        in_place = not (self.hook_attn_scores.active or (q.requires_grad and torch.is_grad_enabled()))
        if padding is not None:
            scores = padding.softmax_input(scores, in_place)
        pattern = softmax_into(scores) if in_place else torch.softmax(scores, dim=-1)
        if padding is not None:
            pattern = padding.zero_lonely(pattern)
        pattern = self.hook_pattern(pattern)
        return torch.matmul(pattern, v.transpose(1, 2)).transpose(1, 2)

    def attn_scores(
        self, q: HeadVecs, k: HeadVecs, padding: Padding | None = None
    ) -> Float[Tensor, "batch n_heads pos pos"]:
        """q k^T / sqrt(d_head) + mask (0 on and below the diagonal, -inf above and at padding), hooked."""
        batch, n = q.shape[:2]
        q_, k_ = (rearrange(t, "b p h e -> (b h) p e") for t in (q, k))
        scale = 1 / math.sqrt(self.d_head)
        scores = torch.baddbmm(self.causal_mask(n, q_), q_, k_.transpose(1, 2), alpha=scale)
        scores = scores.view(batch, self.n_heads, n, n)
        if padding is not None:
            padding.mask_scores_(scores)
        return self.hook_attn_scores(scores)

    def head_results(self, z: HeadVecs) -> Float[Tensor, "batch pos n_heads d_model"]:
        """r^h = z^h W_O^h for every head, one batched matmul over heads."""
        batch, n = z.shape[:2]
        per_head = torch.bmm(rearrange(z, "b p h e -> h (b p) e"), self.W_O)
        return rearrange(per_head, "h (b p) d -> b p h d", b=batch, p=n)


# How torch.func.vmap and forward-mode AD (torch.func.jvp, jacfwd, torch.autograd.forward_ad) refuse
# the out= softmax; each raises before writing anything, and there is no public query for either mode.
NO_OUT_RULE = ("Batching rule not implemented for", "Trying to use forward AD with")


def softmax_into(scores: Float[Tensor, "... pos"]) -> Float[Tensor, "... pos"]:
    """softmax over the last axis written over ``scores`` (which nobody else may hold).

    ``torch.softmax(out=scores)``. Under vmap or forward-mode AD, which have no rule for ``out=``
    (errors starting with ``NO_OUT_RULE``), the softmax gets memory of its own; any other error,
    e.g. ``scores`` requiring grad, propagates."""
    try:
        return torch.softmax(scores, dim=-1, out=scores)
    except RuntimeError as err:
        if not str(err).startswith(NO_OUT_RULE):
            raise
        return torch.softmax(scores, dim=-1)
