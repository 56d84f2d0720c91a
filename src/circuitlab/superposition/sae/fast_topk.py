"""Speed machinery for the TopK encoder: one autograd Function whose backward touches only the k
chosen pre-activations of each input.

    forward:   pre = (x - b_dec) W_enc + b_enc;  values, indices = TopK_k(pre);  z = ReLU(values)
    backward:  with G the [n, d_sae] gradient of pre, nonzero only at (row, indices) where z > 0:
               ∂W_enc = (x - b_dec)^T G   (a sparse-dense product over the n*k entries)
               ∂b_enc = Σ_rows G          ∂(x - b_dec) = G W_enc^T (the k rows of W_enc^T per input)
               ∂x = ∂(x - b_dec)          ∂b_dec = -∂b_enc W_enc^T

Autograd through ``topk`` would build G densely and multiply it in full: two [n, d_in] x [d_in,
d_sae] products. Here they are ``torch.sparse.mm`` over n*k entries and one matrix-vector
product. Only public ops; tests hold it equal, outputs and gradients, to the reference path
(``topk_latents`` on the dense pre-activations, autograd throughout).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


class TopKEncode(torch.autograd.Function):
    """``(values, indices, pre)`` for x [n, d_in]; ``pre`` and ``indices`` carry no gradient."""

    @staticmethod
    def forward(
        x: Tensor, W_enc: Tensor, b_enc: Tensor, b_dec: Tensor, k: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        centred = x - b_dec
        pre = torch.addmm(b_enc, centred, W_enc)
        values, indices = pre.topk(k, dim=-1, sorted=False)
        return torch.relu(values), indices, pre

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, W_enc, b_enc, b_dec, k = inputs
        values, indices, pre = output
        ctx.mark_non_differentiable(indices, pre)
        ctx.set_materialize_grads(False)  # no [n, d_sae] zeros for pre's unused gradient
        ctx.save_for_backward(x, W_enc, b_dec, indices, values > 0)

    @staticmethod
    def backward(ctx: Any, grad_values: Tensor, _grad_indices: Any, _grad_pre: Any) -> tuple:
        x, W_enc, b_dec, indices, live = ctx.saved_tensors
        if grad_values is None:
            return None, None, None, None, None
        n, k = indices.shape
        d_sae = W_enc.shape[1]
        g = (grad_values * live).flatten()
        cols = indices.flatten()
        grad_b_enc = torch.zeros(d_sae, dtype=g.dtype, device=g.device).index_add_(0, cols, g)
        grad_x = grad_W_enc = grad_b_dec = None
        if ctx.needs_input_grad[1]:
            rows = torch.arange(n, device=g.device).repeat_interleave(k)
            G_T = torch.sparse_coo_tensor(torch.stack([cols, rows]), g, (d_sae, n), check_invariants=False)
            grad_W_enc = torch.sparse.mm(G_T, x - b_dec).T
        if ctx.needs_input_grad[0]:
            grad_x = F.embedding_bag(
                indices, W_enc.T.contiguous(), per_sample_weights=g.view(n, k), mode="sum"
            )
        if ctx.needs_input_grad[3]:
            grad_b_dec = -(W_enc @ grad_b_enc)
        return grad_x, grad_W_enc, grad_b_enc if ctx.needs_input_grad[2] else None, grad_b_dec, None
