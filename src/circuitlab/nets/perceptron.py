"""The perceptron: one neuron, y = sigmoid(w . x + b).

Source: the seed notebook's ``Perceptron`` cell (``../shared/seed``), after Rosenblatt (1958).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.config import Config, check_bool, check_choice, check_int
from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule, HookPoint

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


@dataclass(frozen=True)
class PerceptronConfig(Config):
    """``d_in`` inputs; ``bias`` b or none (y = sigmoid(w . x)); ``dtype`` of w and ``bias_dtype`` of b
    (the seed's neuron is float16 w with a float32 b, so its output is float32)."""

    d_in: int
    bias: bool = True
    dtype: str = "float32"
    bias_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int(self, "d_in", low=1)
        check_bool(self, "bias")
        check_choice(self, "dtype", DTYPES)
        check_choice(self, "bias_dtype", DTYPES)


def _as_tensor(value: Tensor | Sequence[float] | float, dtype: torch.dtype) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().clone()
    return torch.atleast_1d(torch.tensor(value, dtype=dtype))


def sigmoid(z: Tensor) -> Tensor:
    """sigma(z) = 1 / (1 + exp(-z)), written as the seed writes it."""
    return 1 / (1 + torch.exp(-z))


def _config_of(w: Tensor, b: Tensor | None) -> PerceptronConfig:
    """The config that ``Perceptron(w, b)`` describes, after checking the shapes of w and b."""
    if w.ndim != 1 or not w.is_floating_point():
        raise ShapeError(
            f"Perceptron w: expected shape [n] (floating point), got {tuple(w.shape)} "
            f"(dtype {w.dtype}); pass a 1-D float tensor of weights"
        )
    if b is not None and b.numel() != 1:
        raise ShapeError(f"Perceptron b: expected shape [1] or a float, got {tuple(b.shape)}")
    b_dtype = b.dtype if b is not None and b.is_floating_point() else torch.float32
    names = {v: k for k, v in DTYPES.items()}
    return PerceptronConfig(
        w.shape[0], b is not None, names.get(w.dtype, str(w.dtype)), names.get(b_dtype, str(b_dtype))
    )


class Perceptron(HookedModule):
    """One neuron: ``y = sigmoid(w . x + b)``.

    ``Perceptron(cfg)`` makes ``w: [d_in]`` and ``b: [1]`` uniform in +-1/sqrt(d_in) (as
    ``nn.Linear``); ``Perceptron(w, b)`` takes given weights and builds the config from them:
    ``w``: ``[n]`` weights (a tensor keeps its dtype; a list becomes ``dtype``), ``b``: the bias
    (a float becomes a ``[1]`` tensor in float32, as in the seed; None means no bias).
    ``forward(x)`` takes ``x: [n]`` (one input, output ``[1]`` like the seed's ``tensor([0.8176])``)
    or ``[batch, n]`` (output ``[batch]``). Hook points: ``hook_z`` (w . x + b) and ``hook_y``.

    The seed's cell, reproduced exactly by ``Perceptron.seed()``: ``w = [1, 0, 0, 0, 0]`` in
    float16 and ``b = [0.5]`` in float32 give ``sigmoid(1.5) = 0.8176`` for ``x1 = e_1`` and
    ``sigmoid(0.5) = 0.6225`` for ``x2 = e_3``. The float16 dot product is promoted to float32
    when the float32 bias is added, so the output is float32 like the seed's.

    Why the seed's ``torch.dot(w.T, x)`` is the same as ``torch.dot(w, x)``: ``.T`` reverses the
    order of a tensor's dimensions, and a 1-D tensor has only one, so ``w.T`` is ``w`` again (a
    new view of the same 5 numbers). There are no row or column vectors in 1-D; ``torch.dot``
    already computes sum_i w_i x_i. PyTorch warns that ``.T`` on a tensor that is not 2-D is
    deprecated (it will become an error); this class writes ``x @ w`` and has no ``.T``.
    """

    def __init__(
        self,
        w: PerceptronConfig | Tensor | Sequence[float],
        b: Tensor | float | None = 0.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if isinstance(w, PerceptronConfig):
            cfg = w
            bound = cfg.d_in**-0.5
            w_t = torch.empty(cfg.d_in, dtype=DTYPES[cfg.dtype]).uniform_(-bound, bound)
            b_t = torch.empty(1, dtype=DTYPES[cfg.bias_dtype]).uniform_(-bound, bound) if cfg.bias else None
        else:
            w_t = _as_tensor(w, dtype)
            b_t = None if b is None else _as_tensor(b, torch.float32)
            cfg = _config_of(w_t, b_t)
            b_t = None if b_t is None else b_t.reshape(1).to(DTYPES[cfg.bias_dtype])
        self.cfg = cfg
        self.w = nn.Parameter(w_t)
        self.b = None if b_t is None else nn.Parameter(b_t)
        self.hook_z = HookPoint()
        self.hook_y = HookPoint()

    @classmethod
    def seed(cls) -> Perceptron:
        """The seed notebook's neuron: w = [1, 0, 0, 0, 0] (float16), b = [0.5] (float32)."""
        return cls(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16), torch.tensor([0.5]))

    @property
    def n_inputs(self) -> int:
        return self.cfg.d_in

    def forward(self, x: Float[Tensor, "*batch n"]) -> Float[Tensor, "..."]:
        """``y = sigmoid(w . x + b)`` for ``x: [n]`` -> ``[1]`` or ``x: [batch, n]`` -> ``[batch]``."""
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_inputs or not x.is_floating_point():
            raise ShapeError(
                f"Perceptron input: expected shape [{self.n_inputs}] or [batch, {self.n_inputs}] "
                f"(floating point), got {tuple(x.shape)} (dtype {x.dtype}); "
                "w and x must have the same length"
            )
        z = torch.atleast_1d(x.to(self.w.dtype) @ self.w)  # one input: [1], as with a bias
        z = self.hook_z(z if self.b is None else z + self.b)
        return self.hook_y(sigmoid(z))
