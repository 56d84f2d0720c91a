"""The Elman RNN, h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), and the machinery the LSTM shares.

Source: Elman (1990), "Finding structure in time"; equations, parameter layout and names as in
``torch.nn.RNN`` (``weight_ih_l{k}: [G*d_hidden, d_in]``, left-multiplying), so that
``RNN.from_torch`` is a copy.

Two paths compute the same numbers (the tests check outputs and gradients of both against
``torch.nn``). The reference path is each layer's ``loop``: the equations step by step under
autograd. The fast path, taken when no hook point of a layer has a hook, runs torch.nn's fused
kernel on the layers' own Parameters (``circuitlab.nets.kernels``): one call for the whole stack
when nothing is hooked, one per unhooked layer otherwise.

Hooks: each layer's hook points fire once per sequence, on the activation stacked over time as
``[batch, pos, d_hidden]`` (not once per step, which would cost a Python call per step). A hook
on ``hook_h`` (or the LSTM's ``hook_c``) that returns a replacement changes what the layer passes
on (its output, the next layer's input, and the final state read from it); it does not re-run
the recurrence. The other hook points (``hook_pre``, the gates) show the recurrence's values.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from einops import rearrange
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.config import Config, check_bool, check_choice, check_int, config_or_fields
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.nets.kernels import TorchKernel

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


@dataclass(frozen=True)
class RecurrentConfig(Config):
    """Shape of a stack of ``n_layers`` recurrent layers; ``batch_first`` as in torch (default True
    here); ``nonlinearity`` (tanh or relu) is the RNN's phi (the LSTM's is always tanh)."""

    d_in: int
    d_hidden: int
    n_layers: int = 1
    bias: bool = True
    batch_first: bool = True
    nonlinearity: str = "tanh"

    def __post_init__(self) -> None:
        for name in ("d_in", "d_hidden", "n_layers"):
            check_int(self, name, low=1)
        check_bool(self, "bias")
        check_bool(self, "batch_first")
        check_choice(self, "nonlinearity", NONLINEARITIES)

    @classmethod
    def from_dict(cls, data: dict) -> RecurrentConfig:
        """As ``Config.from_dict``; also reads JSON written before ``num_layers`` became ``n_layers``."""
        if isinstance(data, dict) and "num_layers" in data:
            if "n_layers" in data:
                raise ConfigError("RecurrentConfig: give n_layers only (num_layers is its old name)")
            data = {("n_layers" if k == "num_layers" else k): v for k, v in data.items()}
        return super().from_dict(data)


def recurrent_config(name: str, first, num_layers: int | None, **fields) -> RecurrentConfig:
    """The config of ``RNN(cfg)`` or of the torch-style ``RNN(d_in, d_hidden, n_layers, ...)``
    (fields left None take the config's defaults); ``num_layers`` is ``n_layers``'s old name."""
    if num_layers is not None:
        warnings.warn(f"{name}(num_layers=) is deprecated; use n_layers=", DeprecationWarning, stacklevel=3)
        if fields["n_layers"] is not None:
            raise ConfigError(f"{name}: give n_layers only (num_layers is its old name)")
        fields["n_layers"] = num_layers
    if not isinstance(first, RecurrentConfig) and fields["d_hidden"] is None:
        raise ConfigError(f"{name}: missing d_hidden; use {name}(d_in, d_hidden) or {name}(cfg)")
    return config_or_fields(RecurrentConfig, first, **fields)


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
        self.points: tuple[HookPoint, ...] = ()  # the layer's hook points, set by subclasses
        self.kernel = TorchKernel()  # the fast path

    @property
    def hooked(self) -> bool:
        """True when a hook is attached to any of the layer's hook points (then it takes ``loop``)."""
        return any(point.active for point in self.points)

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
        self.points = (self.hook_pre, self.hook_h)

    def forward(self, x: Float[Tensor, "pos batch d_in"], h: Float[Tensor, "batch d_hidden"]):
        """Time-major ``x`` -> (``out: [pos, batch, d_hidden]``, ``h_n``): torch's kernel, or the
        step-by-step ``loop`` when a hook is attached."""
        if not self.hooked:
            out, h_n = self.kernel([self], x, h[None], batch_first=False)
            return out, h_n[0]
        out = self.fire(self.hook_h, self.loop(self.input_projection(x), h))
        return out, out[-1]

    def loop(self, xW: Tensor, h: Tensor) -> Tensor:
        """The recurrence step by step under autograd (the reference path); fires ``hook_pre``."""
        phi, W_hh_T, hs, pres = NONLINEARITIES[self.nonlinearity], self.W_hh.T, [], []
        for t in range(xW.shape[0]):
            pre = torch.addmm(xW[t], h, W_hh_T)  # W_ih x_t + b_ih + b_hh + W_hh h_{t-1}
            h = phi(pre)
            hs.append(h)
            pres.append(pre)
        self.fire(self.hook_pre, torch.stack(pres))
        return torch.stack(hs)


class RecurrentNet(HookedModule):
    """Stacked recurrent layers with torch's interface; subclasses set the layers and the state."""

    torch_cls: type[nn.RNNBase] = nn.RNN

    def __init__(self, cfg: RecurrentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.kernel = TorchKernel()  # the fast path for the whole stack
        self.layers = nn.ModuleList(
            self._make_layer(cfg.d_in if k == 0 else cfg.d_hidden) for k in range(cfg.n_layers)
        )

    def _make_layer(self, d_in: int) -> RecurrentLayer:
        raise NotImplementedError

    @property
    def batch_first(self) -> bool:
        return self.cfg.batch_first

    @property
    def hooked(self) -> bool:
        """True when any layer has a hook (then the stack runs layer by layer)."""
        return any(layer.hooked for layer in self.layers)

    def _check_input(self, x: Tensor) -> int:
        """Check ``x`` (``[batch, pos, d_in]``, or ``[pos, batch, d_in]``) and return the batch size."""
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
        return x.shape[0] if cfg.batch_first else x.shape[1]

    def _check_state(self, s: Tensor | None, batch: int, what: str) -> Tensor | None:
        if s is None:
            return None
        cfg, w = self.cfg, self.layers[0].W_ih
        want = (cfg.n_layers, batch, cfg.d_hidden)
        if not isinstance(s, Tensor) or tuple(s.shape) != want or s.dtype != w.dtype:
            got = f"{tuple(s.shape)} {s.dtype}" if isinstance(s, Tensor) else type(s).__name__
            raise ShapeError(
                f"{type(self).__name__} {what}: expected shape [n_layers, batch, d_hidden] = "
                f"{list(want)} {w.dtype}, got {got}"
            )
        return s

    def _layer_by_layer(self, x: Tensor, states: tuple[Tensor | None, ...]) -> tuple[Tensor, list[Tensor]]:
        """Each layer in turn (hooked ones take their loop): ``out`` and the stacked final states."""
        x = rearrange(x, "b p d -> p b d") if self.cfg.batch_first else x
        zeros = self.layers[0].W_ih.new_zeros(self.cfg.n_layers, x.shape[1], self.cfg.d_hidden)
        states = tuple(zeros if s is None else s for s in states)
        finals = []
        for k, layer in enumerate(self.layers):
            x, *final = layer(x, *(s[k] for s in states))
            finals.append(final)
        out = rearrange(x, "p b h -> b p h") if self.cfg.batch_first else x
        return out, [torch.stack(f) for f in zip(*finals, strict=True)]

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
        nonlinearity = module.nonlinearity if cls.torch_cls is nn.RNN else "tanh"
        cfg = RecurrentConfig(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            nonlinearity,
        )
        w0 = module.weight_ih_l0
        net = cls(cfg).to(device=w0.device, dtype=w0.dtype)
        with torch.no_grad():
            for k, layer in enumerate(net.layers):
                layer.W_ih.copy_(getattr(module, f"weight_ih_l{k}"))
                layer.W_hh.copy_(getattr(module, f"weight_hh_l{k}"))
                if module.bias:
                    layer.b_ih.copy_(getattr(module, f"bias_ih_l{k}"))
                    layer.b_hh.copy_(getattr(module, f"bias_hh_l{k}"))
        return net


class RNN(RecurrentNet):
    """Elman RNN: ``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, phi = tanh (or relu), stacked
    ``n_layers`` deep; ``RNN(RecurrentConfig(...))`` or ``RNN(d_in, d_hidden, n_layers, ...)``.

    ``forward(x: [batch, pos, d_in], state: [n_layers, batch, d_hidden] | None) -> (out, h_n)``
    with ``out: [batch, pos, d_hidden]`` (the last layer's h_t for every t) and ``h_n: [n_layers,
    batch, d_hidden]``; ``h0=`` is another name for ``state``. With ``batch_first=False``, x and out
    are ``[pos, batch, ...]`` as in torch. Hook names: ``layers.{k}.hook_pre`` and
    ``layers.{k}.hook_h``, ``[batch, pos, d_hidden]``.
    """

    def __init__(
        self,
        cfg: RecurrentConfig | int,
        d_hidden: int | None = None,
        n_layers: int | None = None,
        bias: bool | None = None,
        batch_first: bool | None = None,
        nonlinearity: str | None = None,
        *,
        num_layers: int | None = None,
    ) -> None:
        fields = dict(d_hidden=d_hidden, n_layers=n_layers, bias=bias, batch_first=batch_first)
        super().__init__(recurrent_config("RNN", cfg, num_layers, nonlinearity=nonlinearity, **fields))

    def _make_layer(self, d_in: int) -> RecurrentLayer:
        return RNNLayer(d_in, self.cfg.d_hidden, self.cfg.bias, self.cfg.nonlinearity)

    def forward(
        self,
        x: Float[Tensor, "batch pos d_in"],
        state: Float[Tensor, "n_layers batch d_hidden"] | None = None,
        h0: Float[Tensor, "n_layers batch d_hidden"] | None = None,
    ) -> tuple[Tensor, Tensor]:
        if h0 is not None and state is not None:
            raise ShapeError("RNN: pass the initial state once, as state= (or its other name h0=)")
        h0 = self._check_state(h0 if state is None else state, self._check_input(x), "h0")
        if not self.hooked:
            return self.kernel(self.layers, x, h0, self.cfg.batch_first)
        out, (h_n,) = self._layer_by_layer(x, (h0,))
        return out, h_n
