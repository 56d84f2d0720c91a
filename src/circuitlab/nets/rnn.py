"""The Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), and the machinery the LSTM shares.

Source: Elman (1990), "Finding structure in time"; parameter layout and names as in
``torch.nn.RNN`` (``weight_ih_l{k}: [G*d_hidden, d_in]``, left-multiplying), so that
``RNN.from_torch`` is a copy.

Speed: the input projection ``W_ih x_t + b_ih + b_hh`` is computed for all steps in one matmul
before the loop; each step is one ``addmm`` for the recurrence plus elementwise ops.

Hooks: each layer's hook points fire once per sequence, on the activation stacked over time as
``[batch, pos, d_hidden]`` (not once per step, which would cost a Python call per step). A hook
that returns a replacement changes what the layer passes on (its output, the next layer's input,
and the final state read from it); it does not re-run the recurrence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.nets.bptt import RNNRecurrence

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


@dataclass(frozen=True)
class RecurrentConfig:
    """Shape of a (stacked) recurrent net; ``batch_first`` as in torch (default True here)."""

    d_in: int
    d_hidden: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = True
    nonlinearity: str = "tanh"

    def __post_init__(self) -> None:
        for name in ("d_in", "d_hidden", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be a positive integer")
        if self.nonlinearity not in NONLINEARITIES:
            raise ConfigError(f"nonlinearity={self.nonlinearity!r}: expected one of {sorted(NONLINEARITIES)}")


class RecurrentLayer(HookedModule):
    """One layer's parameters in torch's layout: ``W_ih: [G*d_hidden, d_in]``, ``W_hh: [G*d_hidden,
    d_hidden]``, ``b_ih``, ``b_hh: [G*d_hidden]``; G = 1 (RNN) or 4 (LSTM, gates i, f, g, o)."""

    n_gates = 1

    def __init__(self, d_in: int, d_hidden: int, bias: bool = True) -> None:
        super().__init__()
        G, bound = self.n_gates * d_hidden, 1 / math.sqrt(d_hidden)  # torch's init
        self.W_ih = nn.Parameter(torch.empty(G, d_in).uniform_(-bound, bound))
        self.W_hh = nn.Parameter(torch.empty(G, d_hidden).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(G).uniform_(-bound, bound)) if bias else None
        self.b_hh = nn.Parameter(torch.empty(G).uniform_(-bound, bound)) if bias else None

    def input_projection(self, x: Float[Tensor, "pos batch d_in"]) -> Float[Tensor, "pos batch gates"]:
        """``W_ih x_t + b_ih + b_hh`` for every step at once (one matmul)."""
        if self.b_ih is None:
            return x @ self.W_ih.T
        return torch.addmm(self.b_ih + self.b_hh, x.flatten(0, 1), self.W_ih.T).unflatten(0, x.shape[:2])

    @staticmethod
    def fire(hook: HookPoint, seq: Float[Tensor, "pos batch d_hidden"]) -> Tensor:
        """Run a hook point on a time-major stack, showing it as ``[batch, pos, d_hidden]``."""
        if not hook.active:
            return seq
        return rearrange(hook(rearrange(seq, "p b h -> b p h")), "b p h -> p b h")


class RNNLayer(RecurrentLayer):
    """``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; hooks ``hook_pre`` (the argument of phi)
    and ``hook_h`` (the hidden state), each ``[batch, pos, d_hidden]``."""

    def __init__(self, d_in: int, d_hidden: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__(d_in, d_hidden, bias)
        self.nonlinearity = nonlinearity
        self.hook_pre = HookPoint()
        self.hook_h = HookPoint()

    def forward(self, x: Float[Tensor, "pos batch d_in"], h: Float[Tensor, "batch d_hidden"]):
        """Time-major ``x`` -> (``out: [pos, batch, d_hidden]``, ``h_n``). Runs the fused BPTT
        recurrence unless ``hook_pre`` is hooked, which needs the step-by-step loop."""
        xW = self.input_projection(x)
        if self.hook_pre.active:
            hs = self.loop(xW, h)
        else:
            hs = RNNRecurrence.apply(xW, h, self.W_hh, self.nonlinearity)
        out = self.fire(self.hook_h, hs)
        return out, out[-1]

    def loop(self, xW: Tensor, h: Tensor) -> Tensor:
        """The recurrence step by step under autograd (the readable reference path)."""
        phi, W_hh_T, hs, pres = NONLINEARITIES[self.nonlinearity], self.W_hh.T, [], []
        for t in range(xW.shape[0]):
            pre = torch.addmm(xW[t], h, W_hh_T)  # W_ih x_t + b_ih + b_hh + W_hh h_{t-1}
            h = phi(pre)
            hs.append(h)
            pres.append(pre)
        self.fire(self.hook_pre, torch.stack(pres))
        return torch.stack(hs)


class RecurrentNet(HookedModule):
    """Stacked recurrent layers with torch's interface; subclasses set ``layer_cls`` and the state."""

    layer_cls: type[RecurrentLayer] = RNNLayer
    torch_cls: type[nn.RNNBase] = nn.RNN

    def __init__(
        self,
        d_in: int,
        d_hidden: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = True,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        self.cfg = RecurrentConfig(d_in, d_hidden, num_layers, bias, batch_first, nonlinearity)
        self.layers = nn.ModuleList(self._make_layer(d_in if k == 0 else d_hidden) for k in range(num_layers))

    def _make_layer(self, d_in: int) -> RecurrentLayer:
        return self.layer_cls(d_in, self.cfg.d_hidden, self.cfg.bias)

    @property
    def batch_first(self) -> bool:
        return self.cfg.batch_first

    def _time_major(self, x: Tensor) -> Tensor:
        """Check ``x`` and return it as ``[pos, batch, d_in]``."""
        cfg, name = self.cfg, type(self).__name__
        want = "[batch, pos, d_in]" if cfg.batch_first else "[pos, batch, d_in]"
        want = want.replace("d_in", str(cfg.d_in))
        w = self.layers[0].W_ih
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != cfg.d_in or 0 in x.shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            hint = (
                " (one sequence? add a batch axis with x.unsqueeze(0))" if getattr(x, "ndim", 0) == 2 else ""
            )
            raise ShapeError(f"{name} input: expected shape {want}, got {got}{hint}")
        if x.dtype != w.dtype:
            hint = "embed integer tokens first (e.g. one-hot .float())" if not x.is_floating_point() else ""
            raise ShapeError(
                f"{name} input: expected dtype {w.dtype} of shape {want}, got {x.dtype} of shape "
                f"{tuple(x.shape)}; {hint or f'cast with x.to({w.dtype})'}"
            )
        return rearrange(x, "b p d -> p b d") if cfg.batch_first else x

    def _check_state(self, s: Tensor | None, batch: int, what: str) -> Tensor | None:
        if s is None:
            return None
        cfg, w = self.cfg, self.layers[0].W_ih
        want = (cfg.num_layers, batch, cfg.d_hidden)
        if not isinstance(s, Tensor) or tuple(s.shape) != want or s.dtype != w.dtype:
            got = f"{tuple(s.shape)} {s.dtype}" if isinstance(s, Tensor) else type(s).__name__
            raise ShapeError(
                f"{type(self).__name__} {what}: expected shape [num_layers, batch, d_hidden] = "
                f"{list(want)} {w.dtype}, got {got}"
            )
        return s

    def _zeros(self, batch: int) -> Tensor:
        w = self.layers[0].W_ih
        return w.new_zeros(self.cfg.num_layers, batch, self.cfg.d_hidden)

    def _output(self, out: Tensor) -> Tensor:
        return rearrange(out, "p b h -> b p h") if self.cfg.batch_first else out

    @classmethod
    def from_torch(cls, module: nn.RNNBase):
        """A copy of ``module`` (its weights, ``num_layers``, ``bias``, ``batch_first``, device, dtype)."""
        if type(module) is not cls.torch_cls:
            raise ConfigError(
                f"{cls.__name__}.from_torch: expected torch.nn.{cls.torch_cls.__name__}, "
                f"got {type(module).__name__}"
            )
        if module.bidirectional or getattr(module, "proj_size", 0) or module.dropout:
            raise ConfigError(
                f"{cls.__name__}.from_torch: bidirectional={module.bidirectional}, "
                f"proj_size={getattr(module, 'proj_size', 0)}, dropout={module.dropout} are not supported; "
                "use a unidirectional module without projection or dropout"
            )
        kwargs = {"nonlinearity": module.nonlinearity} if cls.torch_cls is nn.RNN else {}
        net = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            **kwargs,
        )
        w0 = module.weight_ih_l0
        net = net.to(device=w0.device, dtype=w0.dtype)
        with torch.no_grad():
            for k, layer in enumerate(net.layers):
                layer.W_ih.copy_(getattr(module, f"weight_ih_l{k}"))
                layer.W_hh.copy_(getattr(module, f"weight_hh_l{k}"))
                if module.bias:
                    layer.b_ih.copy_(getattr(module, f"bias_ih_l{k}"))
                    layer.b_hh.copy_(getattr(module, f"bias_hh_l{k}"))
        return net


class RNN(RecurrentNet):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, stacked ``num_layers`` deep.

    ``forward(x: [batch, pos, d_in], h0: [num_layers, batch, d_hidden] | None) -> (out, h_n)``
    with ``out: [batch, pos, d_hidden]`` (the last layer's h_t for every t) and ``h_n: [num_layers,
    batch, d_hidden]``; with ``batch_first=False``, x and out are ``[pos, batch, ...]`` as in torch.
    Hook names: ``layers.{k}.hook_pre`` and ``layers.{k}.hook_h``, ``[batch, pos, d_hidden]``.
    """

    def _make_layer(self, d_in: int) -> RecurrentLayer:
        return RNNLayer(d_in, self.cfg.d_hidden, self.cfg.bias, self.cfg.nonlinearity)

    def forward(
        self, x: Float[Tensor, "batch pos d_in"], h0: Float[Tensor, "n_layers batch d_hidden"] | None = None
    ):
        x = self._time_major(x)
        h0 = self._check_state(h0, x.shape[1], "h0")
        h0 = self._zeros(x.shape[1]) if h0 is None else h0
        finals = []
        for k, layer in enumerate(self.layers):
            x, h_n = layer(x, h0[k])
            finals.append(h_n)
        return self._output(x), torch.stack(finals)
