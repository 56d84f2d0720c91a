"""The tied unembedding: logits = x W_E^T + b_U, one matrix for reading and writing tokens.

GPT-2 and the small Qwen2/SmolLM models tie their output matrix to the embedding (Press & Wolf
2017, "Using the Output Embedding to Improve Language Models"). The unembedding then has no
W_U of its own: ``W_U`` reads W_E^T, so a checkpoint stores the matrix once, a gradient
reaches it from both ends, and nothing is copied on load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.embed import Embed
from circuitlab.typing import Float, Tensor


class TiedUnembed(nn.Module):
    """logits = x W_E^T + b_U with W_E [d_vocab, d_model] the model's embedding (b_U [d_vocab]);
    ``hook_in`` sees x and ``hook_out`` the logits, as on the untied ``Unembed``."""

    def __init__(self, embed: Embed, d_vocab: int) -> None:
        super().__init__()
        self.b_U = nn.Parameter(torch.zeros(d_vocab))
        # A tuple, not a submodule: the embedding is the model's; it is saved (and moved) once.
        self.tied_to = (embed,)
        self.hook_in, self.hook_out = HookPoint(), HookPoint()

    @property
    def W_U(self) -> Float[Tensor, "d_model d_vocab"]:
        return self.tied_to[0].W_E.T

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_vocab"]:
        return self.hook_out(F.linear(self.hook_in(x), self.tied_to[0].W_E, self.b_U))


__all__ = ["TiedUnembed"]
