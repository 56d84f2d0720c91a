"""The one vocabulary of dimension names, as jaxtyping aliases.

Every public signature in circuitlab speaks these names: ``batch pos d_model n_heads d_head
d_vocab n_features``; shapes in docstrings use the same words.
"""

from __future__ import annotations

from jaxtyping import Float, Int
from torch import Tensor

Tokens = Int[Tensor, "batch pos"]
Logits = Float[Tensor, "batch pos d_vocab"]
Resid = Float[Tensor, "batch pos d_model"]
HeadVectors = Float[Tensor, "batch pos n_heads d_head"]
Pattern = Float[Tensor, "batch n_heads query_pos key_pos"]
Sequence = Float[Tensor, "batch pos d_in"]
Features = Float[Tensor, "batch n_instances n_features"]

__all__ = [
    "Float",
    "Int",
    "Tensor",
    "Tokens",
    "Logits",
    "Resid",
    "HeadVectors",
    "Pattern",
    "Sequence",
    "Features",
]
