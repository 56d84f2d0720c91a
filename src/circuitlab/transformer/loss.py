"""The language-model loss computed with the unembedding, a block of positions at a time.

For the final residual x_n (after ln_final) and the next token t_n of each of N positions:

    logits_n = x_n W_U + b_U,   loss = 1/N sum_n (logsumexp(logits_n) - logits_n[t_n])
    d loss / d logits_n = (softmax(logits_n) - onehot(t_n)) / N

Written as one autograd Function over blocks of ``CHUNK`` positions, the [N, d_vocab] logits are
never held whole: each block's logits become its gradient in place and are multiplied into
dL/dx, dL/dW_U and dL/db_U during the forward (the loss is a scalar, so the backward only scales
them by the incoming gradient). The matmuls are the three an unfused unembed + cross-entropy
runs; what goes is the full log-softmax, the logits' gradient and their memory (64 MB each at
batch 16 x 256 positions x 4096 tokens), which a fresh allocation pays in page faults.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from circuitlab.typing import Float, Int, Tensor

CHUNK = 256  # positions per block: a [256, 4096] float32 block is 4 MiB, reused from the heap


class _UnembedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, W_U: Tensor, b_U: Tensor, targets: Tensor, recording: bool) -> Tensor:
        n = x.shape[0]
        # needs_input_grad says requires_grad even under no_grad: ``recording`` is the grad mode
        want_x, want_W, want_b = (recording and need for need in ctx.needs_input_grad[:3])
        grads = any((want_x, want_W, want_b))
        acc = torch.promote_types(x.dtype, torch.float32)  # half precision sums in float32
        dx = torch.empty_like(x) if want_x else None
        dW = torch.zeros(W_U.shape, dtype=acc, device=W_U.device) if want_W else None
        db = torch.zeros(b_U.shape, dtype=acc, device=b_U.device) if want_b else None
        total = torch.zeros((), dtype=acc, device=x.device)
        for start in range(0, n, CHUNK):
            xs, ts = x[start : start + CHUNK], targets[start : start + CHUNK]
            logits = torch.addmm(b_U, xs, W_U).to(acc)
            lse = torch.logsumexp(logits, dim=1)
            total += (lse - logits.gather(1, ts[:, None]).squeeze(1)).sum()
            if not grads:
                continue
            dlogits = logits.sub_(lse[:, None]).exp_()  # softmax, in the logits' memory
            dlogits[torch.arange(len(ts), device=ts.device), ts] -= 1.0
            dlogits.mul_(1.0 / n)
            if want_x:
                torch.mm(dlogits.to(x.dtype), W_U.t(), out=dx[start : start + CHUNK])
            if want_W:
                dW.addmm_(xs.t().to(acc), dlogits)
            if want_b:
                db += dlogits.sum(0)
        ctx.save_for_backward(*(g for g in (dx, dW, db) if g is not None))
        ctx.dtypes = (W_U.dtype, b_U.dtype)
        return (total / n).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)
        want = ctx.needs_input_grad[:3]
        dx, dW, db = (next(saved) if w else None for w in want)
        return (
            None if dx is None else dx * grad.to(dx.dtype),
            None if dW is None else (dW * grad).to(ctx.dtypes[0]),
            None if db is None else (db * grad).to(ctx.dtypes[1]),
            None,
            None,
        )


def unembed_cross_entropy(
    x: Float[Tensor, "... d_model"],
    W_U: Float[Tensor, "d_model d_vocab"],
    b_U: Float[Tensor, " d_vocab"],
    targets: Int[Tensor, "..."],
) -> Float[Tensor, ""]:
    """mean cross-entropy of ``x W_U + b_U`` against ``targets`` (= ``F.cross_entropy`` of the
    logits), without materialising the logits. Differentiable once (no double backward)."""
    if x.shape[:-1] != targets.shape:
        raise ValueError(
            f"targets have shape {tuple(targets.shape)} but the residual stream has positions "
            f"{tuple(x.shape[:-1])}; pass one target token per position"
        )
    if targets.numel() == 0:
        raise ValueError("no positions to compute a loss on (a sequence of one token has no next token)")
    flat = x.reshape(-1, x.shape[-1])
    return _UnembedCrossEntropy.apply(flat, W_U, b_U, targets.reshape(-1).long(), torch.is_grad_enabled())


__all__ = ["CHUNK", "unembed_cross_entropy"]
