"""Padded batches: an attention mask (1 = token, 0 = padding) and what each layer needs from it.

TransformerLens 3.9's semantics, for a mask m [batch, pos]:

    allowed[b, i, j] = (j <= i) and m[b, j]           a query never reads a padding key
    A[b, h, i, :] = 0 where no key is allowed          (left padding: the leading pads; z = 0 there)
    position[b, i] = max(0, sum_{j <= i} m[b, j] - 1)  positions count tokens, padding gets W_pos = 0

so a left-padded sequence sees the positions and keys it would see alone. The loss then skips a
prediction whose position or next position is padding (``forward_options.next_token_loss``).

Fast path: ``F.scaled_dot_product_attention`` with ``allowed`` as its boolean ``attn_mask``. A row
with no allowed key would be a softmax over nothing, so such a row reads its own key instead and
its z is set to 0 afterwards: the reference path (``Attention.explicit_z``) gives the zero pattern
directly; tests check both paths agree (outputs and gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool

from circuitlab.errors import ShapeError
from circuitlab.typing import Float, Int, Tensor

HeadVecs = Float[Tensor, "batch pos n_heads d_head"]


@dataclass(frozen=True)
class Padding:
    """The masks one padded batch needs, built once per forward and shared by every block.

    ``mask`` [batch, pos]: True for tokens. ``positions`` [batch, pos]: each token's position
    among the tokens. ``allowed`` [batch, 1, pos, pos]: causal and not padding. ``lonely``
    [batch, 1, pos, 1]: query rows with no allowed key. ``sdpa_mask``: ``allowed`` with the lonely
    rows' diagonal opened (the fast path's mask)."""

    mask: Bool[Tensor, "batch pos"]
    positions: Int[Tensor, "batch pos"]
    allowed: Bool[Tensor, "batch 1 pos pos"]
    lonely: Bool[Tensor, "batch 1 pos 1"]
    sdpa_mask: Bool[Tensor, "batch 1 pos pos"]

    @classmethod
    def of(
        cls, attention_mask: Tensor | None, shape: tuple[int, int], device: torch.device
    ) -> Padding | None:
        """Check a [batch, pos] mask of 0/1 (ints or bools) against the input's shape and build
        (None for no mask)."""
        if attention_mask is None:
            return None
        if not isinstance(attention_mask, Tensor) or tuple(attention_mask.shape) != tuple(shape):
            got = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else type(attention_mask)
            raise ShapeError(
                f"attention_mask has shape {got}, the input {tuple(shape)}: give one 1 (token) or 0 "
                "(padding) per position, e.g. model.to_tokens(texts) with its padding_side"
            )
        if attention_mask.dtype.is_floating_point or attention_mask.dtype.is_complex:
            raise ShapeError(f"attention_mask must hold 0/1 ints or bools, got dtype {attention_mask.dtype}")
        mask = attention_mask.to(device).bool()
        count = mask.long().cumsum(-1)
        n = shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=device).tril()
        allowed = causal & mask[:, None, None, :]
        lonely = ~allowed.any(-1, keepdim=True)
        eye = torch.eye(n, dtype=torch.bool, device=device)
        return cls(mask, (count - 1).clamp(min=0), allowed, lonely, allowed | (lonely & eye))

    def pos_embed(self, W_pos: Float[Tensor, "n_ctx d_model"]) -> Float[Tensor, "batch pos d_model"]:
        """W_pos at each token's position among the tokens; 0 at padding."""
        return torch.where(self.mask[..., None], W_pos[self.positions], 0.0)

    def sdpa_z(self, q: HeadVecs, k: HeadVecs, v: HeadVecs) -> HeadVecs:
        """z = A v through ``F.scaled_dot_product_attention`` with ``sdpa_mask``; lonely rows 0."""
        z = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=self.sdpa_mask,
            enable_gqa=k.shape[2] != q.shape[2],  # grouped key/value heads serve their query heads
        )
        return z.masked_fill(self.lonely, 0.0).transpose(1, 2)

    def mask_scores_(self, scores: Float[Tensor, "batch n_heads pos pos"]) -> Tensor:
        """-inf where a query may not read a key (the causal part is already -inf): in place."""
        return scores.masked_fill_(~self.mask[:, None, None, :], float("-inf"))

    def softmax_input(self, scores: Tensor, in_place: bool) -> Tensor:
        """The scores with lonely rows (all -inf) set to 0, so the softmax never makes a NaN."""
        return scores.masked_fill_(self.lonely, 0.0) if in_place else scores.masked_fill(self.lonely, 0.0)

    def zero_lonely(self, pattern: Float[Tensor, "batch n_heads pos pos"]) -> Tensor:
        """The zero pattern on rows with no allowed key, as TransformerLens gives."""
        return pattern.masked_fill(self.lonely, 0.0)


def mask_from_pads(
    tokens: Int[Tensor, "batch pos"], pad_id: int, padding_side: str, bos_is_pad: bool
) -> Int[Tensor, "batch pos"]:
    """TransformerLens's ``get_attention_mask``: 0 on the trailing pads (right padding) or the leading
    pads (left padding), 1 elsewhere. With ``bos_is_pad`` (a BOS was prepended and has the pad's
    id) the last leading pad of a left-padded row is that BOS and stays 1."""
    is_token = tokens != pad_id
    if padding_side == "right":
        return (is_token.flip(-1).cumsum(-1).flip(-1) > 0).long()
    leading = is_token.cumsum(-1) == 0
    mask = (~leading).long()
    if bos_is_pad:
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        mask[rows, leading.sum(-1) - 1] = 1
    return mask


__all__ = ["Padding", "mask_from_pads"]
