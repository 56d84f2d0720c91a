"""The MLP sublayer: plain, post = act(x W_in + b_in), or gated, post = act(x W_gate) * (x W_in)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.config import TransformerConfig
from circuitlab.transformer.ops import affine
from circuitlab.typing import Float, Tensor

# gelu: exact (erf), as GPT-NeoX's "gelu"; gelu_new: GPT-2's tanh approximation; silu = x sigmoid(x).
ACTIVATIONS = {
    "gelu": F.gelu,
    "relu": F.relu,
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "silu": F.silu,
}


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


class GatedMLP(nn.Module):
    """post = act(x W_gate + b_gate) * (x W_in + b_in);  out = post W_out + b_out.

    Shazeer 2020, "GLU Variants Improve Transformer": SwiGLU with act = silu (Llama, Mistral,
    Qwen2), GeGLU with a gelu. Weight and hook names as TransformerLens's GatedMLP: W_gate, W_in
    [d_model, d_mlp], W_out [d_mlp, d_model]; hook_pre sees x W_gate + b_gate (before the
    activation), hook_pre_linear x W_in + b_in, hook_post the gated product. The biases are zero
    for the families without them (Hugging Face's gate_proj/up_proj/down_proj with mlp_bias).
    """

    def __init__(self, d_model: int, d_mlp: int, activation: str) -> None:
        super().__init__()
        self.act = ACTIVATIONS[activation]
        self.W_gate = nn.Parameter(torch.empty(d_model, d_mlp))
        self.b_gate = nn.Parameter(torch.zeros(d_mlp))
        self.W_in = nn.Parameter(torch.empty(d_model, d_mlp))
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.empty(d_mlp, d_model))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.hook_pre = HookPoint()
        self.hook_pre_linear = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(affine(x, self.W_gate, self.b_gate))
        pre_linear = self.hook_pre_linear(affine(x, self.W_in, self.b_in))
        post = self.hook_post(self.act(pre) * pre_linear)
        return affine(post, self.W_out, self.b_out)


def make_mlp(cfg: TransformerConfig) -> nn.Module:
    """The MLP named by ``cfg.mlp`` ("plain" or "gated") at width ``cfg.d_mlp_resolved``."""
    kind = GatedMLP if cfg.mlp == "gated" else MLP
    return kind(cfg.d_model, cfg.d_mlp_resolved, cfg.activation)
