"""The MLP sublayer: post = act(x W_in + b_in); out = post W_out + b_out."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.ops import affine
from circuitlab.typing import Float, Tensor

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu}


class MLP(nn.Module):
    """W_in [d_model, d_mlp], W_out [d_mlp, d_model]; hook_pre (x W_in + b_in), hook_post (act)."""

    def __init__(self, d_model: int, d_mlp: int, activation: str) -> None:
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.W_in = nn.Parameter(torch.empty(d_model, d_mlp))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.empty(d_mlp, d_model))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(affine(x, self.W_in, self.b_in))
        post = self.hook_post(self.act(pre))
        return affine(post, self.W_out, self.b_out)
