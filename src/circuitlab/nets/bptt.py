"""Fast recurrences: the RNN and LSTM time loops with backpropagation through time written out.

Autograd through a Python time loop records ~10 small ops per step and replays them backward;
``torch.nn.LSTM`` runs a fused kernel instead. These ``autograd.Function``s run the same
equations as ``RNNLayer``/``LSTMLayer`` (checked against ``torch.nn`` in the tests) with
preallocated buffers, and their backward is the BPTT recursion below, with everything that does
not depend on the recursion (derivative factors, weight gradients) computed for all steps at
once. The input projection ``xW = W_ih x + b`` stays outside, so autograd handles ``W_ih``, the
biases and ``x``.

RNN, h_t = phi(p_t), p_t = xW_t + W_hh h_{t-1}:
    dp_t = (dout_t + dp_{t+1} W_hh) * phi'(p_t);   dW_hh = sum_t dp_t^T h_{t-1};   dxW_t = dp_t
LSTM (torch's gate order i, f, g, o), with dh_t = dout_t + dG_{t+1} W_hh:
    dc_t = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh^2 c_t)
    di = dc_t g_t i_t(1-i_t),  df = dc_t c_{t-1} f_t(1-f_t),  dg = dc_t i_t (1-g_t^2),
    do = dh_t tanh(c_t) o_t(1-o_t);    dW_hh = sum_t dG_t^T h_{t-1};   dxW_t = dG_t
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def _shifted(first: Tensor, seq: Tensor) -> Tensor:
    """``[first, seq_0, ..., seq_{T-2}]``: the previous step's value at every step."""
    return torch.cat([first.unsqueeze(0), seq[:-1]])


class RNNRecurrence(torch.autograd.Function):
    """``(xW [T, B, H], h0 [B, H], W_hh [H, H]) -> hs [T, B, H]`` for phi in {tanh, relu}."""

    @staticmethod
    def forward(ctx, xW: Tensor, h0: Tensor, W_hh: Tensor, nonlinearity: str) -> Tensor:
        hs, W_hh_T, h = torch.empty_like(xW), W_hh.T, h0
        for t in range(xW.shape[0]):
            h = torch.addmm(xW[t], h, W_hh_T, out=hs[t])
            h.tanh_() if nonlinearity == "tanh" else h.relu_()
        ctx.save_for_backward(hs, h0, W_hh)
        ctx.nonlinearity = nonlinearity
        return hs

    @staticmethod
    @once_differentiable
    def backward(ctx, d_hs: Tensor):
        hs, h0, W_hh = ctx.saved_tensors
        dphi = 1 - hs * hs if ctx.nonlinearity == "tanh" else (hs > 0).to(hs.dtype)
        dp, dh = torch.empty_like(hs), torch.zeros_like(h0)
        for t in range(hs.shape[0] - 1, -1, -1):
            dh.add_(d_hs[t])
            torch.mul(dh, dphi[t], out=dp[t])
            dh = dp[t] @ W_hh
        d_W_hh = dp.flatten(0, 1).T @ _shifted(h0, hs).flatten(0, 1)
        return dp, dh, d_W_hh, None


# forward keeps the gates as (i, f, o, g) so one sigmoid_ and one tanh_ cover them
_IFOG = (0, 1, 3, 2)


class LSTMRecurrence(torch.autograd.Function):
    """``(xW [T, B, 4H], h0, c0 [B, H], W_hh [4H, H]) -> (hs, cs) [T, B, H]``, gates i, f, g, o."""

    @staticmethod
    def forward(ctx, xW: Tensor, h0: Tensor, c0: Tensor, W_hh: Tensor):
        T, B, G = xW.shape
        H = G // 4
        perm = torch.arange(G, device=xW.device).view(4, H)[list(_IFOG)].flatten()
        S = xW.index_select(2, perm)  # pre-activations, then gates, in (i, f, o, g) order
        W_T = W_hh.index_select(0, perm).T
        cs, tcs, hs = (xW.new_empty(T, B, H) for _ in range(3))
        # per-step views made once (one unbind each), not sliced inside the loop
        steps = zip(
            S.unbind(0), S[..., : 3 * H].unbind(0), S[..., 3 * H :].unbind(0),
            *(S[..., k * H : (k + 1) * H].unbind(0) for k in range(4)),
            cs.unbind(0), tcs.unbind(0), hs.unbind(0), strict=True,
        )  # fmt: skip
        h, c = h0, c0
        for s, sig, tanh, i, f, o, g, c_t, tc_t, h_t in steps:
            s.addmm_(h, W_T)
            sig.sigmoid_()
            tanh.tanh_()
            c = torch.mul(f, c, out=c_t).addcmul_(i, g)
            h = torch.mul(o, torch.tanh(c, out=tc_t), out=h_t)
        ctx.save_for_backward(S, cs, tcs, hs, h0, c0, W_hh)
        return hs, cs

    @staticmethod
    @once_differentiable
    def backward(ctx, d_hs: Tensor, d_cs: Tensor):
        S, cs, tcs, hs, h0, c0, W_hh = ctx.saved_tensors
        T, B, H = hs.shape
        i, f, o, g = S[..., :H], S[..., H : 2 * H], S[..., 2 * H : 3 * H], S[..., 3 * H :]
        # every factor that does not depend on the recursion, for all steps at once
        M_ifg = torch.stack([g * i * (1 - i), _shifted(c0, cs) * f * (1 - f), i * (1 - g * g)], dim=2)
        M_o = tcs * o * (1 - o)
        o_dtanh = o * (1 - tcs * tcs)
        f = f.contiguous()
        dG = S.new_empty(T, B, 4 * H)
        dh, dc = torch.zeros_like(h0), torch.zeros_like(c0)
        cell_grads = bool(d_cs.any())
        steps = zip(
            d_hs.unbind(0), d_cs.unbind(0), o_dtanh.unbind(0), M_ifg.unbind(0), M_o.unbind(0), f.unbind(0),
            dG.unbind(0), dG[..., : 3 * H].unflatten(-1, (3, H)).unbind(0), dG[..., 3 * H :].unbind(0),
            strict=True,
        )  # fmt: skip
        for d_h, d_c, o_dt, m_ifg, m_o, f_t, dG_t, dG_ifg, dG_o in reversed(list(steps)):
            dh.add_(d_h)
            dc.addcmul_(dh, o_dt)
            if cell_grads:
                dc.add_(d_c)
            torch.mul(dc.unsqueeze(1), m_ifg, out=dG_ifg)
            torch.mul(dh, m_o, out=dG_o)
            dc.mul_(f_t)
            torch.mm(dG_t, W_hh, out=dh)
        d_W_hh = dG.flatten(0, 1).T @ _shifted(h0, hs).flatten(0, 1)
        return dG, dh, dc, d_W_hh
