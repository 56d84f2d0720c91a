"""The multilayer perceptron: layers of the seed's form y = g(W^T x + b), one after another.

Source: the seed notebook's ``LayerPerceptron`` cell (``z = torch.mm(w.T, x.T) + b``), generalised
to several layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.config import Config, check_bool, check_choice, check_ints, config_or_fields
from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule, HookPoint

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "gelu": nn.functional.gelu,
    "identity": lambda z: z,
}
_TORCH_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


@dataclass(frozen=True)
class MLPConfig(Config):
    """``sizes = (d_0, d_1, ..., d_L)``: L layers, layer l maps d_{l-1} -> d_l.

    ``activation`` g is applied after every layer, the last one too when ``activate_output``
    (the seed's single layer is ``g(W^T x + b)``); set it False to get logits for a classifier.
    """

    sizes: tuple[int, ...]
    activation: str = "sigmoid"
    activate_output: bool = True
    bias: bool = True

    def __post_init__(self) -> None:
        check_ints(self, "sizes", low=1, min_len=2)
        check_choice(self, "activation", sorted(ACTIVATIONS))
        check_bool(self, "activate_output")
        check_bool(self, "bias")


class Layer(HookedModule):
    """One layer, ``y = g(W^T x + b)``; ``W: [d_in, d_out]`` (the seed's ``w`` of shape (5, 3)).

    For a batch of row vectors ``x: [batch, d_in]`` this is ``g(x W + b)``, the transpose of the
    seed's column form. Hook points: ``hook_pre`` (W^T x + b) and ``hook_post`` (g of it).
    """

    def __init__(self, d_in: int, d_out: int, activation: str, bias: bool = True) -> None:
        super().__init__()
        bound = d_in**-0.5  # nn.Linear's default init range
        self.W = nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.empty(d_out).uniform_(-bound, bound)) if bias else None
        self.activation = activation
        self.g = ACTIVATIONS[activation]
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        z = x @ self.W if self.b is None else torch.addmm(self.b, x, self.W)
        return self.hook_post(self.g(self.hook_pre(z)))

    def forward_columns(self, x: Float[Tensor, "d_in batch"]) -> Float[Tensor, "d_out batch"]:
        """The seed's own form: inputs are columns, ``y = g(W^T x + b)`` with b broadcast per column."""
        z = self.W.T @ x
        return self.g(z if self.b is None else z + self.b[:, None])


class MLP(HookedModule):
    """A stack of layers ``x_l = g(W_l^T x_{l-1} + b_l)``; input ``[batch, d_in]`` or ``[d_in]``.

    ``MLP(MLPConfig(sizes=(5, 3)))``, or the shim ``MLP(sizes=[5, 3], activation="sigmoid")``, is the
    seed's ``LayerPerceptron``. Equal to ``nn.Sequential(nn.Linear, g, nn.Linear, g, ...)`` with
    ``linear.weight = W^T`` (see ``to_torch``). Hook names: ``layers.{l}.hook_pre`` and ``layers.{l}.hook_post``.
    """

    def __init__(
        self,
        sizes: MLPConfig | Sequence[int],
        activation: str | None = None,
        activate_output: bool | None = None,
        bias: bool | None = None,
    ) -> None:
        """``MLP(cfg)``, or ``MLP(sizes, activation, activate_output, bias)`` which builds the config."""
        super().__init__()
        self.cfg = cfg = config_or_fields(
            MLPConfig, sizes, activation=activation, activate_output=activate_output, bias=bias
        )
        n = len(cfg.sizes) - 1
        self.layers = nn.ModuleList(
            Layer(d_in, d_out, cfg.activation if (l < n - 1 or cfg.activate_output) else "identity", cfg.bias)
            for l, (d_in, d_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True))
        )

    def _check(self, x: Tensor, dim: int) -> None:
        d_in = self.cfg.sizes[0]
        if x.ndim not in (1, 2) or x.shape[dim] != d_in or not x.is_floating_point():
            want = f"[batch, {d_in}]" if dim == -1 else f"[{d_in}, batch]"
            raise ShapeError(
                f"MLP input: expected shape {want} (floating point), got {tuple(x.shape)} "
                f"(dtype {x.dtype}); cast with .float() or reshape to {want}"
            )

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        self._check(x, -1)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_columns(self, x: Float[Tensor, "d_in batch"]) -> Float[Tensor, "d_out batch"]:
        """The seed's column layout: ``x: [d_in, batch]`` -> ``[d_out, batch]`` (no hooks)."""
        self._check(x, 0)
        for layer in self.layers:
            x = layer.forward_columns(x)
        return x

    def to_torch(self) -> nn.Sequential:
        """An ``nn.Sequential`` of ``nn.Linear`` and activations with the same weights (copied)."""
        mods: list[nn.Module] = []
        for layer in self.layers:
            d_in, d_out = layer.W.shape
            lin = nn.Linear(d_in, d_out, bias=layer.b is not None)
            with torch.no_grad():
                lin.weight.copy_(layer.W.T)
                if layer.b is not None:
                    lin.bias.copy_(layer.b)
            mods += [lin, _TORCH_ACTIVATIONS[layer.activation]()]
        return nn.Sequential(*mods).to(self.layers[0].W.device)
