"""The LSTM, its forget, input and output gates and its cell state written out.

Source: Hochreiter & Schmidhuber (1997), with the forget gate of Gers et al. (2000); the
equations, gate order (i, f, g, o) and parameter layout are those of ``torch.nn.LSTM``
(https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html):

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
    g_t = tanh   (W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      candidate cell
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

The four gates' weights are stacked in ``W_ih: [4*d_hidden, d_in]`` and ``W_hh: [4*d_hidden,
d_hidden]``, so each step is a single matmul. ``LSTMLayer.loop`` is these equations step by step
(the reference path, taken by a hooked layer); without hooks the layer runs ``torch.nn.LSTM``'s
fused kernel on its own Parameters. Hooks fire once per sequence on the stacked activation (see
``circuitlab.nets.rnn``).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookPoint
from circuitlab.nets.rnn import RecurrentConfig, RecurrentLayer, RecurrentNet, recurrent_config

GATES = ("i", "f", "g", "o")


class LSTMLayer(RecurrentLayer):
    """One LSTM layer; hook points ``hook_i, hook_f, hook_g, hook_o, hook_c, hook_h``, each
    ``[batch, pos, d_hidden]`` stacked over time."""

    n_gates = 4

    def __init__(self, d_in: int, d_hidden: int, bias: bool = True) -> None:
        super().__init__(d_in, d_hidden, bias)
        self.hook_i, self.hook_f, self.hook_g, self.hook_o = (HookPoint() for _ in GATES)
        self.hook_c = HookPoint()
        self.hook_h = HookPoint()
        self.points = (self.hook_i, self.hook_f, self.hook_g, self.hook_o, self.hook_c, self.hook_h)

    def forward(self, x: Float[Tensor, "pos batch d_in"], h: Tensor, c: Tensor):
        """Time-major ``x`` -> (``out: [pos, batch, d_hidden]``, ``h_n``, ``c_n``): torch's kernel,
        or the step-by-step ``loop`` when a hook is attached."""
        if not self.hooked:
            out, (h_n, c_n) = self.kernel([self], x, (h[None], c[None]), batch_first=False)
            return out, h_n[0], c_n[0]
        hs, cs = self.loop(self.input_projection(x), h, c)
        cs = self.fire(self.hook_c, cs)
        out = self.fire(self.hook_h, hs)
        return out, out[-1], cs[-1]

    def loop(self, xW: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """The equations step by step under autograd (the reference path), from ``xW_t = W_ih x_t +
        b_ih + b_hh``; fires the gate hooks on ``[batch, pos, d_hidden]`` stacks."""
        W_hh_T, hs, cs = self.W_hh.T, [], []
        gates: dict[str, list[Tensor]] = {name: [] for name in GATES}
        for t in range(xW.shape[0]):
            pre = torch.addmm(xW[t], h, W_hh_T)  # [batch, 4*d_hidden]: i, f, g, o
            i, f, g, o = pre.chunk(4, 1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = torch.addcmul(f * c, i, g)  # f * c + i * g, one op and one temporary fewer
            h = o * torch.tanh(c)
            for name, value in zip(GATES, (i, f, g, o), strict=True):
                gates[name].append(value)
            hs.append(h)
            cs.append(c)
        for name in GATES:
            self.fire(getattr(self, f"hook_{name}"), torch.stack(gates[name]))
        return torch.stack(hs), torch.stack(cs)


class LSTM(RecurrentNet):
    """Stacked LSTM with torch's interface: ``LSTM(RecurrentConfig(...))`` or ``LSTM(d_in, d_hidden,
    n_layers, bias, batch_first)``.

    ``forward(x: [batch, pos, d_in], state=(h0, c0) | None) -> (out, (h_n, c_n))``: ``out: [batch,
    pos, d_hidden]`` is the last layer's h_t; ``h0, c0, h_n, c_n: [n_layers, batch, d_hidden]``. With
    ``batch_first=False`` x and out are ``[pos, batch, ...]``. Hook names ``layers.{k}.hook_{i,f,g,o,c,h}``
    (``run_with_cache`` shows every gate as ``[batch, pos, d_hidden]``).
    """

    torch_cls = nn.LSTM

    def __init__(
        self,
        cfg: RecurrentConfig | int,
        d_hidden: int | None = None,
        n_layers: int | None = None,
        bias: bool | None = None,
        batch_first: bool | None = None,
        *,
        num_layers: int | None = None,
    ) -> None:
        fields = dict(d_hidden=d_hidden, n_layers=n_layers, bias=bias, batch_first=batch_first)
        cfg = recurrent_config("LSTM", cfg, num_layers, **fields)
        if cfg.nonlinearity != "tanh":
            raise ConfigError(
                f"LSTM: nonlinearity={cfg.nonlinearity!r}; the LSTM's is tanh (set it to 'tanh')"
            )
        super().__init__(cfg)

    def _make_layer(self, d_in: int) -> RecurrentLayer:
        return LSTMLayer(d_in, self.cfg.d_hidden, self.cfg.bias)

    def forward(
        self,
        x: Float[Tensor, "batch pos d_in"],
        state: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        batch = self._check_input(x)
        if state is not None:
            if not isinstance(state, tuple | list) or len(state) != 2:
                raise ShapeError(f"LSTM state: expected a pair (h0, c0), got {type(state).__name__}")
            state = (self._check_state(state[0], batch, "h0"), self._check_state(state[1], batch, "c0"))
        if not self.hooked:
            return self.kernel(self.layers, x, state, self.cfg.batch_first)
        out, (h_n, c_n) = self._layer_by_layer(x, (None, None) if state is None else state)
        return out, (h_n, c_n)
