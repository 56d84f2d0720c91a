"""Rotary positions (RoPE): q and k rotated by an angle that grows with position.

Su et al. 2021, "RoFormer", in GPT-NeoX's rotate-half layout (what GPT-NeoX/Pythia, Llama,
Mistral and Qwen2 use). The first ``rotary_dim`` dimensions of a head are split into halves
x = [x1, x2]; with frequencies theta_i = base^(-2i / rotary_dim), i < rotary_dim / 2, position p
rotates each pair (x1_i, x2_i) by the angle p * theta_i:

    rot(x)_p = x * cos(p theta) + rotate_half(x) * sin(p theta),   rotate_half([x1, x2]) = [-x2, x1]

(cos and sin repeated over both halves). The remaining d_head - rotary_dim dimensions pass
through unchanged (partial rotary: Pythia rotates a quarter of each head). Because the rotation
is orthogonal and depends on position only, q_p . k_s depends on p - s: relative positions.
The frequencies and tables are computed in float32 as Hugging Face does (whatever the model's
dtype) and cast to the input's dtype; nothing is stored in a checkpoint or a buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from circuitlab.typing import Float, Int, Tensor

Heads = Float[Tensor, "batch pos n_heads d_head"]


def rotate_half(x: Float[Tensor, "... rotary_dim"]) -> Float[Tensor, "... rotary_dim"]:
    """[x1, x2] -> [-x2, x1] over the last axis (x1, x2 its two halves)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Rotary(nn.Module):
    """Rotates the first ``rotary_dim`` dimensions of every head of q or k by position.

    ``forward(x, positions=None)`` takes q or k as [batch, pos, n_heads, d_head] (heads of any
    count: query heads or grouped key/value heads) at positions 0..pos-1, or at ``positions``
    [batch, pos] (a padded batch: each token's position among the tokens), and returns the same shape.
    """

    def __init__(self, rotary_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if rotary_dim % 2:
            raise ValueError(f"rotary_dim={rotary_dim} must be even")
        self.rotary_dim, self.base = rotary_dim, base
        self.cached: tuple[int, torch.device, torch.dtype, Tensor, Tensor] | None = None

    def angles(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """cos(p theta) and sin(p theta) for float32 ``positions`` [...], each frequency repeated
        over both halves: [..., rotary_dim]."""
        two_i = torch.arange(0, self.rotary_dim, 2, dtype=torch.int64, device=positions.device).float()
        inv_freq = 1.0 / (self.base ** (two_i / self.rotary_dim))  # theta_i, in float32
        angle = positions[..., None] * inv_freq
        angle = torch.cat((angle, angle), dim=-1)
        return angle.cos(), angle.sin()

    def cos_sin(
        self, n_pos: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[Float[Tensor, "pos 1 rotary_dim"], Float[Tensor, "pos 1 rotary_dim"]]:
        """cos and sin at p < n_pos, shaped [pos, 1 (heads), rotary_dim] and cached."""
        if self.cached is not None and self.cached[:3] == (n_pos, device, dtype):
            return self.cached[3], self.cached[4]
        cos, sin = self.angles(torch.arange(n_pos, device=device, dtype=torch.float32))
        cos, sin = cos[:, None].to(dtype), sin[:, None].to(dtype)
        self.cached = (n_pos, device, dtype, cos, sin)
        return cos, sin

    def forward(self, x: Heads, positions: Int[Tensor, "batch pos"] | None = None) -> Heads:
        if positions is None:
            cos, sin = self.cos_sin(x.shape[1], x.device, x.dtype)
        else:
            cos, sin = (t[:, :, None].to(x.dtype) for t in self.angles(positions.to(x.device).float()))
        r = self.rotary_dim
        if r == x.shape[-1]:
            return x * cos + rotate_half(x) * sin
        x_rot, x_pass = x[..., :r], x[..., r:]
        return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)

    def extra_repr(self) -> str:
        return f"rotary_dim={self.rotary_dim}, base={self.base:g}"


__all__ = ["Rotary", "rotate_half"]
