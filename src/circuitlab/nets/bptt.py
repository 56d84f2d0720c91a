"""Fast recurrences: the RNN and LSTM time loops with backpropagation through time written out.

Autograd through a Python time loop records ~10 small ops per step and replays them backward;
``torch.nn.LSTM`` runs a fused kernel instead. These ``autograd.Function``s run the same
equations as ``RNNLayer``/``LSTMLayer`` (checked against ``torch.nn`` in the tests) with
preallocated buffers, and their backward is the BPTT recursion below, with everything that does
not depend on the recursion (derivative factors, weight gradients) computed for all steps at
once. The RNN's input projection ``xW = W_ih x + b`` stays outside (autograd handles ``W_ih``,
the biases and ``x``); the LSTM's is inside, so its layout can be the one its loop wants.

RNN, h_t = phi(p_t), p_t = xW_t + W_hh h_{t-1}:
    dp_t = (dout_t + dp_{t+1} W_hh) * phi'(p_t);   dW_hh = sum_t dp_t^T h_{t-1};   dxW_t = dp_t
LSTM, with dh_t = dout_t + W_hh^T dG_{t+1} (gates stacked as dG_t = [do, di, df, dg]):
    dc_t = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh^2 c_t)
    di = dc_t g_t i_t(1-i_t),  df = dc_t c_{t-1} f_t(1-f_t),  dg = dc_t i_t (1-g_t^2),
    do = dh_t tanh(c_t) o_t(1-o_t);   dW_hh = sum_t dG_t h_{t-1}^T;   dW_ih = sum_t dG_t x_t^T;
    db = sum_t dG_t;   dx_t = W_ih^T dG_t

Speed on a CPU comes from few, contiguous ops per step (each small op costs a few microseconds
of dispatch, more than its arithmetic) and from no temporaries in the passes over all steps
(which are memory-bound): see ``benchmarks/bench_nets.py``.
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


# The fused LSTM stores the gates in the order (o, i, f, g): one sigmoid_ covers o, i, f and, in
# the backward, one multiply by dc covers i, f, g. ``oifg_rows`` reorders torch's (i, f, g, o)
# rows of W_ih, W_hh and the bias; the caller reorders the (small) weights, never activations.


def oifg_rows(W: Tensor) -> Tensor:
    """Rows of a [4H, ...] (or [4H]) gate-stacked weight, from torch's (i, f, g, o) to (o, i, f, g)."""
    i, f, g, o = W.chunk(4, 0)
    return torch.cat([o, i, f, g])


class LSTMRecurrence(torch.autograd.Function):
    """``(x [T, B, d_in], h0, c0 [B, H], W_ih [4H, d_in], W_hh [4H, H], b [4H] | None) -> (hs, cs)``,
    both ``[T, B, H]``, with the gates of ``W_ih``, ``W_hh`` and ``b`` in (o, i, f, g) order;
    with ``keep_gates`` also the gates themselves, ``[T, 4H, B]`` (not differentiable).

    Inside, every step works on feature-major ``[4H, B]`` blocks: the step's matmul is
    ``W_hh h_{t-1}^T`` and each gate is a contiguous block, which makes the elementwise ops (and
    the matmul) markedly faster on a CPU than the batch-major layout. The input projection for
    all steps is one batched matmul before the loop; the states live in ``[T + 1, H, B]``
    buffers whose row 0 is the initial state, so the previous state at every step is a view.
    """

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        h0: Tensor,
        c0: Tensor,
        W_ih: Tensor,
        W_hh: Tensor,
        b: Tensor | None,
        keep_gates: bool = False,
    ):
        T, B, _ = x.shape
        H = W_hh.shape[1]
        x_fm = x.transpose(1, 2)  # [T, d_in, B]
        if b is None:
            S = torch.matmul(W_ih, x_fm)
        else:  # S_t = W_ih x_t^T + b: pre-activations, then (in place) the gates o, i, f, g
            S = torch.baddbmm(b[None, :, None], W_ih.expand(T, -1, -1), x_fm)
        hs, cs = x.new_empty(T + 1, H, B), x.new_empty(T + 1, H, B)
        tcs = x.new_empty(T, H, B)
        hs[0], cs[0] = h0.T, c0.T
        steps = zip(
            S.unbind(0), S[:, : 3 * H].unbind(0), S[:, 3 * H :].unbind(0),
            *(S[:, k * H : (k + 1) * H].unbind(0) for k in range(4)),
            cs[1:].unbind(0), tcs.unbind(0), hs[1:].unbind(0), strict=True,
        )  # fmt: skip
        h, c = hs[0], cs[0]
        for s, sig, tanh, o, i, f, g, c_t, tc_t, h_t in steps:
            s.addmm_(W_hh, h)  # + W_hh h_{t-1}
            sig.sigmoid_()  # o, i, f
            tanh.tanh_()  # g
            c = torch.mul(f, c, out=c_t).addcmul_(i, g)  # c_t = f c_{t-1} + i g
            h = torch.mul(o, torch.tanh(c, out=tc_t), out=h_t)  # h_t = o tanh(c_t)
        ctx.save_for_backward(x, S, cs, tcs, hs, W_ih, W_hh)
        ctx.has_bias = b is not None
        ctx.set_materialize_grads(False)  # an unused output (the cell states, mostly) gets None
        outs = hs[1:].transpose(1, 2).contiguous(), cs[1:].transpose(1, 2).contiguous()
        if not keep_gates:
            return outs
        ctx.mark_non_differentiable(S)  # the gates, for hooks that only read them
        return *outs, S

    @staticmethod
    @once_differentiable
    def backward(ctx, d_hs: Tensor, d_cs: Tensor, *_: Tensor):
        x, S, cs, tcs, hs, W_ih, W_hh = ctx.saved_tensors
        T, H, B = tcs.shape
        M, o_dtanh = _lstm_local_derivatives(S, cs, tcs)
        f = S[:, 2 * H : 3 * H]  # each step's [H, B] block is contiguous
        d_hs = torch.zeros_like(tcs) if d_hs is None else d_hs.transpose(1, 2).contiguous()
        cell_grads = d_cs is not None
        d_c_steps = d_cs.transpose(1, 2).unbind(0) if cell_grads else [None] * T
        dG = torch.empty_like(S)
        dh, dc = torch.zeros_like(hs[0]), torch.zeros_like(cs[0])
        W_hh_T = W_hh.T.contiguous()
        # dh_{t-1} = dout_{t-1} + W_hh^T dG_t is one addmm (dout_{-1} = 0: the gradient of h0)
        d_outs_prev = [torch.zeros_like(dh), *d_hs[:-1].unbind(0)]
        steps = zip(
            d_outs_prev, d_c_steps, o_dtanh.unbind(0), f.unbind(0), dG.unbind(0),
            M[:, :H].unbind(0), dG[:, :H].unbind(0),
            M[:, H:].unflatten(1, (3, H)).unbind(0), dG[:, H:].unflatten(1, (3, H)).unbind(0),
            strict=True,
        )  # fmt: skip
        dh.copy_(d_hs[-1])
        for d_prev, d_c, o_dt, f_t, dG_t, m_o, dG_o, m_ifg, dG_ifg in reversed(list(steps)):
            dc.addcmul_(dh, o_dt)  # dc_t = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh^2 c_t)
            if cell_grads:
                dc.add_(d_c)
            torch.mul(dh, m_o, out=dG_o)  # dG_o = dh_t M_o;  dG_{i,f,g} = dc_t M_{i,f,g}
            torch.mul(dc, m_ifg, out=dG_ifg)
            dc.mul_(f_t)
            torch.addmm(d_prev, W_hh_T, dG_t, out=dh)  # dh_{t-1} = dout_{t-1} + W_hh^T dG_t
        # the weight and input gradients for all steps at once: gates x (step, batch) matrices
        dG_all = dG.permute(1, 0, 2).reshape(4 * H, T * B)
        h_prev = hs[:-1].permute(1, 0, 2).reshape(H, T * B)
        need = ctx.needs_input_grad
        d_W_ih = dG_all @ x.reshape(T * B, -1) if need[3] else None
        d_W_hh = dG_all @ h_prev.T if need[4] else None
        d_b = dG_all.sum(1) if ctx.has_bias and need[5] else None
        d_x = None
        if need[0]:  # dx_t = dG_t^T W_ih, as a [T, B, d_in] view of one matmul
            d_x = (W_ih.T @ dG_all).view(-1, T, B).permute(1, 2, 0)
        return d_x, dh.T, dc.T, d_W_ih, d_W_hh, d_b, None


def _lstm_local_derivatives(S: Tensor, cs: Tensor, tcs: Tensor) -> tuple[Tensor, Tensor]:
    """The factors of dG that do not depend on the recursion, for all steps at once.

    With gates (o, i, f, g) in ``S [T, 4H, B]``: M = [tanh(c_t) o(1-o), g i(1-i), c_{t-1} f(1-f),
    i (1-g^2)] (multiplied by dh, dc, dc, dc in the loop) and d h_t / d c_t = o (1 - tanh^2 c_t).
    Written in place into M (sigma (1 - sigma) = sigma - sigma^2 is one ``addcmul`` for the three
    sigmoid gates): these passes over [T, 4H, B] are memory-bound, so no temporaries."""
    H = tcs.shape[1]
    o, i, g = S[:, :H], S[:, H : 2 * H], S[:, 3 * H :]
    M = torch.empty_like(S)
    sig = S[:, : 3 * H]
    torch.addcmul(sig, sig, sig, value=-1, out=M[:, : 3 * H])  # o(1-o), i(1-i), f(1-f)
    M[:, :H].mul_(tcs)
    M[:, H : 2 * H].mul_(g)
    M[:, 2 * H : 3 * H].mul_(cs[:-1])
    M_g = torch.mul(g, g, out=M[:, 3 * H :])
    torch.addcmul(i, i, M_g, value=-1, out=M_g)  # i (1 - g^2)
    o_dtanh = torch.mul(tcs, tcs)
    return M, torch.addcmul(o, o, o_dtanh, value=-1, out=o_dtanh)  # o (1 - tanh^2 c_t)
